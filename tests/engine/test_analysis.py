"""The questions after the results, on ANALYSIS_ROWS (conftest.py); every figure worked by hand.

Ward sums (all levels, all ages, all months), from the rows:
- Fufore/Bille: RDT counted u5 10/4 + o5 20/0 = 30/4 (13.33 %); pw 5/7 and month 2 invalid.
  Microscopy PHC 8/2 + 4/4, Lab 6/3 + 10/1 = 28/10 (35.71 %); Lab pw 2/5 invalid. Max: microscopy.
- Fufore/Yelwa: RDT 10/5 and microscopy 4/2, both 50 %: RDT (tie).
- Fufore LGA: RDT 40/9 (22.5 %), microscopy 32/12 (37.5 %): microscopy, unlike its Yelwa ward.
- Song/Yelwa RDT 100/40 (40 %); Song/Karlahi no valid test; Song/Dumne RDT 20/5 (25 %), March only.
- Song LGA: RDT 120/45 (37.5 %). State: RDT 160/54 (33.75 %), microscopy 32/12 (37.5 %).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from actions.tpr import (
    COMPARE_COLUMNS,
    QUALITY_COLUMNS,
    Dataset,
    Selection,
    TPRDataError,
    compare_selections,
    completeness,
    completeness_by_month,
    completeness_tables,
    compute_tpr,
    find_lga,
    find_wards,
    group_totals,
    invalid_pairs_list,
    load_dataset,
    ward_detail,
    wards_without_data,
)
from actions.tpr.calc import TOTAL_COLUMNS
from tests.engine.conftest import ANALYSIS_ROWS
from tests.engine.nmep import row, table, write_csv

ALL = Selection("Adamawa")
JAN_FEB = Selection("Adamawa", period_from="202401", period_to="202402")


def by_ward(frame: pd.DataFrame) -> dict[tuple[str, str], dict]:
    return {(r["lga"], r["ward"]): r for r in frame.to_dict("records")}


def blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --- group totals ---


def test_lga_totals_apply_the_rule_to_sums_and_can_pick_another_method(analysis: Dataset):
    lgas = group_totals(analysis, ALL, "lga").set_index("lga")
    expected_columns = ["state", "lga", "wards", "wards_with_data", *TOTAL_COLUMNS]
    assert list(group_totals(analysis, ALL).columns) == expected_columns
    fufore = lgas.loc["Fufore"]
    assert (fufore["rdt_tested"], fufore["rdt_positive"]) == (40, 9)
    assert (fufore["microscopy_tested"], fufore["microscopy_positive"]) == (32, 12)
    assert fufore["method"] == "microscopy" and fufore["tpr"] == pytest.approx(37.5)
    assert (fufore["tested"], fufore["positive"]) == (32, 12)
    assert (fufore["wards"], fufore["wards_with_data"], fufore["invalid_pairs"]) == (2, 2, 4)
    # ... while its Yelwa ward takes RDT (a tie), and the LGA is not the mean of its wards.
    ward = by_ward(compute_tpr(analysis, ALL).wards)[("Fufore", "Yelwa")]
    assert ward["method"] == "rdt" and ward["tpr"] == pytest.approx(50.0)
    assert fufore["tpr"] != pytest.approx((50.0 + 100 * 10 / 28) / 2)
    song = lgas.loc["Song"]
    assert (song["method"], song["tested"], song["positive"]) == ("rdt", 120, 45)
    assert (song["wards"], song["wards_with_data"]) == (3, 2)
    assert math.isnan(song["microscopy_tpr"])  # no microscopy test: blank, not 0


def test_state_total(analysis: Dataset) -> None:
    state = group_totals(analysis, ALL, "state")
    assert len(state) == 1 and "lga" not in state.columns
    row = state.iloc[0]
    assert (row["rdt_tested"], row["rdt_positive"]) == (160, 54)
    assert (row["method"], row["tested"], row["positive"]) == ("microscopy", 32, 12)
    assert row["tpr"] == pytest.approx(37.5) and row["rdt_tpr"] == pytest.approx(33.75)
    assert (row["wards"], row["wards_with_data"]) == (5, 4)


def test_group_totals_unknown_unit(analysis: Dataset) -> None:
    with pytest.raises(TPRDataError, match="not a unit"):
        group_totals(analysis, ALL, "facility")


def test_a_period_range_that_empties_a_ward_keeps_it_blank(analysis: Dataset) -> None:
    wards = by_ward(compute_tpr(analysis, JAN_FEB).wards)
    dumne = wards[("Song", "Dumne")]
    assert blank(dumne["tpr"]) and dumne["method"] == "none" and dumne["tested"] == 0
    # Bille without March: RDT 30/4, microscopy Lab 6/3 + 10/1 = 16/4 (25 %) -> microscopy.
    bille = wards[("Fufore", "Bille")]
    assert (bille["method"], bille["tested"], bille["positive"]) == ("microscopy", 16, 4)
    song = group_totals(analysis, JAN_FEB).set_index("lga").loc["Song"]
    assert (song["wards"], song["wards_with_data"], song["tested"]) == (3, 1, 100)


# --- comparison ---


def test_comparison_with_b_blank_and_difference_in_points(analysis: Dataset) -> None:
    comparison = compare_selections(analysis, ALL, Selection("Adamawa", age_group="pw"))
    assert list(comparison.wards.columns) == COMPARE_COLUMNS
    assert len(comparison.wards) == 5  # every ward of the state
    rows = by_ward(comparison.wards)
    # Bille, pregnant women: RDT 5/7 and microscopy 2/5 are both invalid -> B blank.
    bille = rows[("Fufore", "Bille")]
    assert bille["a_tpr"] == pytest.approx(100 * 10 / 28) and bille["a_method"] == "microscopy"
    assert blank(bille["b_tpr"]) and bille["b_method"] == "none" and blank(bille["difference"])
    assert comparison.label_a == "all ages" and comparison.label_b == "pregnant women"
    assert comparison.changed == ("age_group",)
    assert comparison.counts()["compared"] == 0  # no ward has pregnant-women tests


def test_comparison_under_5_worked_by_hand(analysis: Dataset) -> None:
    comparison = compare_selections(analysis, ALL, Selection("Adamawa", age_group="u5"))
    rows = by_ward(comparison.wards)
    # Bille u5: RDT 10/4 = 40 %, microscopy 8/2 + 6/3 = 14/5 = 35.71 % -> RDT 40 %.
    bille = rows[("Fufore", "Bille")]
    assert (bille["b_tested"], bille["b_positive"], bille["b_method"]) == (10, 4, "rdt")
    assert bille["difference"] == pytest.approx(40.0 - 100 * 10 / 28)
    assert rows[("Song", "Yelwa")]["difference"] == 0
    assert blank(rows[("Song", "Karlahi")]["difference"])  # blank on both sides
    top = comparison.most_different(2)
    assert (top.iloc[0]["lga"], top.iloc[0]["ward"]) == ("Fufore", "Bille")
    assert len(comparison.most_different(10)) == 4  # Karlahi has no difference
    assert comparison.counts() == {"wards": 5, "compared": 4, "b_higher": 1, "b_lower": 0,
                                   "equal": 3, "blank_in_a": 1, "blank_in_b": 1}  # fmt: skip
    assert "Adamawa" in comparison.title and "under 5 (B)" in comparison.title


def test_comparison_of_periods_a_side_blank_and_title(analysis: Dataset) -> None:
    comparison = compare_selections(analysis, ALL, JAN_FEB)
    rows = by_ward(comparison.wards)
    dumne = rows[("Song", "Dumne")]
    assert dumne["a_tpr"] == pytest.approx(25.0) and blank(dumne["b_tpr"])
    assert blank(dumne["difference"])
    assert rows[("Fufore", "Bille")]["difference"] == pytest.approx(25.0 - 100 * 10 / 28)
    assert comparison.label_a == "January 2024 to March 2024"
    assert comparison.label_b == "January 2024 to February 2024"


def test_comparison_of_levels_and_methods(analysis: Dataset) -> None:
    comparison = compare_selections(
        analysis, Selection("Adamawa", "primary", method="rdt"),
        Selection("Adamawa", "secondary", method="microscopy"),
    )  # fmt: skip
    rows = by_ward(comparison.wards)
    # Bille: primary RDT 30/4; secondary microscopy (the Lab) 6/3 + 10/1 = 16/4 = 25 %.
    bille = rows[("Fufore", "Bille")]
    assert bille["a_tpr"] == pytest.approx(100 * 4 / 30) and bille["b_tpr"] == pytest.approx(25)
    assert blank(rows[("Fufore", "Yelwa")]["b_tpr"])  # no secondary facility there
    assert comparison.changed == ("facility_level", "method")


def test_comparison_refusals(analysis: Dataset) -> None:
    with pytest.raises(TPRDataError, match="same"):
        compare_selections(analysis, ALL, Selection("adamawa state"))
    # The file's full range written out is the same period as no range.
    with pytest.raises(TPRDataError, match="same"):
        compare_selections(analysis, ALL, Selection("Adamawa", period_from="202401"))
    with pytest.raises(TPRDataError, match="one state"):
        compare_selections(analysis, ALL, Selection("Kwara", age_group="u5"))
    with pytest.raises(TPRDataError, match="this file covers January 2024 to March 2024"):
        compare_selections(analysis, ALL, Selection("Adamawa", period_from="202501"))


# --- invalid pairs ---


def test_invalid_list_each_rule_and_order(analysis: Dataset) -> None:
    pairs = invalid_pairs_list(analysis, ALL)
    assert list(pairs.columns) == QUALITY_COLUMNS
    got = [(r["facility"], r["period"], r["method"], r["age_group"],
            None if pd.isna(r["tested"]) else int(r["tested"]), int(r["positive"]), r["problem"])
           for r in pairs.to_dict("records")]  # fmt: skip
    # Bille PHC has three bad pairs, the Lab one: the PHC comes first (not alphabetical).
    assert got == [
        ("Bille PHC", "202401", "rdt", "pw", 5, 7, "positive > tested"),
        ("Bille PHC", "202402", "rdt", "u5", None, 3, "positive without tested"),
        ("Bille PHC", "202402", "rdt", "o5", 0, 2, "positive without tested"),
        ("Bille Lab", "202402", "microscopy", "pw", 2, 5, "positive > tested"),
    ]
    assert set(zip(pairs["state"], pairs["lga"], pairs["ward"], strict=True)) == {
        ("Adamawa", "Fufore", "Bille")}  # fmt: skip
    assert len(pairs) == compute_tpr(analysis, ALL).quality["invalid_pairs"] == 4


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (Selection("Adamawa", method="rdt"), 4),  # both methods, whatever the method
        (Selection("Adamawa", age_group="u5"), 1),  # the blank-T pair of February
        (Selection("Adamawa", "secondary"), 1),  # the Lab's microscopy pair
        (Selection("Adamawa", period_to="202401"), 1),  # January only
        (Selection("Kwara"), 0),
    ],
)
def test_invalid_list_follows_the_selection(analysis: Dataset, selection, expected) -> None:
    pairs = invalid_pairs_list(analysis, selection)
    assert len(pairs) == expected == compute_tpr(analysis, selection).quality["invalid_pairs"]
    assert list(pairs.columns) == QUALITY_COLUMNS


# --- completeness ---


def test_completeness_by_lga_weakest_first(analysis: Dataset) -> None:
    frame = completeness(analysis, ALL, "lga")
    assert list(frame["lga"]) == ["Song", "Fufore"]  # any method: 60 % before 71.4 %
    song, fufore = frame.iloc[0], frame.iloc[1]
    # Fufore: 7 facility-months (PHC 3, Lab 3, Yelwa HP 1). RDT: PHC Jan, HP Jan. Microscopy:
    # PHC Mar, Lab Jan and Feb, HP Jan. February at the PHC has no tested figure > 0.
    assert (fufore["facility_months"], fufore["rdt_reporting"], fufore["microscopy_reporting"],
            fufore["any_reporting"]) == (7, 2, 4, 5)  # fmt: skip
    assert fufore["rdt_completeness"] == pytest.approx(100 * 2 / 7)
    assert fufore["microscopy_completeness"] == pytest.approx(100 * 4 / 7)
    # Song: 5 facility-months (Yelwa GH 2, Karlahi 2, Dumne 1); RDT 3, microscopy none.
    assert (song["facility_months"], song["rdt_reporting"], song["microscopy_reporting"]) == (
        5, 3, 0)  # fmt: skip
    assert song["microscopy_completeness"] == 0.0
    # The age group does not matter.
    same = completeness(analysis, Selection("Adamawa", age_group="pw"), "lga")
    pd.testing.assert_frame_equal(frame, same)


def test_completeness_of_a_microscopy_only_facility(analysis: Dataset) -> None:
    wards = by_ward(completeness(analysis, Selection("Adamawa", "secondary"), "ward"))
    lab = wards[("Fufore", "Bille")]  # only the Lab is secondary in Bille
    assert (lab["facility_months"], lab["rdt_reporting"], lab["microscopy_reporting"]) == (3, 0, 2)
    assert lab["rdt_completeness"] == 0.0  # reports, but never RDT: 0 %, not blank
    assert lab["microscopy_completeness"] == pytest.approx(100 * 2 / 3)
    # Fufore/Yelwa has no secondary facility: no facility-month, completeness blank (not 0).
    yelwa = wards[("Fufore", "Yelwa")]
    assert yelwa["facility_months"] == 0 and blank(yelwa["rdt_completeness"])
    assert len(wards) == 5
    bille_all = by_ward(completeness(analysis, ALL, "ward"))[("Fufore", "Bille")]
    assert (bille_all["facility_months"], bille_all["rdt_reporting"],
            bille_all["microscopy_reporting"]) == (6, 1, 3)  # fmt: skip


def test_completeness_state_and_bad_unit(analysis: Dataset) -> None:
    state = completeness(analysis, ALL, "state")
    assert len(state) == 1 and state.iloc[0]["facility_months"] == 12
    assert state.iloc[0]["any_reporting"] == 8
    with pytest.raises(TPRDataError):
        completeness(analysis, ALL, "country")


def test_completeness_by_month_grid(analysis: Dataset) -> None:
    frame = completeness_by_month(analysis, Selection("Adamawa", "secondary"))
    assert list(frame.columns) == ["state", "lga", "period", "facility_months", "rdt_reporting",
                                   "rdt_completeness", "microscopy_reporting",
                                   "microscopy_completeness", "any_reporting",
                                   "any_completeness"]  # fmt: skip
    cells = {(r["lga"], r["period"]): r for r in frame.to_dict("records")}
    assert len(frame) == 6  # 2 LGAs x 3 months, even where nothing reports
    # Song's only secondary facility (Yelwa GH) reports in January and February, not March.
    march = cells[("Song", "202403")]
    assert march["facility_months"] == 0 and blank(march["rdt_completeness"])
    # The Lab is in the file in March without any figure: a facility-month at 0 %.
    lab_march = cells[("Fufore", "202403")]
    assert lab_march["facility_months"] == 1 and lab_march["microscopy_completeness"] == 0.0
    assert cells[("Fufore", "202402")]["microscopy_completeness"] == 100.0
    # Fufore (the Lab: microscopy 2 of 3, RDT 0) is weaker than Song (RDT 2 of 2): first.
    assert list(frame["lga"]) == ["Fufore"] * 3 + ["Song"] * 3
    assert list(frame["period"][:3]) == ["202401", "202402", "202403"]
    assert "secondary facilities" in frame.attrs["title"]


def test_completeness_tables_in_one_pass_agree(analysis: Dataset) -> None:
    """The answer's two tables come from one pass: each unit's months add up to its row, the
    grid keeps the table's weakest-first unit order, and both name the selection."""
    by_lga, by_month = completeness_tables(analysis, Selection("Adamawa", "secondary"))
    assert list(by_lga["lga"]) == ["Fufore", "Song"]  # the Lab (microscopy 2 of 3) is weaker
    fufore = by_lga.iloc[0]
    assert (fufore["facility_months"], fufore["microscopy_reporting"]) == (3, 2)
    assert fufore["microscopy_completeness"] == pytest.approx(100 * 2 / 3)
    assert list(dict.fromkeys(by_month["lga"])) == list(by_lga["lga"])
    for lga, months in by_month.groupby("lga", sort=False):
        row = by_lga[by_lga["lga"] == lga].iloc[0]
        for column in ("facility_months", "rdt_reporting", "microscopy_reporting"):
            assert months[column].sum() == row[column], (lga, column)
    assert by_lga.attrs["title"].startswith("Reporting completeness: Adamawa")
    assert by_month.attrs["title"].startswith("Reporting completeness by month: Adamawa")


