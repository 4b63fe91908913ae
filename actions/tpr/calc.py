"""Calculation: ward TPR for one selection, by the rules of docs/tpr-method.md."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from actions.tpr.columns import AGES
from actions.tpr.dataset import LEVEL_CATEGORIES, MONTH_NAMES, Dataset, category_names
from actions.tpr.errors import TPRDataError
from actions.tpr.names import clean_name, name_key

FACILITY_LEVELS = ("primary", "secondary", "tertiary", "all")
AGE_GROUPS = ("u5", "o5", "pw", "all")
METHODS = ("max", "rdt", "microscopy", "combined")
TOTAL_COLUMNS = [
    "tpr",
    "tested",
    "positive",
    "method",
    "rdt_tested",
    "rdt_positive",
    "rdt_tpr",
    "microscopy_tested",
    "microscopy_positive",
    "microscopy_tpr",
    "facilities",
    "invalid_pairs",
]
WARD_COLUMNS = ["state", "lga", "ward", *TOTAL_COLUMNS]
OPD_COLUMNS = ["opd_attendance", "tpr_opd", "tpr_opd_note"]
OPD_NOTE = "alternative figure for TPR > 50%: positives / outpatient attendance; not the TPR"
AGE_LABELS = {
    "u5": "under 5",
    "o5": "5 and over (excl. PW)",
    "pw": "pregnant women",
    "all": "all ages",
}
LEVEL_LABELS = {
    "primary": "primary facilities",
    "secondary": "secondary facilities",
    "tertiary": "tertiary facilities",
    "all": "all facilities",
}
METHOD_LABELS = {
    "max": "higher of RDT and microscopy",
    "rdt": "RDT only",
    "microscopy": "microscopy only",
    "combined": "RDT and microscopy combined",
}


@dataclass(frozen=True)
class Selection:
    """One calculation: state, facility level, age group, method and optional period range."""

    state: str
    facility_level: str = "all"
    age_group: str = "all"
    method: str = "max"
    period_from: str | int | None = None
    period_to: str | int | None = None

    def describe(self) -> str:
        """`Adamawa, primary facilities, under 5, higher of RDT and microscopy`."""
        parts = [
            self.state,
            LEVEL_LABELS.get(self.facility_level, self.facility_level),
            AGE_LABELS.get(self.age_group, self.age_group),
            METHOD_LABELS.get(self.method, self.method),
        ]
        return ", ".join(parts)


@dataclass
class TPRResult:
    """The ward table, LGA and state totals, statistics and quality counts of a selection."""

    selection: Selection
    wards: pd.DataFrame
    lgas: pd.DataFrame
    state_total: dict[str, Any]
    stats: dict[str, Any]
    quality: dict[str, int]
    period: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def top_wards(self, n: int = 10) -> pd.DataFrame:
        """Wards by TPR, highest first; wards without data last; ties by more tests."""
        ordered = self.wards.sort_values(
            ["tpr", "tested"], ascending=[False, False], na_position="last", kind="stable"
        )
        return ordered.head(n).reset_index(drop=True)

    @property
    def title(self) -> str:
        text = f"Ward TPR: {self.selection.describe()}"
        if self.period.get("first"):
            text += f", {self.period['first']} to {self.period['last']}"
        return text


def resolve_state(dataset: Dataset, state: str) -> str:
    """The file's spelling of `state` (`ad Adamawa State`, `ADAMAWA` -> `Adamawa`)."""
    wanted = name_key(clean_name(state))
    names = list(dataset.arrays.state_bounds)
    for name in names:
        if name_key(name) == wanted:
            return name
    raise TPRDataError(
        f"I couldn't find '{state}' in this file. The states in it are: {', '.join(names)}."
    )


_MONTHS_FOLDED = [month.casefold() for month in MONTH_NAMES]


