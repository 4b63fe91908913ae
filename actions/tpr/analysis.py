"""Questions after the results: group totals, comparisons, invalid pairs, completeness, one ward.

Every function takes the same `Selection` as `compute_tpr` and follows docs/tpr-method.md. They
work on the state's slice of `dataset.arrays` with numpy (as `compute_tpr` does), so a question
about one state of a national file costs a few tens of milliseconds.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from actions.tpr.calc import (
    AGE_LABELS,
    LEVEL_LABELS,
    LGA_COLUMNS,
    METHOD_LABELS,
    TOTAL_COLUMNS,
    WARD_COLUMNS,
    Selection,
    TPRResult,
    _plain,
    _row_mask,
    _validate,
    compute_tpr,
    month_name,
    rates,
    resolve_state,
)
from actions.tpr.columns import AGES
from actions.tpr.dataset import LEVEL_CATEGORIES, Dataset, category_names
from actions.tpr.errors import TPRDataError
from actions.tpr.names import clean_name, name_key

COMPARE_COLUMNS = ["state", "lga", "ward", "a_tpr", "a_tested", "a_positive", "a_method",
                   "b_tpr", "b_tested", "b_positive", "b_method", "difference"]  # fmt: skip
QUALITY_COLUMNS = ["state", "lga", "ward", "facility", "period", "method", "age_group",
                   "tested", "positive", "problem"]  # fmt: skip
COMPLETENESS_COLUMNS = ["facility_months", "rdt_reporting", "rdt_completeness",
                        "microscopy_reporting", "microscopy_completeness",
                        "any_reporting", "any_completeness"]  # fmt: skip
WITHOUT_DATA_COLUMNS = ["state", "lga", "ward", "reason", "facilities", "invalid_pairs"]

PROBLEM_OVER = "positive > tested"
PROBLEM_WITHOUT_TESTS = "positive without tested"
# Not one of the two rules of tpr-method.md: a negative count is excluded too, and said so.
PROBLEM_NEGATIVE = "negative figure"
REASON_NO_VALID_TESTS = "no valid tests"
COMPARED_FIELDS = ("facility_level", "age_group", "method", "period")

_METHODS = (("rdt", "rdt"), ("microscopy", "micro"))  # (name shown, column prefix)
_GROUP_UNITS = ("lga", "state")
STATE_TOTAL_COLUMNS = [c for c in LGA_COLUMNS if c != "lga"]
_COMPLETENESS_UNITS = ("lga", "ward", "state")


def reason_no_facility(level: str) -> str:
    """`no primary facility`: the ward has no facility of the selected level in the file."""
    return f"no {level} facility"


@dataclass(frozen=True)
class _StateSlice:
    """The validated selection, the state's row range and the rows the selection keeps."""

    selection: Selection
    start: int
    end: int
    mask: np.ndarray  # over rows start:end
    first_ward: int
    n_wards: int


def _state_slice(dataset: Dataset, selection: Selection) -> _StateSlice:
    selection = _validate(dataset, selection)
    start, end = dataset.arrays.state_bounds[selection.state]
    mask = _row_mask(dataset, selection, start, end)
    ward_ids = dataset.arrays.ward_id[start:end]
    first_ward = int(ward_ids.min())
    n_wards = int(ward_ids.max()) - first_ward + 1
    return _StateSlice(selection, start, end, mask, first_ward, n_wards)


def _unit(by: str, allowed: tuple[str, ...]) -> str:
    unit = str(by).strip().casefold()
    if unit not in allowed:
        raise TPRDataError(f"'{by}' is not a unit for this table; choose {' or '.join(allowed)}.")
    return unit


def period_text(result: TPRResult) -> str:
    """`January 2024 to June 2024` (or one month) for titles and labels."""
    first, last = result.period.get("first"), result.period.get("last")
    if not first:
        return ""
    return first if first == last else f"{first} to {last}"


# --- Totals above the ward ---


def group_totals(dataset: Dataset, selection: Selection, by: str = "lga") -> pd.DataFrame:
    """LGA (or state) totals: the ward rules applied to the group's summed T_m and P_m.

    Not a mean of ward TPRs: under `max` an LGA's method can differ from its wards' methods.
    Columns: state, lga (for by="lga"), wards, wards_with_data, then calc.TOTAL_COLUMNS.
    """
    unit = _unit(by, _GROUP_UNITS)
    result = compute_tpr(dataset, selection)
    if unit == "lga":
        return result.lgas.copy()
    total = result.state_total
    return pd.DataFrame([{column: total[column] for column in STATE_TOTAL_COLUMNS}]).astype(
        {"tpr": float, "rdt_tpr": float, "microscopy_tpr": float}
    )