# --- one ward, wards without data, names ---


def test_ward_detail(analysis: Dataset) -> None:
    detail = ward_detail(analysis, ALL, "fufore lga", "Bille Ward")
    assert (detail["state"], detail["lga"], detail["ward"]) == ("Adamawa", "Fufore", "Bille")
    assert (detail["method"], detail["tested"], detail["positive"]) == ("microscopy", 28, 10)
    assert detail["rates"]["rdt"] == pytest.approx(100 * 4 / 30)
    assert detail["rates"]["microscopy"] == pytest.approx(100 * 10 / 28)
    assert detail["rates"]["combined"] == pytest.approx(100 * 14 / 58)
    assert detail["rates"]["max"] == pytest.approx(100 * 10 / 28)
    assert detail["facility_names"] == ["Bille Lab", "Bille PHC"]
    assert detail["facilities"] == 2 and detail["invalid_pairs"] == 4
    assert len(detail["invalid_list"]) == 4
    primary = ward_detail(analysis, Selection("Adamawa", "primary"), "Fufore", "Bille")
    assert primary["facility_names"] == ["Bille PHC"] and len(primary["invalid_list"]) == 3
    karlahi = ward_detail(analysis, ALL, "Song", "Karlahi")
    assert karlahi["tpr"] is None and karlahi["rates"]["rdt"] is None
    with pytest.raises(TPRDataError, match="couldn't find a ward called 'Bille' in Song"):
        ward_detail(analysis, ALL, "Song", "Bille")


