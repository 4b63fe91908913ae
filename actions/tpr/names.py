"""Name cleaning: DHIS2 prefixes/suffixes off, spacing collapsed, facility levels normalised."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_PREFIX = re.compile(r"^[a-z]{2}\s+(?=\S)")
_SUFFIX = re.compile(r"\s+(state|local\s+government\s+area|ward)$", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_TOTAL = re.compile(r"^(grand\s+)?totals?$", re.IGNORECASE)

LEVELS = ("primary", "secondary", "tertiary")


def clean_name(value: object) -> str:
    """`ad Fufore Local Government Area` -> `Fufore`; blank or missing -> ``.

    The two-letter lowercase prefix is the DHIS2 state code; the suffix repeats what the column
    already says. Removing both makes names match what analysts type.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = _SPACES.sub(" ", str(value)).strip()
    text = _PREFIX.sub("", text)
    cleaned = _SUFFIX.sub("", text).strip()
    # "Ward" alone (or "State") is a name, not a suffix: keep it rather than returning "".
    return cleaned or text


def name_key(value: str) -> str:
    """Comparison key: names that differ only in case or spacing are the same place."""
    return _SPACES.sub(" ", value).strip().casefold()


def is_total(value: str) -> bool:
    """True for the location text the pivot export puts on its totals row."""
    return bool(_TOTAL.match(value.strip()))


def normalise_level(value: object) -> str:
    """`Primary Health Facility`, `primary`, `PRIMARY` -> `primary`; anything else -> `unknown`."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "unknown"
    text = str(value).casefold()
    for level in LEVELS:
        if level in text:
            return level
    return "unknown"


def clean_categorical(values: pd.Series, cleaner=clean_name) -> pd.Categorical:
    """Clean a text column through its distinct values only (fast on 340k rows).

    Spellings that differ only in case or spacing collapse into one category, shown as the
    first spelling met in the file.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    cleaned = [cleaner(u) for u in uniques]
    display_for_key: dict[str, str] = {}
    for text in cleaned:
        display_for_key.setdefault(name_key(text), text)
    displays = [display_for_key[name_key(text)] for text in cleaned]
    categories = sorted({d for d in displays if d}, key=name_key)
    position = {name: i for i, name in enumerate(categories)}
    lookup = np.array([position.get(d, -1) for d in displays] + [-1], dtype=np.int32)
    new_codes = lookup[codes]  # code -1 (missing) indexes the trailing -1
    return pd.Categorical.from_codes(new_codes, categories=categories)
