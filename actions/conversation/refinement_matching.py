"""Loose wording -> refinement values: the method, and a period range resolved against the months
the file itself holds (conversation.md, "Refinements: method and period").

Periods are parsed from the message text rather than extracted by the CRF: ranges ("February to
May 2024"), relative spans ("the last 3 months") and half-open ranges ("from March") only make
sense against the dataset's own months, which only the action knows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

METHOD_ORDER = ("max", "rdt", "microscopy", "combined")
DEFAULT_METHOD = "max"
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

_METHOD_PATTERNS = [
    ("max", re.compile(r"\b(default|max(imum)?|higher|highest|reset|back to normal|usual)\b")),
    ("combined", re.compile(r"\b(combin\w*|both|pool\w*|together|sum|add(ed)? up|merge\w*)\b")),
    ("microscopy", re.compile(r"\b(micro\w*|slides?|blood films?|microscop\w*)\b")),
    ("rdt", re.compile(r"\b(rdts?|rapid( diagnostic)?( tests?)?|rdt-only)\b")),
]
_METHOD_WORDS = {
    "max": "max",
    "rdt": "rdt",
    "microscopy": "microscopy",
    "combined": "combined",
    "combine": "combined",
}


def mentioned_method(text: str, hints: Iterable[str] = ()) -> str | None:
    """The method a message names (canonical), from the NLU entity first, then the words."""
    for hint in hints:
        value = _METHOD_WORDS.get(str(hint).strip().casefold()) or _method_from_words(str(hint))
        if value:
            return value
    return _method_from_words(text)


def _method_from_words(text: str) -> str | None:
    cleaned = text.casefold()
    # "combine RDT and microscopy" names both methods: the verb decides.
    for value, pattern in _METHOD_PATTERNS:
        if pattern.search(cleaned):
            return value
    return None


# --- periods ---------------------------------------------------------------------------------

_MONTH_KEYS = {name.casefold(): i + 1 for i, name in enumerate(MONTH_NAMES)}
_MONTH_KEYS.update({name[:3].casefold(): i + 1 for i, name in enumerate(MONTH_NAMES)})
_MONTH_KEYS["sept"] = 9
_MONTH_WORD = "|".join(sorted(_MONTH_KEYS, key=len, reverse=True))
_TOKEN = re.compile(
    rf"\b(?P<code>(?:19|20)\d{{2}}(?:0[1-9]|1[0-2]))\b"
    rf"|\b(?P<month>{_MONTH_WORD})\b\.?(?:\s*,?\s*(?P<myear>(?:19|20)\d{{2}})\b)?"
    rf"|\b(?P<year>(?:19|20)\d{{2}})\b"
)
_ALL = re.compile(
    r"\b(all|whole|entire|full|every)\b.*\b(periods?|months?|years?|data|range|file|time)\b"
    r"|\b(clear|reset|remove|drop)\b.*\b(period|months?|range|filter|dates?)\b"
    r"|\ball time\b|\bno period\b"
)
_LAST = re.compile(
    r"\b(last|past|latest|recent|final)\s+(?P<n>\d+|one|two|three|four|five|six|seven|eight|"
    r"nine|ten|eleven|twelve)?\s*(?P<unit>months?|years?|quarters?)\b"
)
_MODAL_MAY = re.compile(r"\bmay (i|we|you)\b")
_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_FROM = re.compile(r"\b(from|since|starting|start|after|beginning|onwards?)\b")
_UNTIL = re.compile(r"\b(until|till|up to|upto|through|before|ending)\b")


@dataclass(frozen=True)
class PeriodChoice:
    """A resolved period: `start` / `end` are `YYYYMM` text, None = the file's first / last."""

    start: str | None
    end: str | None


@dataclass(frozen=True)
class PeriodOutside:
    """The period named lies (partly) outside the file, or holds none of its months."""

    named: str


def month_label(code: int | str | None) -> str:
    """202402 -> `February 2024`."""
    value = int(code or 0)
    return f"{MONTH_NAMES[value % 100 - 1]} {value // 100}"


def mentions_period(text: str) -> bool:
    """Whether a message names a period at all (a month, a year, "last N months", "all periods")."""
    cleaned = _MODAL_MAY.sub(" ", text.casefold())
    return bool(_TOKEN.search(cleaned) or _LAST.search(cleaned) or _ALL.search(cleaned))


