"""Name cleaning: DHIS2 prefixes/suffixes off, spacing collapsed, facility levels normalised."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_SUFFIXES = (" local government area", " state", " ward")
_TOTAL = re.compile(r"^(grand\s+)?totals?$", re.IGNORECASE)

LEVELS = ("primary", "secondary", "tertiary")


def clean_name(value: object) -> str:
    """`ad Fufore Local Government Area` -> `Fufore`; blank or missing -> ``.

    The two-letter lowercase prefix is the DHIS2 state code; the suffix repeats what the column
    already says. Removing both makes names match what analysts type. (Plain string operations,
    not regexes: this runs on every distinct name of a national file.)
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = " ".join(str(value).split())
    head = text[:2]
    if len(text) > 3 and text[2] == " " and head.isascii() and head.isalpha() and head.islower():
        text = text[3:]
    lowered = text.casefold()
    for suffix in _SUFFIXES:
        if lowered.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)].rstrip()
    return text


def name_key(value: str) -> str:
    """Comparison key: names that differ only in case or spacing are the same place."""
    return " ".join(value.split()).casefold()


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


def factorize(values: object) -> tuple[np.ndarray, list[object]]:
    """(codes with -1 for blank, distinct values) of a pandas Series or an Arrow array.

    Arrow columns are dictionary-encoded without ever building 340k Python strings.
    """
    if isinstance(values, pa.ChunkedArray | pa.Array):
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if not pa.types.is_dictionary(values.type):
            values = pc.dictionary_encode(values)
        codes = pc.fill_null(values.indices, -1).to_numpy(zero_copy_only=False)
        return codes.astype(np.int64), values.dictionary.to_pylist()
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, list(uniques)


def clean_categorical(values: object, cleaner=clean_name) -> pd.Categorical:
    """Clean a text column through its distinct values only (fast on 340k rows).

    Spellings that differ only in case or spacing collapse into one category, shown as the
    first spelling met in the file. Blank names become missing values.
    """
    codes, uniques = factorize(values)
    cleaned = [cleaner(u) for u in uniques]
    keys = [text.casefold() for text in cleaned]  # cleaned names have single spaces already
    display_for_key: dict[str, str] = {}
    for key, text in zip(keys, cleaned, strict=True):
        display_for_key.setdefault(key, text)
    displays = [display_for_key[key] for key in keys]
    categories = sorted({d for d in displays if d}, key=str.casefold)
    position = {name: i for i, name in enumerate(categories)}
    lookup = np.array([position.get(d, -1) for d in displays] + [-1], dtype=np.int32)
    new_codes = lookup[codes]  # code -1 (missing) indexes the trailing -1
    return pd.Categorical.from_codes(new_codes, categories=categories)
