"""The canonical dataset: one cleaned, typed frame plus metadata; Arrow bytes for Redis."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from actions.tpr.columns import AGES, INDICATORS
from actions.tpr.errors import TPRDataError
from actions.tpr.names import clean_categorical, factorize, is_total, normalise_level
from actions.tpr.reader import RawTable, read_source, read_table

LOCATIONS = ("state", "lga", "ward", "facility")
LEVEL_CATEGORIES = ("primary", "secondary", "tertiary", "unknown")
_META_KEY = b"tpr_meta"
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass
class Arrays:
    """Precomputed per-row numbers so that a recompute is a few numpy sums on a slice.

    `tests`/`positives` are the counted figures (0 where the pair is not counted) with shape
    (rows, 2 methods, 3 ages); `invalid` flags the excluded pairs.
    """

    tests: np.ndarray
    positives: np.ndarray
    invalid: np.ndarray
    reported: np.ndarray  # tested cell not blank, (rows, 2, 3)
    ward_id: np.ndarray
    facility_id: np.ndarray
    state_bounds: dict[str, tuple[int, int]]
    level_code: np.ndarray
    periodcode: np.ndarray
    ward_lga: np.ndarray  # per ward id: cleaned LGA name
    ward_name: np.ndarray  # per ward id: cleaned ward name
    ward_lga_code: np.ndarray  # per ward id: LGA category code (for LGA totals)
    opd: np.ndarray | None  # outpatient attendance, NaN when blank


@dataclass
class Dataset:
    """A loaded file: `frame` (canonical columns, sorted by state) and `meta` (JSON-able)."""

    frame: pd.DataFrame
    meta: dict[str, Any]
    _arrays: Arrays | None = field(default=None, repr=False, compare=False)

    @property
    def states(self) -> list[str]:
        """Cleaned state names in the file, alphabetical."""
        return list(self.arrays.state_bounds)

    @property
    def arrays(self) -> Arrays:
        if self._arrays is None:
            self._arrays = _build_arrays(self.frame)
        return self._arrays

    def to_bytes(self) -> bytes:
        """Arrow IPC stream bytes with `meta` in the schema metadata."""
        table = pa.Table.from_pandas(self.frame, preserve_index=False)
        metadata = dict(table.schema.metadata or {})
        metadata[_META_KEY] = json.dumps(self.meta).encode()
        table = table.replace_schema_metadata(metadata)
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Dataset:
        """Restore a dataset saved by `to_bytes`."""
        try:
            table = pa.ipc.open_stream(io.BytesIO(data)).read_all()
        except (pa.ArrowInvalid, OSError) as error:
            raise TPRDataError(
                "The stored dataset is damaged; please upload the file again."
            ) from error
        meta = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
        frame = table.to_pandas()
        return cls(frame=frame, meta=meta)


def load_dataset(source: str | Path | bytes | BinaryIO, filename: str | None = None) -> Dataset:
    """Read any NMEP layout into a Dataset; every failure is a TPRDataError."""
    data, name = read_source(source, filename)
    try:
        raw = read_table(data, name)
        return _canonicalise(raw, name)
    except TPRDataError:
        raise
    except MemoryError as error:
        raise TPRDataError("This file is too large to process in memory.") from error
    except Exception as error:  # noqa: BLE001 - a broken file must never crash the caller
        raise TPRDataError(
            "This file could not be read as an NMEP workbook: its content is not in the "
            "expected form. Check that it is the DHIS2/NMEP export and upload it again."
        ) from error


def _numeric(values: pd.Series) -> np.ndarray | pd.arrays.IntegerArray:
    """Numbers as nullable Int32 when whole (the usual case), else float64; text -> blank."""
    if values.dtype.kind == "f":
        numbers = values.to_numpy(dtype="float64", copy=True)
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    numbers[~np.isfinite(numbers)] = np.nan  # "inf" typed in a cell is no count either
    blank = np.isnan(numbers)
    filled = np.where(blank, 0.0, numbers)
    if np.array_equal(np.floor(filled), filled) and np.abs(filled).max(initial=0) < 2**31 - 1:
        return pd.arrays.IntegerArray(filled.astype(np.int32), blank)
    return numbers


def _periods(raw: dict[str, object], n_rows: int) -> tuple[pd.Categorical, np.ndarray]:
    """(period name, periodcode int32) from whichever period columns exist."""
    code = None
    if "periodcode" in raw:
        code = pd.to_numeric(pd.Series(_as_series(raw["periodcode"])), errors="coerce")
    names = None
    if "period" in raw:
        name_codes, uniques = factorize(raw["period"])
        stripped = np.array([str(u).strip() for u in uniques] + ["Unknown"], dtype=object)
        names = pd.Series(stripped[name_codes])
        if code is None or code.isna().all():
            parsed = pd.to_datetime(pd.Series(stripped), format="%B %Y", errors="coerce")
            per_unique = (parsed.dt.year * 100 + parsed.dt.month).to_numpy()
            code = pd.Series(per_unique[name_codes])
    if code is None:
        code = pd.Series(np.zeros(n_rows))
    codes = code.fillna(0).to_numpy().astype("int32")
    if names is None or (names == "Unknown").all():
        names = pd.Series(codes).map(
            lambda c: f"{MONTH_NAMES[c % 100 - 1]} {c // 100}" if 1 <= c % 100 <= 12 else "Unknown"
        )
    return pd.Categorical(names.astype(str)), codes


def _as_series(values: object) -> pd.Series:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return values.to_pandas()
    return pd.Series(values).reset_index(drop=True)


def _canonicalise(raw_table: RawTable, name: str) -> Dataset:
    raw = raw_table.columns
    n = raw_table.n_rows
    columns: dict[str, Any] = {}
    for field_name in LOCATIONS:
        if field_name in raw:
            columns[field_name] = clean_categorical(raw[field_name])
        else:  # no facility column: one nameless facility per ward
            columns[field_name] = pd.Categorical([""] * n)
    indicators = {ind: _numeric(_as_series(raw[ind])) for ind in INDICATORS}
    has_figures = np.logical_or.reduce([~np.asarray(pd.isna(v)) for v in indicators.values()])

    present = [f for f in LOCATIONS if f in raw]
    is_blank = {f: np.asarray(columns[f].codes) < 0 for f in LOCATIONS}
    totals_flag = np.zeros(n, dtype=bool)
    for f in present:
        categories = columns[f].categories
        total_codes = [i for i, c in enumerate(categories) if is_total(c)]
        if total_codes:
            totals_flag |= np.isin(np.asarray(columns[f].codes), total_codes)
    country_blank = np.ones(n, dtype=bool)
    if "country" in raw:
        country_codes, country_uniques = factorize(raw["country"])
        flags = np.array([is_total(str(u)) for u in country_uniques] + [False], dtype=bool)
        totals_flag |= flags[country_codes]
        blank = np.array([not str(u).strip() for u in country_uniques] + [True], dtype=bool)
        country_blank = blank[country_codes]
    all_blank_location = np.logical_and.reduce([is_blank[f] for f in present])
    empty_row = all_blank_location & ~has_figures & country_blank
    totals_flag |= all_blank_location & has_figures
    totals_flag &= ~empty_row
    without_ward = ~totals_flag & ~empty_row & (is_blank["ward"] | is_blank["state"])
    keep = ~(totals_flag | empty_row | without_ward)

    rows_without_ward_by_state: dict[str, int] = {}
    if without_ward.any():
        counts = pd.Series(columns["state"][without_ward]).value_counts()
        rows_without_ward_by_state = {str(k): int(v) for k, v in counts.items() if v}

    has_level = "level" in raw
    if has_level:
        level_codes, level_uniques = factorize(raw["level"])
        mapped = np.array([normalise_level(u) for u in level_uniques] + ["unknown"], dtype=object)
        level = pd.Categorical(mapped[level_codes], categories=LEVEL_CATEGORIES)
    else:
        level = pd.Categorical.from_codes(
            np.full(n, LEVEL_CATEGORIES.index("unknown")), categories=LEVEL_CATEGORIES
        )
    columns["level"] = level
    period_names, period_codes = _periods(raw, n)
    columns["period"] = period_names
    columns["periodcode"] = period_codes
    columns.update(indicators)
    has_opd = "opd" in raw
    if has_opd:
        columns["opd"] = _numeric(_as_series(raw["opd"]))

    kept = np.flatnonzero(keep)
    if not len(kept):
        raise TPRDataError(
            "The file has the expected columns but no usable rows: every row lacks a state or "
            "ward, or is a totals row."
        )
    # Sorting by state once lets a recompute slice one state instead of filtering 340k rows.
    state_codes = np.asarray(columns["state"].codes)[kept]
    rows = kept[np.argsort(state_codes, kind="stable")]
    frame = pd.DataFrame(
        {
            name: (values.take(rows) if hasattr(values, "take") else values[rows])
            for name, values in columns.items()
        }  # fmt: skip
    )
    for f in (*LOCATIONS, "period"):
        frame[f] = frame[f].cat.remove_unused_categories()
    period_order = (
        frame[["period", "periodcode"]].drop_duplicates().sort_values("periodcode")["period"]
    )
    frame["period"] = frame["period"].cat.reorder_categories(
        list(dict.fromkeys(period_order.astype(str)))
    )
    meta = {
        "layout": raw_table.match.layout,
        "source_name": name,
        "sheet": raw_table.sheet,
        "has_facility_level": bool(has_level),
        "has_opd": bool(has_opd),
        "totals_rows_dropped": int(totals_flag.sum()),
        "rows_without_ward": int(without_ward.sum()),
        "rows_without_ward_by_state": rows_without_ward_by_state,
    }
    return Dataset(frame=frame, meta=meta)


def category_names(column: pd.Series) -> np.ndarray:
    """A categorical column's names, indexable by its codes: code -1 (a blank cell) gives ``."""
    return np.append(np.asarray(column.cat.categories, dtype=object), "").astype(object)