# --- Comparing two selections ---


@dataclass
class Comparison:
    """Selection A (in force) against B per ward; difference = b_tpr - a_tpr in points."""

    wards: pd.DataFrame
    a: TPRResult
    b: TPRResult
    label_a: str
    label_b: str
    common: str  # what A and B share, e.g. `Adamawa, primary facilities, RDT only, ...`
    changed: tuple[str, ...]  # which of COMPARED_FIELDS differ

    def most_different(self, n: int = 10) -> pd.DataFrame:
        """Wards with a difference, largest |difference| first (ties: more tests in A and B)."""
        rows = self.wards[self.wards["difference"].notna()]
        order = np.lexsort((
            -(rows["a_tested"].to_numpy() + rows["b_tested"].to_numpy()),
            -np.abs(rows["difference"].to_numpy()),
        ))  # fmt: skip
        return rows.iloc[order].head(n).reset_index(drop=True)

    @property
    def title(self) -> str:
        """`Ward TPR compared: Adamawa, all facilities, ...: under 5 (A) vs pregnant women (B)`."""
        return f"Ward TPR compared: {self.common}: {self.label_a} (A) vs {self.label_b} (B)"

    def counts(self) -> dict[str, int]:
        """How many wards are higher, lower or equal in B, and how many cannot be compared."""
        difference = self.wards["difference"]
        return {
            "wards": int(len(self.wards)),
            "compared": int(difference.notna().sum()),
            "b_higher": int((difference > 0).sum()),
            "b_lower": int((difference < 0).sum()),
            "equal": int((difference == 0).sum()),
            "blank_in_a": int(self.wards["a_tpr"].isna().sum()),
            "blank_in_b": int(self.wards["b_tpr"].isna().sum()),
        }


def _describe_parts(result: TPRResult) -> dict[str, str]:
    selection = result.selection
    return {
        "facility_level": LEVEL_LABELS.get(selection.facility_level, selection.facility_level),
        "age_group": AGE_LABELS.get(selection.age_group, selection.age_group),
        "method": METHOD_LABELS.get(selection.method, selection.method),
        "period": period_text(result),
    }


def compare_selections(dataset: Dataset, a: Selection, b: Selection) -> Comparison:
    """Ward TPR of A and of B side by side, every ward of the state, by tpr-method.md.

    B must be in A's state and differ in level, age group, method or period (as the file's
    months resolve it: no range and the file's full range are the same period).
    """
    result_a = compute_tpr(dataset, a)
    if b.state and resolve_state(dataset, b.state) != result_a.selection.state:
        raise TPRDataError(
            "A comparison is made within one state; change the facility level, age group, "
            "method or period instead."
        )
    result_b = compute_tpr(dataset, replace(b, state=result_a.selection.state))
    parts_a, parts_b = _describe_parts(result_a), _describe_parts(result_b)
    changed = tuple(f for f in COMPARED_FIELDS if parts_a[f] != parts_b[f])
    if not changed:
        raise TPRDataError(
            "Both selections are the same; change the facility level, age group, method or "
            "period to compare."
        )
    wa, wb = result_a.wards, result_b.wards
    # Both tables list every ward of the state in the same (LGA, ward) order.
    frame = pd.DataFrame({
        "state": wa["state"].to_numpy(),
        "lga": wa["lga"].to_numpy(),
        "ward": wa["ward"].to_numpy(),
        "a_tpr": wa["tpr"].to_numpy(dtype=float),
        "a_tested": wa["tested"].to_numpy(),
        "a_positive": wa["positive"].to_numpy(),
        "a_method": wa["method"].to_numpy(),
        "b_tpr": wb["tpr"].to_numpy(dtype=float),
        "b_tested": wb["tested"].to_numpy(),
        "b_positive": wb["positive"].to_numpy(),
        "b_method": wb["method"].to_numpy(),
    })  # fmt: skip
    frame["difference"] = frame["b_tpr"] - frame["a_tpr"]  # NaN when either side is blank
    common = [result_a.selection.state] + [parts_a[f] for f in COMPARED_FIELDS if f not in changed]
    return Comparison(
        wards=frame[COMPARE_COLUMNS],
        a=result_a,
        b=result_b,
        label_a=", ".join(parts_a[f] for f in changed),
        label_b=", ".join(parts_b[f] for f in changed),
        common=", ".join(p for p in common if p),
        changed=changed,
    )