def test_wards_without_data_and_reasons(analysis: Dataset) -> None:
    primary = compute_tpr(analysis, Selection("Adamawa", "primary"))
    frame = wards_without_data(primary, analysis)
    assert list(frame.columns)[:4] == ["state", "lga", "ward", "reason"]
    assert [(r["lga"], r["ward"], r["reason"]) for r in frame.to_dict("records")] == [
        ("Song", "Karlahi", "no valid tests"),
        ("Song", "Yelwa", "no primary facility"),
    ]
    emptied = wards_without_data(compute_tpr(analysis, JAN_FEB), analysis)
    assert {(r["ward"], r["reason"]) for r in emptied.to_dict("records")} == {
        ("Karlahi", "no valid tests"), ("Dumne", "no valid tests")}  # fmt: skip


def test_shared_ward_name_in_two_lgas(analysis: Dataset) -> None:
    assert find_wards(analysis, "adamawa", "yelwa ward") == [
        ("Adamawa", "Fufore", "Yelwa"), ("Adamawa", "Song", "Yelwa")]  # fmt: skip
    assert find_wards(analysis, "Adamawa", " BILLE ") == [("Adamawa", "Fufore", "Bille")]
    assert find_wards(analysis, "Adamawa", "Gure") == []  # a Kwara ward
    fufore = ward_detail(analysis, ALL, "Fufore", "Yelwa")
    song = ward_detail(analysis, ALL, "Song", "Yelwa")
    assert (fufore["tested"], song["tested"]) == (10, 100)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fufore", "Fufore"),
        ("fufore LGA", "Fufore"),
        ("SONG local government area", "Song"),
        ("fuf", "Fufore"),
        ("Fuforre", "Fufore"),
        ("Kwkokogu", None),
        ("", None),
        ("Baruten", None),
    ],  # fmt: skip
)
def test_find_lga(analysis: Dataset, text: str, expected: str | None) -> None:
    assert find_lga(analysis, "Adamawa", text) == expected