def _build_arrays(frame: pd.DataFrame) -> Arrays:
    n = len(frame)
    tests = np.zeros((n, 2, 3), dtype=np.int64)
    positives = np.zeros((n, 2, 3), dtype=np.int64)
    invalid = np.zeros((n, 2, 3), dtype=bool)
    reported = np.zeros((n, 2, 3), dtype=bool)
    tests_f = np.zeros((n, 2, 3), dtype=np.float64)
    positives_f = np.zeros((n, 2, 3), dtype=np.float64)
    for m, method in enumerate(("rdt", "micro")):
        for a, age in enumerate(AGES):
            t = frame[f"{method}_tested_{age}"].to_numpy(dtype="float64", na_value=np.nan)
            p = frame[f"{method}_positive_{age}"].to_numpy(dtype="float64", na_value=np.nan)
            t_blank = np.isnan(t)
            p_blank = np.isnan(p)
            t0 = np.where(t_blank, 0.0, t)
            p0 = np.where(p_blank, 0.0, p)
            counted = (t0 > 0) & (p_blank | ((p0 >= 0) & (p0 <= t0)))
            nothing = (t0 == 0) & (p0 == 0)
            invalid[:, m, a] = ~counted & ~nothing
            tests_f[:, m, a] = np.where(counted, t0, 0.0)
            positives_f[:, m, a] = np.where(counted, p0, 0.0)
            reported[:, m, a] = ~t_blank
    if np.all(np.floor(tests_f) == tests_f) and np.all(np.floor(positives_f) == positives_f):
        tests, positives = tests_f.astype(np.int64), positives_f.astype(np.int64)
    else:
        tests, positives = tests_f, positives_f
    # Ward and facility ids in (state, LGA, ward[, facility]) order, from category codes.
    key = np.zeros(n, dtype=np.int64)
    for column in ("state", "lga", "ward"):
        key = key * (len(frame[column].cat.categories) + 1) + frame[column].cat.codes.to_numpy()
    _, ward_ids = np.unique(key, return_inverse=True)
    facility_codes = frame["facility"].cat.codes.to_numpy().astype(np.int64)
    facility_key = key * (len(frame["facility"].cat.categories) + 1) + facility_codes
    _, facility_ids = np.unique(facility_key, return_inverse=True)
    state_codes = frame["state"].cat.codes.to_numpy()
    bounds: dict[str, tuple[int, int]] = {}
    if n:
        change = np.flatnonzero(np.diff(state_codes)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [n]])
        for start, end in zip(starts, ends, strict=True):
            bounds[frame["state"].cat.categories[state_codes[start]]] = (int(start), int(end))
    ward_ids = ward_ids.astype(np.int64)
    _, first_rows = np.unique(ward_ids, return_index=True)
    lga_codes = frame["lga"].cat.codes.to_numpy()[first_rows]
    ward_codes = frame["ward"].cat.codes.to_numpy()[first_rows]
    lga_names = category_names(frame["lga"])[lga_codes]
    ward_names = category_names(frame["ward"])[ward_codes]
    opd = frame["opd"].to_numpy(dtype="float64", na_value=np.nan) if "opd" in frame else None
    return Arrays(
        tests=tests,
        positives=positives,
        invalid=invalid,
        reported=reported,
        ward_id=ward_ids,
        facility_id=facility_ids.astype(np.int64),
        state_bounds=bounds,
        level_code=frame["level"].cat.codes.to_numpy(),
        periodcode=frame["periodcode"].to_numpy(),
        ward_lga=lga_names,
        ward_name=ward_names,
        ward_lga_code=lga_codes.astype(np.int64),
        opd=opd,
    )