# --- Invalid pairs, listed ---


def _raw(dataset: Dataset, column: str, rows: np.ndarray) -> np.ndarray:
    """A figure column at absolute row positions, as float with NaN for a blank cell."""
    values = dataset.frame[column].array.take(rows)
    return np.asarray(pd.array(values).to_numpy(dtype="float64", na_value=np.nan), dtype=float)


def _counts(values: np.ndarray) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """Whole figures as nullable integers (a blank stays blank), others as floats."""
    blank = np.isnan(values)
    filled = np.where(blank, 0.0, values)
    if np.array_equal(np.floor(filled), filled):
        return pd.arrays.IntegerArray(filled.astype(np.int64), blank)
    return values


def _invalid_rows(
    dataset: Dataset, part: _StateSlice, ward_local: int | None = None
) -> pd.DataFrame:
    arrays = dataset.arrays
    selection = part.selection
    local = np.flatnonzero(part.mask)
    if ward_local is not None:
        local = local[arrays.ward_id[part.start : part.end][local] == part.first_ward + ward_local]
    ages = AGES if selection.age_group == "all" else (selection.age_group,)
    invalid = arrays.invalid[part.start : part.end][local]
    pieces: list[dict[str, np.ndarray]] = []
    for m, (_, prefix) in enumerate(_METHODS):
        for age in ages:
            hit = local[invalid[:, m, AGES.index(age)]]
            if not len(hit):
                continue
            rows = part.start + hit
            tested = _raw(dataset, f"{prefix}_tested_{age}", rows)
            positive = _raw(dataset, f"{prefix}_positive_{age}", rows)
            t0 = np.nan_to_num(tested, nan=0.0)
            p0 = np.nan_to_num(positive, nan=0.0)
            problem = np.where(
                (t0 > 0) & (p0 > t0),
                PROBLEM_OVER,
                np.where((t0 == 0) & (p0 > 0), PROBLEM_WITHOUT_TESTS, PROBLEM_NEGATIVE),
            ).astype(object)
            pieces.append({
                "row": rows, "tested": tested, "positive": positive, "problem": problem,
                "method_index": np.full(len(rows), m),
                "age_index": np.full(len(rows), AGES.index(age)),
            })  # fmt: skip
    if not pieces:
        empty = pd.DataFrame({column: pd.Series(dtype=object) for column in QUALITY_COLUMNS})
        return empty.astype({"tested": "Int64", "positive": "Int64"})
    joined = {key: np.concatenate([p[key] for p in pieces]) for key in pieces[0]}
    rows = joined["row"]
    facility_ids = arrays.facility_id[rows]
    _, inverse, per_facility = np.unique(facility_ids, return_inverse=True, return_counts=True)
    periods = arrays.periodcode[rows]
    # Most frequent offending facility first, then place order, month, method, age group.
    order = np.lexsort((joined["age_index"], joined["method_index"], periods, facility_ids,
                        -per_facility[inverse]))  # fmt: skip
    rows = rows[order]
    ward_ids = arrays.ward_id[rows]
    facility = dataset.frame["facility"]
    method_names = np.array([name for name, _ in _METHODS], dtype=object)
    frame = pd.DataFrame({
        "state": np.full(len(rows), selection.state, dtype=object),
        "lga": arrays.ward_lga[ward_ids],
        "ward": arrays.ward_name[ward_ids],
        "facility": category_names(facility)[facility.cat.codes.to_numpy()[rows]],
        "period": periods[order].astype(str).astype(object),
        "method": method_names[joined["method_index"][order]],
        "age_group": np.asarray(AGES, dtype=object)[joined["age_index"][order]],
        "tested": _counts(joined["tested"][order]),
        "positive": _counts(joined["positive"][order]),
        "problem": joined["problem"][order],
    })  # fmt: skip
    return frame


def invalid_pairs_list(dataset: Dataset, selection: Selection) -> pd.DataFrame:
    """Every excluded cell pair of the selection (both methods, whatever the method in force).

    Columns QUALITY_COLUMNS; most frequent offending facility first. Its length equals
    `compute_tpr(dataset, selection).quality["invalid_pairs"]`.
    """
    return _invalid_rows(dataset, _state_slice(dataset, selection))


# --- Reporting completeness ---