def period_code(value: str | int | None) -> int | None:
    """`202401`, 202401 or `January 2024` -> 202401."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.isdigit() and len(text) == 6:
        return int(text)
    parts = text.casefold().split()
    if len(parts) == 2 and parts[0] in _MONTHS_FOLDED and parts[1].isdigit():
        return int(parts[1]) * 100 + _MONTHS_FOLDED.index(parts[0]) + 1
    raise TPRDataError(f"'{value}' is not a period I understand; use e.g. 202401 or January 2024.")


def month_name(code: int) -> str:
    """202401 -> `January 2024` (the code itself when it is not a month)."""
    month = code % 100
    return f"{MONTH_NAMES[month - 1]} {code // 100}" if 1 <= month <= 12 else str(code)


def _validate(dataset: Dataset, selection: Selection) -> Selection:
    state = resolve_state(dataset, selection.state)
    level = str(selection.facility_level).strip().casefold()
    if level not in FACILITY_LEVELS:
        raise TPRDataError(
            f"'{selection.facility_level}' is not a facility level; choose primary, secondary, "
            "tertiary or all."
        )
    if level != "all" and not dataset.meta.get("has_facility_level", False):
        raise TPRDataError(
            "This file has no facility level column, so the TPR can only be calculated for "
            "all facilities."
        )
    age = str(selection.age_group).strip().casefold()
    if age not in AGE_GROUPS:
        raise TPRDataError(
            f"'{selection.age_group}' is not an age group; choose u5, o5, pw or all."
        )
    method = str(selection.method).strip().casefold()
    if method not in METHODS:
        raise TPRDataError(
            f"'{selection.method}' is not a method; choose max, rdt, microscopy or combined."
        )
    return replace(selection, state=state, facility_level=level, age_group=age, method=method)


def rates(
    rdt_t: np.ndarray, rdt_p: np.ndarray, mic_t: np.ndarray, mic_p: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(tpr, tested, positive, method name, rdt_tpr, microscopy_tpr) per row of sums.

    A rate exists only where its tests are > 0; elsewhere it is NaN (blank), never 0.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        rdt_rate = np.where(rdt_t > 0, 100.0 * rdt_p / np.where(rdt_t > 0, rdt_t, 1), np.nan)
        mic_rate = np.where(mic_t > 0, 100.0 * mic_p / np.where(mic_t > 0, mic_t, 1), np.nan)
        all_t, all_p = rdt_t + mic_t, rdt_p + mic_p
        all_rate = np.where(all_t > 0, 100.0 * all_p / np.where(all_t > 0, all_t, 1), np.nan)
    none = np.array("none", dtype=object)
    if method == "rdt":
        chosen = np.where(rdt_t > 0, "rdt", none)
        return rdt_rate, rdt_t, rdt_p, chosen, rdt_rate, mic_rate
    if method == "microscopy":
        chosen = np.where(mic_t > 0, "microscopy", none)
        return mic_rate, mic_t, mic_p, chosen, rdt_rate, mic_rate
    if method == "combined":
        chosen = np.where(all_t > 0, "combined", none)
        return all_rate, all_t, all_p, chosen, rdt_rate, mic_rate
    # max: microscopy only when strictly higher (a tie goes to RDT) or RDT has no rate.
    use_mic = (mic_t > 0) & ((rdt_t == 0) | (mic_rate > rdt_rate))
    use_rdt = (rdt_t > 0) & ~use_mic
    tpr = np.where(use_mic, mic_rate, np.where(use_rdt, rdt_rate, np.nan))
    tested = np.where(use_mic, mic_t, np.where(use_rdt, rdt_t, 0))
    positive = np.where(use_mic, mic_p, np.where(use_rdt, rdt_p, 0))
    chosen = np.where(use_mic, "microscopy", np.where(use_rdt, "rdt", none))
    return tpr, tested, positive, chosen, rdt_rate, mic_rate


def _rate_columns(sums: dict[str, np.ndarray], method: str) -> dict[str, np.ndarray]:
    tpr, tested, positive, chosen, rdt_rate, mic_rate = rates(
        sums["rdt_tested"],
        sums["rdt_positive"],
        sums["microscopy_tested"],
        sums["microscopy_positive"],
        method,
    )
    return {
        "tpr": tpr.astype(float),
        "tested": tested,
        "positive": positive,
        "method": chosen.astype(object),
        "rdt_tpr": rdt_rate,
        "microscopy_tpr": mic_rate,
    }


def _table(sums: dict[str, np.ndarray], method: str, head: dict[str, Any],
           columns: list[str]) -> pd.DataFrame:  # fmt: skip
    """One DataFrame built in a single call (cheaper than adding columns one by one)."""
    data = {**head, **sums, **_rate_columns(sums, method)}
    return pd.DataFrame({column: data[column] for column in columns})


def _row_mask(dataset: Dataset, selection: Selection, start: int, end: int) -> np.ndarray:
    """Rows of the state's slice that the facility level and period range select."""
    arrays = dataset.arrays
    mask = np.ones(end - start, dtype=bool)
    if selection.facility_level != "all":
        level_code = LEVEL_CATEGORIES.index(selection.facility_level)
        mask &= arrays.level_code[start:end] == level_code
        if not mask.any():
            raise TPRDataError(
                f"{selection.state} has no {selection.facility_level} facilities in this file."
            )
    periods = arrays.periodcode[start:end]
    first, last = period_code(selection.period_from), period_code(selection.period_to)
    if first is not None and last is not None and first > last:
        raise TPRDataError(
            f"The period starts ({month_name(first)}) after it ends ({month_name(last)}); "
            "give the earlier month first."
        )
    if first is not None:
        mask &= periods >= first
    if last is not None:
        mask &= periods <= last
    if not mask.any():
        every = arrays.periodcode[start:end]
        covered = f"{month_name(int(every.min()))} to {month_name(int(every.max()))}"
        raise TPRDataError(
            f"{selection.state} has no data in the period chosen; this file covers {covered} "
            f"for {selection.state}."
        )
    return mask


