"""Properties of series on generated files over a year boundary, against plain Python."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from actions.tpr import Selection, compute_tpr, load_dataset, trend
from tests.engine.multiyear import month_row, multiyear_csv
from tests.engine.nmep import HEADERS
from tests.engine.test_properties import pair

LGAS = ["Fufore", "Song"]
WARDS = ["Yelwa", "Bille"]  # both names in both LGAs
MONTH_CODES = [202311, 202312, 202401, 202402]
FIXED_METHODS = ("rdt", "microscopy", "combined")
cell = st.one_of(st.none(), st.integers(0, 30))
rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 1),  # LGA
        st.integers(0, 1),  # ward
        st.sampled_from(["primary", "secondary"]),
        st.sampled_from(MONTH_CODES),
        st.lists(cell, min_size=12, max_size=12),
    ),
    min_size=1,
    max_size=25,
)
SETTINGS = settings(max_examples=25, deadline=None)


def dataset_of(rows):
    built = [
        month_row(
            "Adamawa",
            LGAS[lga],
            WARDS[ward],
            f"{WARDS[ward]} F",
            level,
            code,
            **dict(zip(HEADERS, values, strict=True)),
        )  # fmt: skip
        for lga, ward, level, code, values in rows
    ]
    return load_dataset(multiyear_csv(built), "p.csv")


def reference_sums(rows, age: str) -> dict[tuple[str, str, int], list[int]]:
    """(lga, ward, month) -> [rdt T, rdt P, microscopy T, microscopy P] by the validity table."""
    ages = ["u5", "o5", "pw"] if age == "all" else [age]
    out: dict[tuple[str, str, int], list[int]] = {}
    for lga, ward, _, code, values in rows:
        cells = dict(zip(HEADERS, values, strict=True))
        sums = out.setdefault((LGAS[lga], WARDS[ward], code), [0, 0, 0, 0])
        for a in ages:
            for offset, short in ((0, "rdt"), (2, "mic")):
                t, p, _ = pair(cells[f"{short}_t_{a}"], cells[f"{short}_p_{a}"])
                sums[offset] += t
                sums[offset + 1] += p
    return out


def plain_rule(rt: int, rp: int, mt: int, mp: int, method: str) -> tuple[float, int, str]:
    """(tpr, tested, method) from one unit-period's sums, tpr-method.md "Per ward"."""
    if method == "rdt":
        return (100 * rp / rt if rt else math.nan), rt, "rdt" if rt else "none"
    if method == "microscopy":
        return (100 * mp / mt if mt else math.nan), mt, "microscopy" if mt else "none"
    if method == "combined":
        t = rt + mt
        return (100 * (rp + mp) / t if t else math.nan), t, "combined" if t else "none"
    if not rt and not mt:
        return math.nan, 0, "none"
    if mt and (not rt or mp / mt > rp / rt):
        return 100 * mp / mt, mt, "microscopy"
    return 100 * rp / rt, rt, "rdt"


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12)


@SETTINGS
@given(rows=rows_strategy, age=st.sampled_from(["u5", "o5", "pw", "all"]),
       method=st.sampled_from(["max", *FIXED_METHODS]),
       unit=st.sampled_from(["state", "lga", "ward"]))  # fmt: skip
def test_series_matches_plain_python(rows, age: str, method: str, unit: str) -> None:
    """Every (unit, month) of the file is present; figures follow the rule on its own sums."""
    series = trend(dataset_of(rows), Selection("Adamawa", age_group=age, method=method), unit=unit)
    months = sorted({code for *_, code, _ in rows})
    assert list(dict.fromkeys(series["period"])) == [str(m) for m in months]
    sums: dict[tuple[str, str, str], list[int]] = {}
    for (lga, ward, code), four in reference_sums(rows, age).items():
        key = {"state": ("", ""), "lga": (lga, ""), "ward": (lga, ward)}[unit]
        total = sums.setdefault((*key, str(code)), [0, 0, 0, 0])
        for i in range(4):
            total[i] += four[i]
    units = {(lga, ward) for lga, ward, _ in sums}
    assert len(series) == len(units) * len(months)
    for row in series.itertuples():
        four = sums.get((row.lga, row.ward, row.period), [0, 0, 0, 0])
        tpr, tested, chosen = plain_rule(*four, method)
        assert same(row.tpr, tpr) and row.tested == tested and row.method == chosen
        assert math.isnan(row.tpr) or 0 <= row.tpr <= 100


@SETTINGS
@given(rows=rows_strategy, age=st.sampled_from(["u5", "all"]),
       level=st.sampled_from(["primary", "all"]))  # fmt: skip
def test_series_sums_equal_compute_for_the_whole_range(rows, age: str, level: str) -> None:
    """Summing a series' per-period figures gives compute_tpr for the whole range.

    With a fixed method the `tested`/`positive` columns add up; under `max` the method can
    change per period, so the per-method sums (the fixed-method series) are compared.
    """
    data = dataset_of(rows)
    if level == "primary" and not any(r[2] == "primary" for r in rows):
        return
    for method in FIXED_METHODS:
        selection = Selection("Adamawa", facility_level=level, age_group=age, method=method)
        whole = compute_tpr(data, selection)
        series = trend(data, selection, unit="ward")
        summed = series.groupby(["lga", "ward"])[["tested", "positive"]].sum()
        for ward in whole.wards.itertuples():
            assert tuple(summed.loc[(ward.lga, ward.ward)]) == (ward.tested, ward.positive)
        state = trend(data, selection)
        assert state["tested"].sum() == whole.state_total["tested"]
    maximum = compute_tpr(data, Selection("Adamawa", facility_level=level, age_group=age))
    for method, column in (("rdt", "rdt_tested"), ("microscopy", "microscopy_tested")):
        series = trend(data, Selection("Adamawa", facility_level=level, age_group=age,
                                       method=method))  # fmt: skip
        assert series["tested"].sum() == maximum.state_total[column]


@SETTINGS
@given(rows=rows_strategy, method=st.sampled_from(["max", *FIXED_METHODS]),
       unit=st.sampled_from(["state", "lga", "ward"]))  # fmt: skip
def test_series_by_year_is_months_summed_per_year(rows, method: str, unit: str) -> None:
    """Per-method month sums added over each year, the rule re-applied, give the year series."""
    data = dataset_of(rows)
    yearly = trend(data, Selection("Adamawa", method=method), by="year", unit=unit)
    monthly = {
        m: trend(data, Selection("Adamawa", method=m), unit=unit) for m in ("rdt", "microscopy")
    }
    sums: dict[tuple[str, str, str], list[int]] = {}
    for offset, m in ((0, "rdt"), (2, "microscopy")):
        for row in monthly[m].itertuples():
            total = sums.setdefault((row.lga, row.ward, row.period[:4]), [0, 0, 0, 0])
            total[offset] += row.tested
            total[offset + 1] += row.positive
    assert len(yearly) == len(sums)
    for row in yearly.itertuples():
        tpr, tested, chosen = plain_rule(*sums[(row.lga, row.ward, row.period)], method)
        assert same(row.tpr, tpr) and row.tested == tested and row.method == chosen