def resolve_period(text: str, months: Sequence[int]) -> PeriodChoice | PeriodOutside | None:
    """The period a message names, against the file's sorted month codes; None: none named.

    `2024 only` -> the file's months of 2024; `the last 3 months` -> the last three month codes
    the file holds; `from March` -> the latest March of the file onwards; `February to May
    2024` -> 202402..202405; `all periods` -> both sides cleared. A range reaching outside the
    file's first..last month, or holding none of its months, is a PeriodOutside.
    """
    cleaned = _MODAL_MAY.sub(" ", text.casefold())
    months = sorted(int(m) for m in months)
    if not months:
        return None
    if _ALL.search(cleaned) and not _TOKEN.search(cleaned):
        return PeriodChoice(None, None)
    last = _LAST.search(cleaned)
    if last:
        raw = last.group("n") or "1"
        n = int(raw) if raw.isdigit() else _NUMBERS[raw]
        unit = last.group("unit")
        if unit.startswith("year"):
            years = sorted({m // 100 for m in months})[-n:]
            span = [m for m in months if m // 100 in years]
        else:
            span = months[-n * (3 if unit.startswith("quarter") else 1) :]
        return PeriodChoice(str(span[0]), str(span[-1]))
    tokens = list(_TOKEN.finditer(cleaned))
    if not tokens:
        return None
    points = [_point(t) for t in tokens]
    if len(points) == 1:
        point, token = points[0], tokens[0]
        before = cleaned[: token.start()]
        if point[0] is None:  # a year alone: that year's months (half-open with from/until)
            year = point[1]
            in_year = [m for m in months if m // 100 == year]
            if not in_year:
                return PeriodOutside(str(year))
            if _FROM.search(before):
                return PeriodChoice(str(in_year[0]), None)
            if _UNTIL.search(before):
                return PeriodChoice(None, str(in_year[-1]))
            return PeriodChoice(str(in_year[0]), str(in_year[-1]))
        code = _place(point, months, latest=True)
        if code is None:
            return PeriodOutside(_shown(point))
        if _FROM.search(before) or re.search(r"\bonwards?\b", cleaned[token.end() :]):
            return _checked(code, None, months, _shown(point))
        if _UNTIL.search(before):
            return _checked(None, code, months, _shown(point))
        return _checked(code, code, months, _shown(point))
    first, second = points[0], points[-1]
    if first[0] is None and second[0] is None:  # "2023 to 2024"
        lo, hi = sorted((first[1], second[1]))
        return _checked(lo * 100 + 1, hi * 100 + 12, months, f"{lo} to {hi}", clamp=True)
    if first[0] is None:
        first = (1, first[1])
    if second[0] is None:
        second = (12, second[1])
    if first[1] is None and second[1] is not None:
        first = (first[0], second[1] if first[0] <= second[0] else second[1] - 1)
    if second[1] is None and first[1] is not None:
        second = (second[0], first[1] if second[0] >= first[0] else first[1] + 1)
    named = f"{_shown(first)} to {_shown(second)}"
    if first[1] is None:  # neither has a year: the latest such span in the file
        end = _place(second, months, latest=True)
        if end is None:
            return PeriodOutside(named)
        year = end // 100 if first[0] <= second[0] else end // 100 - 1
        return _checked(year * 100 + first[0], end, months, named)
    return _checked(first[1] * 100 + first[0], second[1] * 100 + second[0], months, named)


def _point(token: re.Match[str]) -> tuple[int | None, int | None]:
    """(month, year) of a token; either may be None."""
    if token.group("code"):
        code = int(token.group("code"))
        return code % 100, code // 100
    if token.group("month"):
        year = token.group("myear")
        return _MONTH_KEYS[token.group("month")], int(year) if year else None
    return None, int(token.group("year"))


def _shown(point: tuple[int | None, int | None]) -> str:
    month, year = point
    if month is None:
        return str(year)
    return MONTH_NAMES[month - 1] + (f" {year}" if year else "")


def _place(point: tuple[int | None, int | None], months: Sequence[int], latest: bool) -> int | None:
    """The month code of (month, year); a month without a year is its latest one in the file."""
    month, year = point
    if year is not None:
        return year * 100 + (month or 1)
    candidates = [m for m in months if m % 100 == month]
    if not candidates:
        return None
    return candidates[-1] if latest else candidates[0]


def _checked(
    start: int | None, end: int | None, months: Sequence[int], named: str, clamp: bool = False
) -> PeriodChoice | PeriodOutside:
    """A range inside the file's first..last month that holds at least one of its months."""
    first, last = months[0], months[-1]
    lo = start if start is not None else first
    hi = end if end is not None else last
    if lo > hi:
        lo, hi = hi, lo
        start, end = end, start
    if clamp:
        held = [m for m in months if lo <= m <= hi]
        if not held:
            return PeriodOutside(named)
        return PeriodChoice(str(held[0]), str(held[-1]))
    if lo < first or hi > last or not any(lo <= m <= hi for m in months):
        return PeriodOutside(named)
    return PeriodChoice(
        str(start) if start is not None else None, str(end) if end is not None else None
    )


def years_named(text: str) -> list[int]:
    """The distinct years a message names, in order ("compare 2023 and 2024" -> [2023, 2024])."""
    found: list[int] = []
    for token in _TOKEN.finditer(text.casefold()):
        year = _point(token)[1]
        if year is not None and year not in found:
            found.append(year)
    return found
