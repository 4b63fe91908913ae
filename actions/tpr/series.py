"""Time: monthly and yearly series, year-on-year change and peak months (docs/tpr-method.md).

Everything here applies the ward rules of `calc.rates` to the sums of each (unit, period), on
the per-row arrays of one state's slice: a few `np.bincount` calls, no pandas group-by.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from actions.tpr.calc import (
    Selection,
    _row_mask,
    _validate,
    period_code,
    rates,
    resolve_state,
)
from actions.tpr.columns import AGES
from actions.tpr.dataset import MONTH_NAMES, Dataset
from actions.tpr.errors import TPRDataError

TREND_COLUMNS = ["period", "state", "lga", "ward", "tpr", "tested", "positive", "method"]
TREND_BY = ("month", "year")
TREND_UNITS = ("state", "lga", "ward")
YEAR_ON_YEAR_COLUMNS = [
    "state", "lga", "ward",
    "tpr_a", "tested_a", "method_a",
    "tpr_b", "tested_b", "method_b",
    "change", "status", "reason",
]  # fmt: skip
PEAK_COLUMNS = ["year", "state", "lga", "period", "tpr"]
STATUSES = ("worsened", "improved", "stable", "not comparable")
# A change is compared after rounding away float noise (100*P/T - 100*P'/T' is not exact).
_CHANGE_DECIMALS = 9


def month_label(code: int | str) -> str:
    """202401 -> `January 2024`; a year `2024` stays `2024`."""
    value = int(code)
    if value < 10000:
        return str(value)
    month = value % 100
    if not 1 <= month <= 12:
        return str(value)
    return f"{MONTH_NAMES[month - 1]} {value // 100}"


def _valid_months(codes: np.ndarray) -> np.ndarray:
    """Rows whose periodcode is a real month (`YYYYMM`); a file without periods has 0s."""
    month = codes % 100
    return (codes >= 100001) & (month >= 1) & (month <= 12)


def _months_present(codes: np.ndarray) -> np.ndarray:
    """Sorted distinct valid month codes of `codes`, by counting (cheaper than a sort)."""
    codes = codes[_valid_months(codes)]
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    lo = int(codes.min())
    counts = np.bincount(codes.astype(np.int64) - lo)
    return np.flatnonzero(counts).astype(np.int64) + lo


# The file's months, per periodcode array (an array is never changed after load). Keyed by id
# with a weak reference to check it is the same array: datasets come and go in the LRU.
_FILE_MONTHS: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def _file_months(dataset: Dataset) -> np.ndarray:
    """`_months_present` of the whole file, computed once per loaded dataset."""
    codes = dataset.arrays.periodcode
    entry = _FILE_MONTHS.get(id(codes))
    if entry is not None and entry[0]() is codes:
        return entry[1]
    months = _months_present(codes)
    # Worker threads share the cache: copy before scanning, and pop what may be gone already.
    for key, (ref, _) in list(_FILE_MONTHS.items()):
        if ref() is None:
            _FILE_MONTHS.pop(key, None)
    _FILE_MONTHS[id(codes)] = (weakref.ref(codes), months)
    return months


def years_covered(dataset: Dataset, state: str | None = None) -> list[int]:
    """Calendar years that rows of the file (or of `state`) mention, ascending."""
    if state is None:
        return sorted({int(code) // 100 for code in _file_months(dataset)})
    start, end = dataset.arrays.state_bounds[resolve_state(dataset, state)]
    return sorted(
        {int(code) // 100 for code in _months_present(dataset.arrays.periodcode[start:end])}
    )


def _age_sums(dataset: Dataset, age_group: str, start: int, end: int) -> tuple[np.ndarray, ...]:
    """Per-row (rdt tested, rdt positive, microscopy tested, microscopy positive) of the slice."""
    arrays = dataset.arrays
    if age_group == "all":  # three adds: much faster than .sum(axis=2) over a length-3 axis
        block_t, block_p = arrays.tests[start:end], arrays.positives[start:end]
        tests = block_t[:, :, 0] + block_t[:, :, 1] + block_t[:, :, 2]
        positives = block_p[:, :, 0] + block_p[:, :, 1] + block_p[:, :, 2]
    else:
        age = AGES.index(age_group)
        tests = arrays.tests[start:end, :, age]
        positives = arrays.positives[start:end, :, age]
    return tests[:, 0], positives[:, 0], tests[:, 1], positives[:, 1]


def _series_title(selection: Selection, first: str, last: str, by: str) -> str:
    span = f"{first} to {last}" if first != last else first
    return f"TPR by {by}: {selection.describe()}, {span}"


def trend(
    dataset: Dataset, selection: Selection, by: str = "month", unit: str = "state"
) -> pd.DataFrame:
    """The TPR of each (unit, period) of the selection, columns TREND_COLUMNS.

    Periods are the months (or calendar years) of the selection's range that any row of the
    file mentions; a month no row mentions is not in the series. Every unit of the state gets
    a row for every period; a unit without valid tests in a period has a blank `tpr` and
    method `none`. The method rule applies to each period's sums, so under `max` the method
    can change from one period to the next. `frame.attrs` holds `title`, `by`, `unit` and the
    selection (as a dict) for charts and exports.
    """
    by = str(by).strip().casefold()
    unit = str(unit).strip().casefold()
    if by not in TREND_BY:
        raise TPRDataError(f"'{by}' is not a period for a trend; choose month or year.")
    if unit not in TREND_UNITS:
        raise TPRDataError(f"'{unit}' is not a unit for a trend; choose state, lga or ward.")
    selection = _validate(dataset, selection)
    arrays = dataset.arrays
    start, end = arrays.state_bounds[selection.state]
    first, last = period_code(selection.period_from), period_code(selection.period_to)
    if first is not None and last is not None and first > last:
        raise TPRDataError(
            f"The period starts ({month_label(first)}) after it ends ({month_label(last)})."
        )

    # The periods of the series: the file's months inside the range.
    months = _file_months(dataset)
    if first is not None:
        months = months[months >= first]
    if last is not None:
        months = months[months <= last]
    if not len(months):
        if not len(_file_months(dataset)):
            raise TPRDataError("This file has no month column, so there is no trend to show.")
        raise TPRDataError(f"{selection.state} has no data in the period chosen for this file.")
    periods = np.unique(months // 100) if by == "year" else months

    # The rows: level and range as compute_tpr selects them (and the same refusals).
    codes = arrays.periodcode[start:end].astype(np.int64)
    mask = _row_mask(dataset, selection, start, end) & _valid_months(codes)
    row_period = np.searchsorted(periods, codes // 100 if by == "year" else codes)

    # Units: every ward (or LGA) of the state, in the order of the ward table.
    ward_ids = arrays.ward_id[start:end]
    first_ward = int(ward_ids.min())
    n_wards = int(ward_ids.max()) - first_ward + 1
    wards_slice = slice(first_ward, first_ward + n_wards)
    if unit == "ward":
        row_unit = ward_ids - first_ward
        n_units = n_wards
        unit_lga = arrays.ward_lga[wards_slice]
        unit_ward = arrays.ward_name[wards_slice]
    elif unit == "lga":
        lga_codes, ward_to_lga = np.unique(arrays.ward_lga_code[wards_slice], return_inverse=True)
        row_unit = ward_to_lga[ward_ids - first_ward]
        n_units = len(lga_codes)
        lga_names = np.asarray(dataset.frame["lga"].cat.categories, dtype=object)
        unit_lga = lga_names[lga_codes]
        unit_ward = np.full(n_units, "", dtype=object)
    else:
        row_unit = np.zeros(end - start, dtype=np.int64)
        n_units = 1
        unit_lga = np.array([""], dtype=object)
        unit_ward = np.array([""], dtype=object)

    n_periods = len(periods)
    cell = (row_unit.astype(np.int64) * n_periods + row_period)[mask]
    size = n_units * n_periods

    def per_cell(values: np.ndarray) -> np.ndarray:
        summed = np.bincount(cell, weights=values[mask], minlength=size)
        return np.rint(summed).astype(np.int64) if values.dtype.kind in "iub" else summed

    rdt_t, rdt_p, mic_t, mic_p = (
        per_cell(v) for v in _age_sums(dataset, selection.age_group, start, end)
    )
    tpr, tested, positive, chosen, _, _ = rates(rdt_t, rdt_p, mic_t, mic_p, selection.method)
    width = 4 if by == "year" else 6
    period_text = np.array([str(int(p)).zfill(width) for p in periods], dtype=object)
    frame = pd.DataFrame(
        {
            "period": np.tile(period_text, n_units),
            "state": np.full(size, selection.state, dtype=object),
            "lga": np.repeat(unit_lga, n_periods),
            "ward": np.repeat(unit_ward, n_periods),
            "tpr": tpr.astype(float),
            "tested": tested,
            "positive": positive,
            "method": chosen.astype(object),
        }
    )
    first_label, last_label = month_label(months[0]), month_label(months[-1])
    frame.attrs = {
        "title": _series_title(selection, first_label, last_label, by),
        "by": by,
        "unit": unit,
        "first": first_label,
        "last": last_label,
        "selection": _selection_dict(selection),
    }
    return frame


def _selection_dict(selection: Selection) -> dict[str, Any]:
    return {
        "state": selection.state,
        "facility_level": selection.facility_level,
        "age_group": selection.age_group,
        "method": selection.method,
        "period_from": None if selection.period_from is None else str(selection.period_from),
        "period_to": None if selection.period_to is None else str(selection.period_to),
    }


@dataclass
class YearOnYear:
    """Ward TPR in two calendar years, the change in points and each ward's status."""

    selection: Selection
    year_a: int
    year_b: int
    wards: pd.DataFrame
    thresholds: dict[str, float] = field(default_factory=dict)

    def _status(self, status: str) -> pd.DataFrame:
        return self.wards[self.wards["status"] == status].reset_index(drop=True)

    @property
    def worsened(self) -> pd.DataFrame:
        """Worsened wards, largest rise first."""
        frame = self._status("worsened")
        return frame.sort_values("change", ascending=False, kind="stable").reset_index(drop=True)

    @property
    def improved(self) -> pd.DataFrame:
        """Improved wards, largest fall first."""
        frame = self._status("improved")
        return frame.sort_values("change", ascending=True, kind="stable").reset_index(drop=True)

    @property
    def stable(self) -> pd.DataFrame:
        return self._status("stable")

    @property
    def not_comparable(self) -> pd.DataFrame:
        return self._status("not comparable")

    @property
    def counts(self) -> dict[str, int]:
        """Wards per status, every status present (0 when none)."""
        found = self.wards["status"].value_counts()
        return {status: int(found.get(status, 0)) for status in STATUSES}

    @property
    def title(self) -> str:
        return (
            f"Ward TPR {self.year_a} against {self.year_b}: {self.selection.describe()} "
            f"(worsened or improved: change of at least {self.thresholds['min_change']:g} "
            f"points and at least {self.thresholds['min_tests']:g} tests in each year)"
        )