def _opd_columns(
    opd_rows: np.ndarray, local: np.ndarray, n_wards: int, ward_rates: dict[str, np.ndarray]
) -> dict[str, Any]:
    """The flagged alternative `positive / outpatient attendance` for wards above 50 %."""
    reported = ~np.isnan(opd_rows)
    opd = np.bincount(local, weights=np.where(reported, opd_rows, 0.0), minlength=n_wards)
    opd_any = np.bincount(local, weights=reported, minlength=n_wards) > 0
    attendance = pd.array(np.rint(opd).astype(np.int64), dtype="Int64")
    attendance[~opd_any] = pd.NA
    high = (np.nan_to_num(ward_rates["tpr"], nan=0.0) > 50) & (opd > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr_opd = np.where(high, 100.0 * ward_rates["positive"] / np.where(high, opd, 1), np.nan)
    return {
        "opd_attendance": attendance,
        "tpr_opd": tpr_opd,
        "tpr_opd_note": np.where(high, OPD_NOTE, "").astype(object),
    }


def _lga_table(
    dataset: Dataset,
    selection: Selection,
    ward_lga_codes: np.ndarray,
    sums: dict[str, np.ndarray],
    with_data: np.ndarray,
) -> pd.DataFrame:
    """Per-LGA sums of the ward figures, with the rate rule applied to the sums."""
    lga_codes, lga_local = np.unique(ward_lga_codes, return_inverse=True)
    n_lgas = len(lga_codes)

    def per_lga(values: np.ndarray) -> np.ndarray:
        summed = np.bincount(lga_local, weights=values, minlength=n_lgas)
        return np.rint(summed).astype(np.int64) if values.dtype.kind in "iub" else summed

    head = {
        "state": np.full(n_lgas, selection.state, dtype=object),
        "lga": category_names(dataset.frame["lga"])[lga_codes],
        "wards": np.bincount(lga_local, minlength=n_lgas).astype(np.int64),
        "wards_with_data": per_lga(with_data),
    }
    return _table({k: per_lga(v) for k, v in sums.items()}, selection.method, head, LGA_COLUMNS)


def _statistics(tpr: np.ndarray) -> dict[str, Any]:
    """Ward counts and mean/median/min/max of the ward TPRs that exist (None without any)."""
    with_data = ~np.isnan(tpr)
    values = tpr[with_data]
    found = bool(len(values))
    return {
        "wards_total": int(len(tpr)),
        "wards_with_data": int(with_data.sum()),
        "wards_without_data": int((~with_data).sum()),
        "mean": float(values.mean()) if found else None,
        "median": float(np.median(values)) if found else None,
        "min": float(values.min()) if found else None,
        "max": float(values.max()) if found else None,
    }


def compute_tpr(dataset: Dataset, selection: Selection) -> TPRResult:
    """Ward TPR for `selection`; raises TPRDataError for a state or level not in the file.

    Works on the per-row arrays precomputed at load (validity already applied), sliced to the
    state's rows: a few numpy sums, so a recompute stays well under 50 ms on a national file.
    """
    selection = _validate(dataset, selection)
    arrays = dataset.arrays
    start, end = arrays.state_bounds[selection.state]
    mask = _row_mask(dataset, selection, start, end)

    if selection.age_group == "all":
        tests = arrays.tests[start:end].sum(axis=2)
        positives = arrays.positives[start:end].sum(axis=2)
        invalid = arrays.invalid[start:end].sum(axis=(1, 2))
    else:
        age = AGES.index(selection.age_group)
        tests = arrays.tests[start:end, :, age]
        positives = arrays.positives[start:end, :, age]
        invalid = arrays.invalid[start:end, :, age].sum(axis=1)

    # Ward ids of one state are contiguous (ids follow state, LGA, ward order), so every ward
    # of the state gets a row, including wards that no selected row touches.
    ward_ids = arrays.ward_id[start:end]
    first_ward = int(ward_ids.min())
    n_wards = int(ward_ids.max()) - first_ward + 1
    local = (ward_ids - first_ward)[mask]

    def per_ward(values: np.ndarray) -> np.ndarray:
        summed = np.bincount(local, weights=values[mask], minlength=n_wards)
        return np.rint(summed).astype(np.int64) if values.dtype.kind in "iub" else summed

    _, first_rows = np.unique(arrays.facility_id[start:end][mask], return_index=True)
    sums = {
        "rdt_tested": per_ward(tests[:, 0]),
        "rdt_positive": per_ward(positives[:, 0]),
        "microscopy_tested": per_ward(tests[:, 1]),
        "microscopy_positive": per_ward(positives[:, 1]),
        "facilities": np.bincount(local[first_rows], minlength=n_wards).astype(np.int64),
        "invalid_pairs": per_ward(invalid),
    }
    wards_slice = slice(first_ward, first_ward + n_wards)
    ward_rates = _rate_columns(sums, selection.method)
    data = {
        "state": np.full(n_wards, selection.state, dtype=object),
        "lga": arrays.ward_lga[wards_slice],
        "ward": arrays.ward_name[wards_slice],
        **sums,
        **ward_rates,
    }
    has_opd = bool(dataset.meta.get("has_opd")) and arrays.opd is not None
    if has_opd:
        data.update(_opd_columns(arrays.opd[start:end][mask], local, n_wards, ward_rates))
    columns = WARD_COLUMNS + (OPD_COLUMNS if has_opd else [])
    wards = pd.DataFrame({column: data[column] for column in columns})

    with_data = ~np.isnan(ward_rates["tpr"])
    lgas = _lga_table(dataset, selection, arrays.ward_lga_code[wards_slice], sums, with_data)

    state_sums = {key: values.sum(keepdims=True) for key, values in sums.items()}
    state_rates = _rate_columns(state_sums, selection.method)
    state_total: dict[str, Any] = {
        "state": selection.state,
        "wards": int(n_wards),
        "wards_with_data": int(with_data.sum()),
    }
    for column in TOTAL_COLUMNS:
        source = state_rates if column in state_rates else state_sums
        state_total[column] = _plain(source[column][0])

    by_state = dataset.meta.get("rows_without_ward_by_state", {})
    quality = {
        "invalid_pairs": int(sums["invalid_pairs"].sum()),
        "totals_rows_dropped": int(dataset.meta.get("totals_rows_dropped", 0)),
        "rows_without_ward": int(by_state.get(selection.state, 0)),
    }
    selected_periods = arrays.periodcode[start:end][mask]
    lo, hi = int(selected_periods.min()), int(selected_periods.max())
    period = {
        "first_code": str(lo),
        "last_code": str(hi),
        "first": _period_name(dataset, start, end, lo),
        "last": _period_name(dataset, start, end, hi),
    }
    return TPRResult(
        selection=selection,
        wards=wards,
        lgas=lgas,
        state_total=state_total,
        stats=_statistics(ward_rates["tpr"]),
        quality=quality,
        period=period,
        source=str(dataset.meta.get("source_name", "")),
    )


def _period_name(dataset: Dataset, start: int, end: int, code: int) -> str:
    position = int(np.argmax(dataset.arrays.periodcode[start:end] == code))
    return str(dataset.frame["period"].iloc[start + position])


LGA_COLUMNS = ["state", "lga", "wards", "wards_with_data", *TOTAL_COLUMNS]


def _plain(value: Any) -> Any:
    """numpy scalar -> JSON-able Python value; NaN -> None."""
    if isinstance(value, str):
        return value
    if isinstance(value, np.integer | int):
        return int(value)
    value = float(value)
    if np.isnan(value):
        return None
    return value
