"""Loose reading of the questions after the results: which LGA or ward, how many wards, which
way to rank, and what a comparison changes.

Pure Python (plus rapidfuzz), so the held-out NLU test and the actions resolve the same way.
Names are matched against the dataset's own LGA and ward names of the state in force.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from rapidfuzz import fuzz, process

from actions.conversation.answer_matching import normalise
from actions.conversation.refinement_matching import (
    PeriodChoice,
    PeriodOutside,
    mentions_period,
    resolve_period,
)

DEFAULT_RANK_COUNT = 10
MAX_RANK_COUNT = 200
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100,
}  # fmt: skip
_BOTTOM = re.compile(r"\b(bottom|lowest|least|best|smallest|fewest|minimum|low)\b")
_TOP = re.compile(r"\b(top|highest|worst|most|largest|maximum|high|hotspots?)\b")
# Words that never name a place; dropped before fuzzy matching.
_NOT_A_PLACE = re.compile(
    r"\b(show|me|the|wards?|in|of|for|lga|lgas|local|government|area|tell|about|details?|"
    r"what|how|is|please|pls|list|give|figures?|by|ward|breakdown|drill|into|open|zoom|info|"
    r"on|doing|tpr|under|which|are|more|results?)\b"
)
# Ordered mentions of each comparison dimension: (slot, value, pattern).
_COMPARE_PATTERNS: list[tuple[str, str, re.Pattern[str]]] = [
    ("method", "microscopy", re.compile(r"\b(microscop\w*|slides?|mic)\b")),
    ("method", "combined", re.compile(r"\b(combined?|both methods|pooled)\b")),
    ("method", "rdt", re.compile(r"\b(rdts?|rapid tests?)\b")),
    ("method", "max", re.compile(r"\b(max|higher (of the )?methods?|default method)\b")),
    ("age_group", "pw", re.compile(r"\b(pregnan\w*|pw|anc|antenatal)\b")),
    (
        "age_group",
        "u5",
        re.compile(r"(\bunder[\s-]*(5|fives?)\b|\bu[\s-]?5s?\b|<\s*5|\bchild(ren)?\b|\bkids\b)"),
    ),
    (
        "age_group",
        "o5",
        re.compile(r"(\bover[\s-]*(5|fives?)\b|\bo[\s-]?5s?\b|>=?\s*5|\badults?\b)"),
    ),
    ("age_group", "all", re.compile(r"\b(all ages?|all age groups?|everyone|every age)\b")),
    ("facility_level", "primary", re.compile(r"\b(primary|phcs?)\b")),
    ("facility_level", "secondary", re.compile(r"\b(secondary|general hospitals?)\b")),
    ("facility_level", "tertiary", re.compile(r"\b(tertiary|teaching hospitals?)\b")),
    (
        "facility_level",
        "all",
        re.compile(r"\b(all|every|any)\s+(the\s+)?(health\s+)?(facilit\w*|levels?|hospitals?)\b"),
    ),
]
COMPARE_SLOTS = ("facility_level", "age_group", "method")


def rank_request(
    text: str, direction_hints: Iterable[str] = (), number_hints: Iterable[str] = ()
) -> tuple[str, int]:
    """("top" | "bottom", how many wards): `bottom 10`, `lowest wards`, `the worst five`."""
    direction = None
    for hint in [*direction_hints, text]:
        cleaned = normalise(str(hint))
        if _BOTTOM.search(cleaned):
            direction = "bottom"
            break
        if _TOP.search(cleaned):
            direction = "top"
            break
    number = None
    for hint in [*number_hints, text]:
        number = _number_in(normalise(str(hint)))
        if number:
            break
    count = min(max(number or DEFAULT_RANK_COUNT, 1), MAX_RANK_COUNT)
    return direction or "top", count


def _number_in(cleaned: str) -> int | None:
    digits = re.search(r"\b(\d{1,4})\b", cleaned)
    if digits:
        return int(digits.group(1))
    for word in cleaned.split():
        if word in _NUMBER_WORDS:
            return _NUMBER_WORDS[word]
    return None


def match_places(text: str, hints: Iterable[str], names: Sequence[str]) -> list[str]:
    """The names of `names` (the state's LGAs or wards) that the message means.

    Hints (NLU entities, button payloads) first, then names found whole in the text, then one
    clear fuzzy winner (a misspelling like `Kwkokogu`). Several results mean the text names
    several (or an ambiguous fuzzy match); empty means none.
    """
    by_key: dict[str, list[str]] = {}
    for name in names:
        by_key.setdefault(normalise(name), []).append(name)
    for hint in hints:
        key = normalise(str(hint))
        if key in by_key:
            return list(dict.fromkeys(by_key[key]))
    for hint in hints:
        found = _fuzzy(normalise(str(hint)), by_key)
        if found:
            return found
    cleaned = normalise(text)
    whole = [key for key in by_key if re.search(rf"(?<!\w){re.escape(key)}(?!\w)", cleaned)]
    # the longest names win: `Yola North` over a ward called `Yola`
    whole = [k for k in whole if not any(k != o and k in o for o in whole)]
    if whole:
        return list(dict.fromkeys(n for k in whole for n in by_key[k]))
    core = re.sub(r"\s+", " ", _NOT_A_PLACE.sub(" ", cleaned)).strip()
    return _fuzzy(core, by_key) if core else []


def _fuzzy(text: str, by_key: dict[str, list[str]], cutoff: float = 75.0) -> list[str]:
    if len(text) < 3 or not by_key:
        return []
    scored = process.extract(text, list(by_key), scorer=fuzz.ratio, limit=2)
    if not scored or scored[0][1] < cutoff:
        return []
    if len(scored) > 1 and scored[1][1] >= scored[0][1] - 5:
        return []
    return list(by_key[scored[0][0]])


def compare_mentions(text: str) -> list[tuple[str, str]]:
    """(slot, value) named in the text, in the order they appear; one per distinct value."""
    cleaned = normalise(text)
    found: list[tuple[int, str, str]] = []
    taken: list[tuple[int, int]] = []
    # longer patterns first, so `all facilities` is not also read as a bare level word
    for slot, value, pattern in sorted(_COMPARE_PATTERNS, key=lambda p: p[1] != "all"):
        for match in pattern.finditer(cleaned):
            span = match.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            taken.append(span)
            found.append((span[0], slot, value))
    found.sort()
    ordered: list[tuple[str, str]] = []
    for _, slot, value in found:
        if (slot, value) not in ordered:
            ordered.append((slot, value))
    return ordered


def comparison_sides(
    text: str, in_force: dict[str, str], hints: dict[str, list[str]] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Selections A and B of a comparison: A is the selection in force, or the first value
    named where two values of one kind are named (`compare RDT and microscopy`); B is A with
    the named change(s). Returns the changes for A and for B, each {slot: value}."""
    mentions = compare_mentions(text)
    if not mentions and hints:
        mentions = [(slot, str(v)) for slot in COMPARE_SLOTS for v in hints.get(slot, [])]
    a_changes: dict[str, str] = {}
    b_changes: dict[str, str] = {}
    for slot in COMPARE_SLOTS:
        values = [value for s, value in mentions if s == slot]
        if len(values) >= 2:
            a_changes[slot], b_changes[slot] = values[0], values[1]
        elif len(values) == 1 and values[0] != in_force.get(slot):
            b_changes[slot] = values[0]
    return a_changes, b_changes


# --- comparison periods -----------------------------------------------------------------------

# What joins side A to side B: `compare 2024 with the last 3 months`, `2023 vs 2024`. A range's
# own `to` (`January to June`) never splits.
_SIDE_JOIN = re.compile(r"\b(?:with|against|versus|vs\.?|and|next to|side by side)\b")


def comparison_periods(
    text: str, months: Sequence[int]
) -> tuple[PeriodChoice | None, PeriodChoice | None] | PeriodOutside:
    """The periods of sides A and B of a comparison, against the file's month codes, parsed by
    `refinement_matching.resolve_period` (the refinements' parser). A period named only after
    the joining word, or alone, is B's (`compare this with March to May`); one before it is
    A's (`compare 2024 with the last 3 months`). None: that side keeps the period in force.
    A period outside the file is a PeriodOutside: no comparison."""
    parts = [p for p in _SIDE_JOIN.split(normalise(text), maxsplit=1)]
    named = [p if mentions_period(p) else None for p in parts]
    if not any(named):
        return None, None
    if len(parts) == 1 or named[0] is None or named[-1] is None:
        sides: list[str | None] = [None, next(p for p in named if p)]
    else:
        sides = [named[0], named[-1]]
    resolved: list[PeriodChoice | None] = []
    for side in sides:
        period = resolve_period(side, months) if side else None
        if isinstance(period, PeriodOutside):
            return period
        resolved.append(period)
    return resolved[0], resolved[1]


def period_changes(period: PeriodChoice | None, in_force: dict[str, Any]) -> dict[str, Any]:
    """{period_from, period_to} for a side whose period differs from the one in force."""
    if period is None:
        return {}
    if (period.start, period.end) == (in_force.get("period_from"), in_force.get("period_to")):
        return {}
    return {"period_from": period.start, "period_to": period.end}