def _reporting_rows(dataset: Dataset, part: _StateSlice) -> dict[str, np.ndarray]:
    """Per selected facility-month: its ward (local), period and whether it reports each method.

    A facility-month reports for a method when any of its tested cells (any age) is > 0; two
    rows of one facility for one month are one facility-month.
    """
    arrays = dataset.arrays
    rows = part.start + np.flatnonzero(part.mask)
    reports = []
    for _, prefix in _METHODS:
        any_test = np.zeros(len(rows), dtype=bool)
        for age in AGES:
            any_test |= np.nan_to_num(_raw(dataset, f"{prefix}_tested_{age}", rows), nan=0.0) > 0
        reports.append(any_test)
    periods = arrays.periodcode[rows].astype(np.int64)
    key = arrays.facility_id[rows].astype(np.int64) * 1_000_000 + periods
    unique_keys, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    n = len(unique_keys)
    rdt = np.bincount(inverse, weights=reports[0], minlength=n) > 0
    mic = np.bincount(inverse, weights=reports[1], minlength=n) > 0
    return {
        "ward": arrays.ward_id[rows[first]] - part.first_ward,
        "period": periods[first],
        "rdt": rdt,
        "microscopy": mic,
    }


def _unit_heads(
    dataset: Dataset, part: _StateSlice, unit: str
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(name columns per unit, unit index per local ward) for ward, lga or state."""
    arrays = dataset.arrays
    wards = slice(part.first_ward, part.first_ward + part.n_wards)
    state = part.selection.state
    if unit == "ward":
        head = {"lga": arrays.ward_lga[wards], "ward": arrays.ward_name[wards]}
        index = np.arange(part.n_wards)
    elif unit == "lga":
        codes, index = np.unique(arrays.ward_lga_code[wards], return_inverse=True)
        lga_names = category_names(dataset.frame["lga"])[codes]
        head = {"lga": lga_names}
    else:
        head = {}
        index = np.zeros(part.n_wards, dtype=np.int64)
    n_units = int(index.max()) + 1 if len(index) else 0
    return {"state": np.full(n_units, state, dtype=object), **head}, index


def _completeness_columns(units: np.ndarray, n_units: int, fm: dict[str, np.ndarray]) -> dict:
    months = np.bincount(units, minlength=n_units).astype(np.int64)
    out: dict[str, Any] = {"facility_months": months}
    either = fm["rdt"] | fm["microscopy"]
    for name, flags in (("rdt", fm["rdt"]), ("microscopy", fm["microscopy"]), ("any", either)):
        reporting = np.bincount(units, weights=flags, minlength=n_units).astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(months > 0, 100.0 * reporting / np.maximum(months, 1), np.nan)
        out[f"{name}_reporting"] = reporting
        out[f"{name}_completeness"] = share
    return out


def _weakest_first(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """Order: lowest completeness (any method, then RDT, then microscopy) first; no data last."""
    keys = [frame[name].astype(str).str.casefold().to_numpy() for name in reversed(names)]
    for column in ("microscopy_completeness", "rdt_completeness", "any_completeness"):
        keys.append(np.nan_to_num(frame[column].to_numpy(dtype=float), nan=np.inf))
    return np.lexsort(keys)


def _selection_title(part: _StateSlice, dataset: Dataset, what: str) -> str:
    selection = part.selection
    periods = dataset.arrays.periodcode[part.start : part.end][part.mask]
    first, last = month_name(int(periods.min())), month_name(int(periods.max()))
    period = first if first == last else f"{first} to {last}"
    level = LEVEL_LABELS.get(selection.facility_level, selection.facility_level)
    return f"{what}: {selection.state}, {level}, any age group, {period}"


def completeness(dataset: Dataset, selection: Selection, by: str = "lga") -> pd.DataFrame:
    """Share of facility-months that report, per unit, for RDT and microscopy (percent).

    Uses the selection's state, level and period; the age group does not matter (a
    facility-month reports when a tested cell of any age holds a number > 0). A unit with no
    facility-month has blank completeness, not 0. Weakest reporting first.
    """
    return completeness_tables(dataset, selection, by)[0]


def completeness_by_month(dataset: Dataset, selection: Selection, by: str = "lga") -> pd.DataFrame:
    """Completeness per (unit, month): every unit x every month of the selection.

    Units are in `completeness` order (weakest first), months ascending; a unit with no
    facility-month in a month has facility_months 0 and blank completeness.
    """
    return completeness_tables(dataset, selection, by)[1]


def completeness_tables(
    dataset: Dataset, selection: Selection, by: str = "lga"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(`completeness`, `completeness_by_month`) from one pass over the selection's rows.

    The completeness answer needs both; computing them apart sliced the state and found its
    reporting facility-months twice.
    """
    unit = _unit(by, _COMPLETENESS_UNITS)
    part = _state_slice(dataset, replace(selection, age_group="all"))
    head, index = _unit_heads(dataset, part, unit)
    fm = _reporting_rows(dataset, part)
    n_units = len(head["state"])
    names = [c for c in ("lga", "ward") if c in head]
    overall = pd.DataFrame({**head, **_completeness_columns(index[fm["ward"]], n_units, fm)})
    unit_order = _weakest_first(overall, names)
    by_unit = overall.iloc[unit_order].reset_index(drop=True)
    by_unit.attrs["title"] = _selection_title(part, dataset, "Reporting completeness")

    periods = np.unique(dataset.arrays.periodcode[part.start : part.end][part.mask]).astype(
        np.int64
    )
    period_index = np.searchsorted(periods, fm["period"])
    cells = index[fm["ward"]] * len(periods) + period_index
    columns = _completeness_columns(cells, n_units * len(periods), fm)
    grid = {key: np.repeat(values, len(periods)) for key, values in head.items()}
    grid["period"] = np.tile(periods.astype(str).astype(object), n_units)
    frame = pd.DataFrame({**grid, **columns})
    rank = np.empty(n_units, dtype=np.int64)
    rank[unit_order] = np.arange(n_units)
    order = np.lexsort((np.tile(np.arange(len(periods)), n_units),
                        np.repeat(rank, len(periods))))  # fmt: skip
    frame = frame.iloc[order].reset_index(drop=True)
    frame = frame[[*head, "period", *COMPLETENESS_COLUMNS]]
    frame.attrs["title"] = _selection_title(part, dataset, "Reporting completeness by month")
    return by_unit, frame