def year_on_year(
    dataset: Dataset,
    selection: Selection,
    year_a: int,
    year_b: int,
    min_tests: int = 50,
    min_change: float = 5.0,
) -> YearOnYear:
    """Each ward's TPR in `year_a` and `year_b`, `change = tpr_b - tpr_a` and its status.

    The selection's level, age group and method apply; its period range is replaced by the
    two calendar years (the earlier becomes `year_a`). Status, as tpr-method.md says:
    not comparable when either year has a blank TPR or fewer than `min_tests` valid tests
    (under the ward's method of that year); else worsened when change >= `min_change`,
    improved when change <= -`min_change`, else stable.
    """
    try:
        first_year, second_year = sorted((int(year_a), int(year_b)))
    except (TypeError, ValueError) as error:
        raise TPRDataError(f"'{year_a}' and '{year_b}' are not two years.") from error
    if first_year == second_year:
        raise TPRDataError("A year-on-year comparison needs two different years.")
    state = resolve_state(dataset, selection.state)
    whole = _validate(
        dataset,
        replace(
            selection, state=state, period_from=f"{first_year}01", period_to=f"{second_year}12"
        ),
    )
    covered = years_covered(dataset, state)
    for year in (first_year, second_year):
        if year not in covered:
            span = ", ".join(str(y) for y in covered) or "no year"
            raise TPRDataError(f"This file has no data for {state} in {year}; it covers {span}.")
    series = trend(dataset, whole, by="year", unit="ward")
    side_a = series[series["period"] == str(first_year)].reset_index(drop=True)
    side_b = series[series["period"] == str(second_year)].reset_index(drop=True)

    tpr_a, tpr_b = side_a["tpr"].to_numpy(), side_b["tpr"].to_numpy()
    tested_a, tested_b = side_a["tested"].to_numpy(), side_b["tested"].to_numpy()
    change = tpr_b - tpr_a  # NaN where either side is blank
    rounded = np.round(change, _CHANGE_DECIMALS)
    blank_a, blank_b = np.isnan(tpr_a), np.isnan(tpr_b)
    few_a = ~blank_a & (tested_a < min_tests)
    few_b = ~blank_b & (tested_b < min_tests)
    comparable = ~(blank_a | blank_b | few_a | few_b)
    status = np.where(
        ~comparable,
        "not comparable",
        np.where(
            rounded >= min_change,
            "worsened",
            np.where(rounded <= -min_change, "improved", "stable"),
        ),
    ).astype(object)
    reasons = []
    for i in range(len(status)):
        parts = []
        for year, blank, few in ((first_year, blank_a, few_a), (second_year, blank_b, few_b)):
            if blank[i]:
                parts.append(f"no data in {year}")
            elif few[i]:
                parts.append(f"fewer than {min_tests:g} tests in {year}")
        reasons.append("; ".join(parts))
    wards = pd.DataFrame(
        {
            "state": side_a["state"],
            "lga": side_a["lga"],
            "ward": side_a["ward"],
            "tpr_a": tpr_a,
            "tested_a": tested_a,
            "method_a": side_a["method"],
            "tpr_b": tpr_b,
            "tested_b": tested_b,
            "method_b": side_b["method"],
            "change": change,
            "status": status,
            "reason": np.array(reasons, dtype=object),
        },
        columns=YEAR_ON_YEAR_COLUMNS,
    )
    return YearOnYear(
        selection=whole,
        year_a=first_year,
        year_b=second_year,
        wards=wards,
        thresholds={"min_change": float(min_change), "min_tests": min_tests},
    )


def peak_months(dataset: Dataset, selection: Selection) -> pd.DataFrame:
    """The month with the highest TPR in each calendar year, for the state and each LGA.

    Columns PEAK_COLUMNS; the state's row has lga ``. A tie goes to the earlier month. A unit
    without any valid tests in a year keeps its row, with a blank period and TPR.
    """
    parts = []
    for unit in ("state", "lga"):
        series = trend(dataset, selection, by="month", unit=unit)
        series = series.assign(year=series["period"].str[:4].astype(int))
        # Series are in period order within each unit, so idxmax is the earliest of equal
        # maxima; a blank TPR counts below any rate, and an all-blank year stays blank.
        ranked = series["tpr"].fillna(-1.0)
        best = ranked.groupby([series["lga"], series["year"]], sort=False).idxmax()
        peaks = series.loc[best.to_numpy(), ["year", "state", "lga", "period", "tpr"]]
        blank = peaks["tpr"].isna().to_numpy()
        peaks.loc[blank, "period"] = ""
        parts.append(peaks)
    frame = pd.concat(parts, ignore_index=True)
    order = frame["lga"].ne("")  # the state's row first in each year
    return (
        frame.assign(_order=order)
        .sort_values(["year", "_order", "lga"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
