"""Column matching: find the location, period and 12 indicator columns by meaning."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

METHODS = ("rdt", "micro")
KINDS = ("tested", "positive")
AGES = ("u5", "o5", "pw")
INDICATORS = tuple(f"{m}_{k}_{a}" for m in METHODS for k in KINDS for a in AGES)

_METHOD_WORDS = {"rdt": "RDT", "micro": "microscopy"}
_KIND_WORDS = {"tested": "tested", "positive": "positive"}
_AGE_WORDS = {"u5": "under 5", "o5": "5 and over (excl. pregnant women)", "pw": "pregnant women"}

# The ≥ sign arrives mis-decoded in several ways; all of them mean "5 and over".
_GE = re.compile(r"(≥|>=|=>|â‰¥|â\x89¥|&ge;|\u2265)")
_DUPLICATE_SUFFIX = re.compile(r"[._]\d+$")
_SPACES = re.compile(r"\s+")

LOCATION_ALIASES: dict[str, tuple[str, ...]] = {
    "state": ("state", "orgunitlevel2", "statename"),
    "lga": ("lga", "orgunitlevel3", "lganame", "localgovernmentarea"),
    "ward": ("ward", "wardname", "orgunitlevel4"),
    "facility": (
        "healthfaccility",
        "healthfacility",
        "facility",
        "facilityname",
        "healthfacilityname",
        "orgunitlevel5",
    ),
    "level": ("level", "facilitylevel", "facilitytype", "levelofcare"),
    "period": ("periodname", "period", "month"),
    "periodcode": ("periodcode", "periodid"),
    "opd": ("outpatientattendance", "opdattendance", "opd"),
    "country": ("orgunitlevel1",),
}


def normalise_header(header: object) -> str:
    """Lower case, one space, ≥ repaired, DHIS2 duplicate suffix (`.1`, `_1`) removed."""
    text = _SPACES.sub(" ", str(header)).strip()
    text = _DUPLICATE_SUFFIX.sub("", text)
    text = _GE.sub("≥", text)
    return text.casefold()


def _compact(header: object) -> str:
    return re.sub(r"[^a-z0-9]", "", normalise_header(header))


def indicator_of(header: object) -> str | None:
    """`Persons tested positive for malaria by RDT <5yrs` -> `rdt_positive_u5`, else None."""
    text = normalise_header(header)
    if text.startswith("sum of") or "tested" not in text:
        return None
    if "rdt" in text:
        method = "rdt"
    elif "microscop" in text:
        method = "micro"
    else:
        return None
    kind = "positive" if "positive" in text else "tested"
    if "≥" in text or "excl" in text or "5+" in text or "over 5" in text or "above 5" in text:
        age = "o5"
    elif "<5" in text or "< 5" in text or "under 5" in text or "u5" in text:
        age = "u5"
    elif "preg" in text or "pw" in text:
        age = "pw"
    else:
        return None
    return f"{method}_{kind}_{age}"


def describe_indicator(name: str) -> str:
    """Human words for an indicator key, for error messages."""
    method, kind, age = name.split("_")
    return f"{_KIND_WORDS[kind]} by {_METHOD_WORDS[method]}, {_AGE_WORDS[age]}"


@dataclass
class ColumnMatch:
    """Which original column (by position) holds each canonical field."""

    indicators: dict[str, int] = field(default_factory=dict)
    locations: dict[str, int] = field(default_factory=dict)
    headers: list[str] = field(default_factory=list)

    @property
    def missing_indicators(self) -> list[str]:
        return [name for name in INDICATORS if name not in self.indicators]

    @property
    def layout(self) -> str:
        compact = {_compact(self.headers[i]) for i in self.locations.values()}
        if compact & {"orgunitlevel2", "orgunitlevel3", "orgunitlevel4"}:
            return "B"
        if "wardname" in compact or "healthfacility" in compact:
            return "C"
        return "A"


def match_columns(headers: list[object]) -> ColumnMatch:
    """Match headers by meaning; the first column wins when DHIS2 duplicated one."""
    match = ColumnMatch(headers=[str(h) for h in headers])
    for position, header in enumerate(headers):
        if header is None:
            continue
        indicator = indicator_of(header)
        if indicator is not None:
            match.indicators.setdefault(indicator, position)
            continue
        compact = _compact(header)
        for field_name, aliases in LOCATION_ALIASES.items():
            if compact in aliases:
                match.locations.setdefault(field_name, position)
                break
    return match


def header_score(cells: list[object]) -> int:
    """How much a row looks like the header of the data table (indicators weigh most)."""
    match = match_columns([c if c is not None else "" for c in cells])
    return 3 * len(match.indicators) + len(match.locations)


def missing_groups_sentence(missing: list[str]) -> str:
    """Name the missing indicator groups (method × kind) in plain words."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name in missing:
        method, kind, age = name.split("_")
        groups.setdefault((method, kind), []).append(_AGE_WORDS[age])
    parts = []
    for (method, kind), ages in groups.items():
        label = "tested" if kind == "tested" else "tested positive"
        who = "all age groups" if len(ages) == 3 else ", ".join(ages)
        parts.append(f"persons {label} by {_METHOD_WORDS[method]} ({who})")
    return "; ".join(parts)