# --- One ward, wards without data, finding names ---


def _ward_position(dataset: Dataset, part: _StateSlice, lga: str, ward: str) -> int:
    arrays = dataset.arrays
    wards = slice(part.first_ward, part.first_ward + part.n_wards)
    lga_key, ward_key = _lga_key(lga), name_key(clean_name(ward))
    lgas = np.array([name_key(x) for x in arrays.ward_lga[wards]], dtype=object)
    names = np.array([name_key(x) for x in arrays.ward_name[wards]], dtype=object)
    found = np.flatnonzero((lgas == lga_key) & (names == ward_key))
    if not len(found):
        lga_shown = next((str(x) for x in arrays.ward_lga[wards] if name_key(x) == lga_key), lga)
        raise TPRDataError(
            f"I couldn't find a ward called '{clean_name(ward)}' in {lga_shown} LGA of "
            f"{part.selection.state}."
        )
    return int(found[0])


def ward_detail(dataset: Dataset, selection: Selection, lga: str, ward: str) -> dict[str, Any]:
    """One ward (state, LGA, ward): its results-table row, each method's rate, its facilities
    (names, of the selected level and period) and its invalid pairs.

    Keys: the WARD_COLUMNS of the row (NaN -> None), `rates` {max, rdt, microscopy, combined},
    `facility_names`, `invalid_list` (QUALITY_COLUMNS), `period`, `title`, `selection`.
    """
    part = _state_slice(dataset, selection)
    position = _ward_position(dataset, part, lga, ward)
    result = compute_tpr(dataset, part.selection)
    row = result.wards.iloc[position]
    detail: dict[str, Any] = {column: _plain(row[column]) for column in WARD_COLUMNS}
    sums = [np.array([row[c]]) for c in ("rdt_tested", "rdt_positive", "microscopy_tested",
                                          "microscopy_positive")]  # fmt: skip
    detail["rates"] = {method: _plain(rates(*sums, method)[0][0])
                       for method in ("max", "rdt", "microscopy", "combined")}  # fmt: skip
    arrays = dataset.arrays
    local = np.flatnonzero(part.mask)
    in_ward = local[arrays.ward_id[part.start : part.end][local] == part.first_ward + position]
    facility = dataset.frame["facility"]
    codes = np.unique(facility.cat.codes.to_numpy()[part.start + in_ward])
    names = [str(facility.cat.categories[c]) for c in codes if c >= 0]
    detail["facility_names"] = sorted(names, key=str.casefold)
    detail["invalid_list"] = _invalid_rows(dataset, part, ward_local=position)
    detail["period"] = dict(result.period)
    detail["title"] = f"{row['ward']} ward ({row['lga']} LGA): {result.title}"
    detail["selection"] = result.selection
    return detail


