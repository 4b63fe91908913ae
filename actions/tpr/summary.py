"""Summary: what the bot shows after an upload (shape fixed in docs/architecture.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from actions.tpr.columns import AGES
from actions.tpr.dataset import LEVEL_CATEGORIES, Dataset
from actions.tpr.series import _months_present

PRIMARY_SHARE_FOR_RECOMMENDATION = 70.0


def _month_range(first: int, last: int) -> list[int]:
    """Every month code from `first` to `last`, both included (202311, 202312, 202401, ...)."""
    start, end = (first // 100) * 12 + first % 100 - 1, (last // 100) * 12 + last % 100 - 1
    return [(m // 12) * 100 + m % 12 + 1 for m in range(start, end + 1)]


def _period(frame: pd.DataFrame) -> dict[str, Any]:
    codes = frame["periodcode"].to_numpy()
    if not len(codes):
        return {"first": None, "last": None, "first_code": None, "last_code": None, "months": 0}
    lo, hi = int(codes.min()), int(codes.max())
    first = str(frame["period"].iloc[int(np.argmax(codes == lo))])
    last = str(frame["period"].iloc[int(np.argmax(codes == hi))])
    return {
        "first": first,
        "last": last,
        "first_code": str(lo),
        "last_code": str(hi),
        "months": int(len(np.unique(codes))),
    }


def _time_coverage(codes: np.ndarray, file_months: np.ndarray) -> dict[str, Any]:
    """The years and months (`YYYYMM`) that rows mention, and the months missing.

    `missing_months` are the months from the file's first to its last month that no row of
    `codes` mentions: for a state, months other states have, and gaps inside the file's range.
    """
    months = _months_present(codes)
    held = set(months.tolist())
    span = _month_range(int(file_months[0]), int(file_months[-1])) if len(file_months) else []
    return {
        "years": sorted({int(m) // 100 for m in months}),
        "months": [str(m) for m in months],
        "missing_months": [str(m) for m in span if m not in held],
    }


def _completeness(reported: np.ndarray) -> dict[str, dict[str, float]]:
    """Percent of facility-month rows whose tested cell is not blank, by method and age."""
    result: dict[str, dict[str, float]] = {}
    for m, method in enumerate(("rdt", "microscopy")):
        block = reported[:, m, :]
        entry = {
            age: round(100.0 * float(block[:, a].mean()), 1) if len(block) else 0.0
            for a, age in enumerate(AGES)
        }
        entry["all"] = round(100.0 * float(block.mean()), 1) if len(block) else 0.0
        result[method] = entry
    return result


def summarise(dataset: Dataset) -> dict[str, Any]:
    """A JSON-serialisable overview of the file: states, periods, completeness, levels, ages."""
    frame = dataset.frame
    arrays = dataset.arrays
    meta = dataset.meta
    has_level = bool(meta.get("has_facility_level"))
    file_months = _months_present(arrays.periodcode)
    by_state: dict[str, Any] = {}
    for state, (start, end) in arrays.state_bounds.items():
        part = frame.iloc[start:end]
        tests = arrays.tests[start:end]
        invalid = arrays.invalid[start:end]
        levels: dict[str, Any] = {}
        if has_level:
            codes = arrays.level_code[start:end]
            for code, level in enumerate(LEVEL_CATEGORIES):
                rows = codes == code
                count = int(rows.sum())
                if not count:
                    continue
                levels[level] = {
                    "facilities": int(len(np.unique(arrays.facility_id[start:end][rows]))),
                    "records": count,
                    "tests": int(tests[rows].sum()),
                    "share": round(100.0 * count / (end - start), 1),
                }
        age_groups: dict[str, Any] = {}
        for a, age in enumerate(AGES):
            rdt, micro = int(tests[:, 0, a].sum()), int(tests[:, 1, a].sum())
            age_groups[age] = {
                "tests": rdt + micro,
                "rdt_tests": rdt,
                "microscopy_tests": micro,
                "available": rdt + micro > 0,
            }
        rdt_all, micro_all = int(tests[:, 0, :].sum()), int(tests[:, 1, :].sum())
        age_groups["all"] = {
            "tests": rdt_all + micro_all,
            "rdt_tests": rdt_all,
            "microscopy_tests": micro_all,
            "available": rdt_all + micro_all > 0,
        }
        primary_share = levels.get("primary", {}).get("share", 0.0)
        recommended_level = (
            "primary" if has_level and primary_share >= PRIMARY_SHARE_FOR_RECOMMENDATION else "all"
        )
        by_state[state] = {
            "lgas": int(part["lga"].nunique()),
            "wards": int(len(np.unique(arrays.ward_id[start:end]))),
            "facilities": int(len(np.unique(arrays.facility_id[start:end]))),
            "rows": int(end - start),
            "period": _period(part),
            "time_coverage": _time_coverage(arrays.periodcode[start:end], file_months),
            "completeness": _completeness(arrays.reported[start:end]),
            "levels": levels,
            "age_groups": age_groups,
            "recommended_level": recommended_level,
            "recommended_age_group": "u5" if age_groups["u5"]["available"] else "all",
            "quality": {
                "invalid_pairs": int(invalid.sum()),
                "rows_without_ward": int(meta.get("rows_without_ward_by_state", {}).get(state, 0)),
            },
        }
    return {
        "rows": int(len(frame)),
        "layout": meta.get("layout"),
        "source": meta.get("source_name"),
        "states": list(arrays.state_bounds),
        "has_facility_level": has_level,
        "period": _period(frame),
        "time_coverage": _time_coverage(arrays.periodcode, file_months),
        "quality": {
            "totals_rows_dropped": int(meta.get("totals_rows_dropped", 0)),
            "rows_without_ward": int(meta.get("rows_without_ward", 0)),
            "invalid_pairs": int(arrays.invalid.sum()),
        },
        "completeness": _completeness(arrays.reported),
        "by_state": by_state,
    }
