"""Property tests on generated files, checked against a plain-Python reading of the rules."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from actions.tpr import (
    Selection,
    TPRDataError,
    compare_selections,
    compute_tpr,
    group_totals,
    invalid_pairs_list,
    load_dataset,
)
from tests.engine.nmep import HEADERS, MONTHS

LGAS = ["Fufore", "Song", "Girei"]
WARDS = ["Yelwa", "Bille", "Gurin"]  # every ward name can occur in every LGA
AGES = ["u5", "o5", "pw"]
cell = st.one_of(st.none(), st.integers(0, 30))
rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 2),  # LGA
        st.integers(0, 2),  # ward
        st.integers(0, 1),  # facility within the ward
        st.sampled_from(["Primary", "Secondary"]),
        st.integers(1, 3),  # month
        st.lists(cell, min_size=12, max_size=12),
    ),
    min_size=1,
    max_size=25,
)
SETTINGS = settings(max_examples=20, deadline=None)


def csv_bytes(rows) -> bytes:
    head = ["State", "LGA", "WardName", "HealthFacility", "FacilityLevel", "periodname",
            "periodcode", *HEADERS.values()]  # fmt: skip
    lines = [",".join(head)]
    for lga, ward, facility, level, month, values in rows:
        cells = ["Adamawa State", LGAS[lga], WARDS[ward], f"{WARDS[ward]} F{facility}", level,
                 f"{MONTHS[month - 1]} 2024", f"2024{month:02d}"]  # fmt: skip
        cells += ["" if v is None else str(v) for v in values]
        lines.append(",".join(cells))
    return "\n".join(lines).encode()


def pair(tested, positive) -> tuple[int, int, int]:
    """(tests, positives, invalid) of one cell pair, straight from the validity table."""
    if tested is not None and tested > 0:
        if positive is None:
            return tested, 0, 0
        if 0 <= positive <= tested:
            return tested, positive, 0
        return 0, 0, 1
    if positive is not None and positive > 0:
        return 0, 0, 1
    return 0, 0, 0


def reference(rows, ages: list[str]) -> dict[tuple[str, str], dict[str, int]]:
    keys = list(HEADERS)
    out: dict[tuple[str, str], dict[str, int]] = {}
    for lga, ward, _, _, _, values in rows:
        cells = dict(zip(keys, values, strict=True))
        sums = out.setdefault((LGAS[lga], WARDS[ward]), {"rt": 0, "rp": 0, "mt": 0, "mp": 0,
                                                          "bad": 0})  # fmt: skip
        for age in ages:
            for method, t_key, p_key in (("r", "rt", "rp"), ("m", "mt", "mp")):
                short = "rdt" if method == "r" else "mic"
                t, p, bad = pair(cells[f"{short}_t_{age}"], cells[f"{short}_p_{age}"])
                sums[t_key] += t
                sums[p_key] += p
                sums["bad"] += bad
    return out


@SETTINGS
@given(rows=rows_strategy, age=st.sampled_from(["u5", "o5", "pw", "all"]),
       method=st.sampled_from(["max", "rdt", "microscopy", "combined"]))  # fmt: skip
def test_sums_bounds_and_ward_keys(rows, age: str, method: str) -> None:
    result = compute_tpr(load_dataset(csv_bytes(rows), "p.csv"), Selection("Adamawa", "all",
                                                                          age, method))  # fmt: skip
    wards = result.wards
    expected = reference(rows, AGES if age == "all" else [age])
    # One row per distinct (LGA, ward) pair: ward names repeat across LGAs.
    assert len(wards) == len({(LGAS[r[0]], WARDS[r[1]]) for r in rows})
    assert set(zip(wards["lga"], wards["ward"], strict=True)) == set(expected)
    for ward in wards.itertuples():
        ref = expected[(ward.lga, ward.ward)]
        assert (ward.rdt_tested, ward.rdt_positive) == (ref["rt"], ref["rp"])
        assert (ward.microscopy_tested, ward.microscopy_positive) == (ref["mt"], ref["mp"])
        assert ward.invalid_pairs == ref["bad"]
        if not math.isnan(ward.tpr):
            assert 0 <= ward.tpr <= 100
            assert ward.tested > 0 and ward.tpr == 100 * ward.positive / ward.tested
        else:
            assert ward.method == "none"
    # Ward figures add up to the LGA totals and to the state total.
    for column in ("rdt_tested", "rdt_positive", "microscopy_tested", "microscopy_positive",
                   "invalid_pairs", "facilities"):  # fmt: skip
        assert wards[column].sum() == result.lgas[column].sum() == result.state_total[column]
        by_lga = wards.groupby("lga")[column].sum()
        assert (by_lga == result.lgas.set_index("lga")[column]).all()
    assert result.lgas["wards"].sum() == len(wards)


@SETTINGS
@given(rows=rows_strategy, age=st.sampled_from(["u5", "o5", "pw", "all"]))
def test_max_picks_the_higher_method_whole(rows, age: str) -> None:
    result = compute_tpr(
        load_dataset(csv_bytes(rows), "p.csv"), Selection("Adamawa", age_group=age)
    )
    for ward in result.wards.itertuples():
        rdt, mic = ward.rdt_tpr, ward.microscopy_tpr
        if math.isnan(rdt) and math.isnan(mic):
            assert math.isnan(ward.tpr) and ward.method == "none" and ward.tested == 0
        elif math.isnan(mic) or (not math.isnan(rdt) and rdt >= mic):  # a tie goes to RDT
            assert ward.method == "rdt" and ward.tpr == rdt
            assert (ward.tested, ward.positive) == (ward.rdt_tested, ward.rdt_positive)
        else:
            assert ward.method == "microscopy" and ward.tpr == mic
            assert (ward.tested, ward.positive) == (
                ward.microscopy_tested, ward.microscopy_positive)  # fmt: skip


# --- The questions after the results (actions/tpr/analysis.py) ---


def plain_rate(tested: int, positive: int) -> float | None:
    return 100 * positive / tested if tested > 0 else None


def plain_max(sums: dict[str, int]) -> tuple[str, float | None]:
    """The `max` rule on plain sums: microscopy only when strictly higher, a tie goes to RDT."""
    rdt, mic = plain_rate(sums["rt"], sums["rp"]), plain_rate(sums["mt"], sums["mp"])
    if rdt is None and mic is None:
        return "none", None
    if mic is not None and (rdt is None or mic > rdt):
        return "microscopy", mic
    return "rdt", rdt


@SETTINGS
@given(rows=rows_strategy, age=st.sampled_from(["u5", "o5", "pw", "all"]))
def test_lga_sums_equal_the_sums_of_their_wards(rows, age: str) -> None:
    dataset = load_dataset(csv_bytes(rows), "p.csv")
    lgas = group_totals(dataset, Selection("Adamawa", age_group=age)).set_index("lga")
    per_ward = reference(rows, AGES if age == "all" else [age])
    assert set(lgas.index) == {lga for lga, _ in per_ward}
    for lga, line in lgas.iterrows():
        sums = {k: sum(v[k] for (l_, _), v in per_ward.items() if l_ == lga)
                for k in ("rt", "rp", "mt", "mp", "bad")}  # fmt: skip
        assert (line["rdt_tested"], line["rdt_positive"]) == (sums["rt"], sums["rp"])
        assert (line["microscopy_tested"], line["microscopy_positive"]) == (sums["mt"], sums["mp"])
        assert line["invalid_pairs"] == sums["bad"]
        assert line["wards"] == sum(1 for l_, _ in per_ward if l_ == lga)
        method, rate = plain_max(sums)  # the rule on the LGA's sums, not a mean of wards
        assert line["method"] == method
        assert (math.isnan(line["tpr"]) and rate is None) or line["tpr"] == pytest.approx(rate)


selection_strategy = st.fixed_dictionaries({
    "age_group": st.sampled_from(["u5", "o5", "pw", "all"]),
    "method": st.sampled_from(["max", "rdt", "microscopy", "combined"]),
    "period_from": st.sampled_from([None, "202401", "202402"]),
    "period_to": st.sampled_from([None, "202402", "202403"]),
})  # fmt: skip


@SETTINGS
@given(rows=rows_strategy, a=selection_strategy, b=selection_strategy)
def test_comparison_columns_equal_compute_for_each_side(rows, a: dict, b: dict) -> None:
    dataset = load_dataset(csv_bytes(rows), "p.csv")
    sel_a, sel_b = Selection("Adamawa", **a), Selection("Adamawa", **b)
    try:
        expected_a, expected_b = compute_tpr(dataset, sel_a), compute_tpr(dataset, sel_b)
        comparison = compare_selections(dataset, sel_a, sel_b)
    except TPRDataError:  # an empty period range, or B the same as A
        assume(False)
        return
    wards = comparison.wards
    for side, expected in (("a", expected_a.wards), ("b", expected_b.wards)):
        assert list(wards["ward"]) == list(expected["ward"])
        assert list(wards["lga"]) == list(expected["lga"])
        for column in ("tested", "positive", "method"):
            assert list(wards[f"{side}_{column}"]) == list(expected[column])
        pd.testing.assert_series_equal(wards[f"{side}_tpr"], expected["tpr"], check_names=False)
    for line in wards.itertuples():
        if math.isnan(line.a_tpr) or math.isnan(line.b_tpr):
            assert math.isnan(line.difference)
        else:
            assert line.difference == line.b_tpr - line.a_tpr


@SETTINGS
@given(rows=rows_strategy, age=st.sampled_from(["u5", "o5", "pw", "all"]),
       method=st.sampled_from(["max", "rdt", "microscopy", "combined"]))  # fmt: skip
def test_invalid_list_length_equals_invalid_pairs(rows, age: str, method: str) -> None:
    dataset = load_dataset(csv_bytes(rows), "p.csv")
    selection = Selection("Adamawa", age_group=age, method=method)
    pairs = invalid_pairs_list(dataset, selection)
    expected = sum(v["bad"] for v in reference(rows, AGES if age == "all" else [age]).values())
    assert len(pairs) == compute_tpr(dataset, selection).quality["invalid_pairs"] == expected
    for line in pairs.itertuples():
        tested = None if pd.isna(line.tested) else int(line.tested)
        assert pair(tested, int(line.positive))[2] == 1  # each listed pair is invalid
        rule = "positive > tested" if tested else "positive without tested"
        assert line.problem == rule
    counts = pairs.groupby(["lga", "ward", "facility"], sort=False).size().to_list()
    assert counts == sorted(counts, reverse=True)  # most frequent offender first