def wards_without_data(result: TPRResult, dataset: Dataset) -> pd.DataFrame:
    """Every ward of the result whose TPR is blank, with why.

    `reason` is `no <level> facility` (reason_no_facility) when the file has no facility of the
    selected level in the ward, else `no valid tests` (REASON_NO_VALID_TESTS).
    """
    selection = result.selection
    wards = result.wards
    blank = wards["tpr"].isna().to_numpy()
    arrays = dataset.arrays
    start, end = arrays.state_bounds[selection.state]
    ward_ids = arrays.ward_id[start:end]
    first_ward = int(ward_ids.min())
    reason = np.full(len(wards), REASON_NO_VALID_TESTS, dtype=object)
    if selection.facility_level != "all":
        level = LEVEL_CATEGORIES.index(selection.facility_level)
        has_level = np.bincount(
            ward_ids - first_ward, weights=arrays.level_code[start:end] == level,
            minlength=len(wards),
        ) > 0  # fmt: skip
        reason[~has_level] = reason_no_facility(selection.facility_level)
    frame = wards.loc[blank, ["state", "lga", "ward", "facilities", "invalid_pairs"]].copy()
    frame["reason"] = reason[blank]
    return frame[WITHOUT_DATA_COLUMNS].reset_index(drop=True)


def _state_wards(dataset: Dataset, state: str) -> tuple[str, np.ndarray, np.ndarray]:
    name = resolve_state(dataset, state)
    start, end = dataset.arrays.state_bounds[name]
    ward_ids = dataset.arrays.ward_id[start:end]
    wards = slice(int(ward_ids.min()), int(ward_ids.max()) + 1)
    return name, dataset.arrays.ward_lga[wards], dataset.arrays.ward_name[wards]


def find_wards(dataset: Dataset, state: str, name: str) -> list[tuple[str, str, str]]:
    """(state, LGA, ward) of every ward of the state called `name` (case, spacing, a `Ward`
    suffix and the DHIS2 prefix do not matter). Several results: ask which LGA."""
    state_name, lgas, wards = _state_wards(dataset, state)
    wanted = name_key(clean_name(name))
    return [(state_name, str(lga), str(ward)) for lga, ward in zip(lgas, wards, strict=True)
            if name_key(ward) == wanted]  # fmt: skip


_LGA_WORDS = ("local government area", "local government", "lga")


def find_lga(dataset: Dataset, state: str, text: str) -> str | None:
    """The state's LGA that `text` names, loosely (`fufore lga`, `FUFORE`, `Fufor`), else None.

    Exact (case/spacing) first, then without `LGA`, then a unique prefix, then one close
    spelling (difflib ratio >= 0.8). Ambiguous text gives None.
    """
    _, lgas, _ = _state_wards(dataset, state)
    names = list(dict.fromkeys(str(x) for x in lgas))
    keys = {name_key(n): n for n in names}
    wanted = name_key(clean_name(text))
    if wanted in keys:
        return keys[wanted]
    wanted = _lga_key(text)
    if wanted in keys:
        return keys[wanted]
    if len(wanted) >= 3:
        prefixed = [n for k, n in keys.items() if k.startswith(wanted)]
        if len(prefixed) == 1:
            return prefixed[0]
    close = difflib.get_close_matches(wanted, list(keys), n=2, cutoff=0.8)
    if len(close) == 1 or (len(close) == 2 and _ratio(wanted, close[0]) > _ratio(wanted, close[1])):
        return keys[close[0]]
    return None


def _lga_key(text: str) -> str:
    """name_key of an LGA as typed, without a trailing `LGA` / `Local Government (Area)`."""
    key = name_key(clean_name(text))
    for word in _LGA_WORDS:
        if key.endswith(" " + word):
            return key[: -len(word) - 1].strip()
    return key


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


__all__ = [
    "COMPARE_COLUMNS",
    "COMPLETENESS_COLUMNS",
    "Comparison",
    "PROBLEM_OVER",
    "PROBLEM_WITHOUT_TESTS",
    "QUALITY_COLUMNS",
    "REASON_NO_VALID_TESTS",
    "TOTAL_COLUMNS",
    "compare_selections",
    "completeness",
    "completeness_by_month",
    "find_lga",
    "find_wards",
    "group_totals",
    "invalid_pairs_list",
    "period_text",
    "reason_no_facility",
    "ward_detail",
    "wards_without_data",
]