def test_a_blank_lga_or_facility_is_never_shown_as_another_name(tmp_path) -> None:
    from actions.tpr import load_dataset
    from tests.engine.nmep import row, table, write_csv

    rows = [*ANALYSIS_ROWS, row("Adamawa", "", "Lonely", "", "primary", 1, rdt_t_u5=5,
                                rdt_p_u5=9)]  # fmt: skip
    dataset = load_dataset(write_csv(table(rows, "C"), tmp_path / "blank.csv"))
    lgas = group_totals(dataset, ALL)
    assert sorted(lgas["lga"]) == ["", "Fufore", "Song"]
    assert lgas.set_index("lga").loc["Song", "wards"] == 3  # the blank-LGA ward is not Song's
    lonely = invalid_pairs_list(dataset, ALL).query("ward == 'Lonely'")
    assert list(lonely["lga"]) == [""] and list(lonely["facility"]) == [""]


def test_a_reversed_period_range_is_refused_in_words(analysis: Dataset) -> None:
    with pytest.raises(TPRDataError, match=r"starts \(March 2024\) after it ends \(January 2024\)"):
        compare_selections(analysis, ALL, Selection("Adamawa", period_from="202403",
                                                    period_to="January 2024"))  # fmt: skip


def test_a_negative_figure_is_listed_as_such(tmp_path) -> None:
    """Not one of the two rules of tpr-method.md: the pair is excluded, and the list says why."""
    rows = [row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 1,
                rdt_t_u5=10, rdt_p_u5=-1, mic_t_o5=-4, mic_p_o5=2,
                rdt_t_pw=6, rdt_p_pw=2)]  # fmt: skip
    dataset = load_dataset(write_csv(table(rows, "C"), tmp_path / "negative.csv"))
    pairs = invalid_pairs_list(dataset, ALL)
    assert [(r["method"], r["age_group"], r["problem"]) for r in pairs.to_dict("records")] == [
        ("rdt", "u5", "negative figure"), ("microscopy", "o5", "negative figure")]  # fmt: skip
    assert len(pairs) == compute_tpr(dataset, ALL).quality["invalid_pairs"]
    assert compute_tpr(dataset, ALL).wards.iloc[0]["tested"] == 6  # only the pw pair counts
