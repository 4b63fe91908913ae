"""Series, year on year and peak months on hand-worked files (figures worked out in comments)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from actions.tpr import (
    TREND_COLUMNS,
    Dataset,
    Selection,
    TPRDataError,
    compute_tpr,
    load_dataset,
    peak_months,
    summarise,
    trend,
    year_on_year,
    years_covered,
)
from tests.engine.multiyear import SERIES_MONTHS, SERIES_ROWS, month_row, multiyear_csv

NAN = float("nan")


@pytest.fixture(scope="module")
def series_data() -> Dataset:
    return load_dataset(multiyear_csv(SERIES_ROWS), "series.csv")


def cell(frame: pd.DataFrame, period: str, lga: str = "", ward: str = "") -> pd.Series:
    rows = frame[(frame["period"] == period) & (frame["lga"] == lga) & (frame["ward"] == ward)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def same(value: float, expected: float) -> bool:
    return math.isnan(expected) and math.isnan(value) or value == pytest.approx(expected)


def test_state_series_crosses_the_year_boundary(series_data: Dataset) -> None:
    series = trend(series_data, Selection("Adamawa"))
    assert list(series.columns) == TREND_COLUMNS
    assert list(series["period"]) == SERIES_MONTHS  # 202403: no row of the file mentions it
    assert set(series["lga"]) == {""} and set(series["ward"]) == {""}
    expected = {
        # period: (tpr, tested, positive, method)
        "202311": (17.5, 40, 7, "rdt"),  # RDT 7/40; no microscopy
        "202312": (60.0, 10, 6, "microscopy"),  # RDT 65/160 = 40.6 % < microscopy 6/10
        "202401": (40.0, 50, 20, "rdt"),
        "202402": (NAN, 0, 0, "none"),  # Kwara's month: Adamawa has no row, so blank
        "202404": (NAN, 0, 0, "none"),
    }
    for period, (tpr, tested, positive, method) in expected.items():
        row = cell(series, period)
        assert same(row["tpr"], tpr), (period, row["tpr"])
        assert (row["tested"], row["positive"], row["method"]) == (tested, positive, method)
    assert series.attrs["title"].startswith("TPR by month: Adamawa, all facilities, all ages")


def test_method_and_age_apply_per_period(series_data: Dataset) -> None:
    rdt = trend(series_data, Selection("Adamawa", method="rdt"))
    december = cell(rdt, "202312")
    assert (december["tested"], december["positive"]) == (160, 65)  # 20+40+100, 5+10+50
    assert december["tpr"] == pytest.approx(100 * 65 / 160)
    under5 = trend(series_data, Selection("Adamawa", age_group="u5", method="rdt"))
    assert cell(under5, "202312")["tested"] == 120  # without Yelwa HP's 40 tests aged 5+


def test_ward_series_every_ward_every_month(series_data: Dataset) -> None:
    series = trend(series_data, Selection("Adamawa"), unit="ward")
    wards = {("Fufore", "Bille"), ("Fufore", "Yelwa"), ("Song", "Yelwa")}
    assert set(zip(series["lga"], series["ward"], strict=True)) == wards
    assert len(series) == len(wards) * len(SERIES_MONTHS)
    bille = [cell(series, p, "Fufore", "Bille")["tpr"] for p in SERIES_MONTHS]
    assert [same(v, e) for v, e in zip(bille, [40.0, 60.0, NAN, NAN, NAN], strict=True)] == [
        True
    ] * 5  # January 2024: the facility reported 0 tests, so blank, not 0
    january = cell(series, "202401", "Fufore", "Bille")
    assert (january["tested"], january["method"]) == (0, "none")
    yelwa = [cell(series, p, "Fufore", "Yelwa")["tpr"] for p in SERIES_MONTHS[:3]]
    assert yelwa == pytest.approx([10.0, 25.0, 40.0])
    song = [cell(series, p, "Song", "Yelwa")["tpr"] for p in SERIES_MONTHS]
    assert same(song[1], 50.0) and all(math.isnan(v) for i, v in enumerate(song) if i != 1)


def test_lga_series_month_missing_for_one_lga(series_data: Dataset) -> None:
    series = trend(series_data, Selection("Adamawa"), unit="lga")
    assert set(series["lga"]) == {"Fufore", "Song"} and set(series["ward"]) == {""}
    fufore = cell(series, "202312", "Fufore")
    # RDT (5+10)/(20+40) = 25 % against microscopy 6/10 = 60 %: the LGA's sums decide.
    assert (fufore["tpr"], fufore["tested"], fufore["method"]) == (60.0, 10, "microscopy")
    assert cell(series, "202311", "Fufore")["tpr"] == pytest.approx(17.5)  # 7/40
    for period in ("202311", "202401", "202402", "202404"):
        row = cell(series, period, "Song")  # Song has no row in those months: blank row
        assert math.isnan(row["tpr"]) and row["method"] == "none" and row["tested"] == 0


def test_series_by_year(series_data: Dataset) -> None:
    series = trend(series_data, Selection("Adamawa"), by="year")
    assert list(series["period"]) == ["2023", "2024"]
    # 2023: RDT 72/200 = 36 % against microscopy 6/10 = 60 %; 2024: RDT 20/50.
    assert tuple(cell(series, "2023")[["tpr", "tested", "method"]]) == (60.0, 10, "microscopy")
    assert tuple(cell(series, "2024")[["tpr", "tested", "method"]]) == (40.0, 50, "rdt")
    rdt = trend(series_data, Selection("Adamawa", method="rdt"), by="year")
    assert cell(rdt, "2023")["tpr"] == pytest.approx(36.0)


def test_level_and_period_range(series_data: Dataset) -> None:
    primary = trend(series_data, Selection("Adamawa", facility_level="primary"), unit="lga")
    assert set(primary["lga"]) == {"Fufore", "Song"}  # Song is listed without primary rows
    assert primary[primary["lga"] == "Song"]["tpr"].isna().all()
    assert cell(primary, "202312", "Fufore")["tpr"] == 60.0
    ranged = trend(series_data, Selection("Adamawa", period_from="202312", period_to="202401"))
    assert list(ranged["period"]) == ["202312", "202401"]
    by_name = trend(series_data, Selection("Adamawa", period_from="December 2023"), by="year")
    assert list(by_name["period"]) == ["2023", "2024"]
    assert cell(by_name, "2023")["tested"] == 10  # only December's microscopy


@pytest.mark.parametrize(
    ("kwargs", "selection", "words"),
    [
        ({"by": "week"}, Selection("Adamawa"), "not a period for a trend"),
        ({"unit": "facility"}, Selection("Adamawa"), "not a unit for a trend"),
        ({}, Selection("Lagos"), "couldn't find 'Lagos'"),
        ({}, Selection("Adamawa", period_from="202401", period_to="202312"), "after it ends"),
        ({}, Selection("Adamawa", period_from="202501"), "no data in the period"),
        ({}, Selection("Kwara", facility_level="tertiary"), "no tertiary facilities"),
        # Other states have rows then, but Kwara has none: a refusal, not an all-blank series.
        ({}, Selection("Kwara", period_to="202401"), "covers February 2024 to April 2024"),
        ({}, Selection("Adamawa", method="mean"), "not a method"),
    ],
)
def test_bad_selection_is_a_sentence(series_data, kwargs, selection, words) -> None:
    with pytest.raises(TPRDataError, match=words):
        trend(series_data, selection, **kwargs)


def test_series_sums_equal_compute_for_the_range(series_data: Dataset) -> None:
    for method in ("rdt", "microscopy", "combined"):
        selection = Selection("Adamawa", method=method)
        whole = compute_tpr(series_data, selection)
        series = trend(series_data, selection, unit="ward")
        summed = series.groupby(["lga", "ward"])[["tested", "positive"]].sum()
        for _, ward in whole.wards.iterrows():
            assert tuple(summed.loc[(ward["lga"], ward["ward"])]) == (
                ward["tested"],
                ward["positive"],
            )


def test_years_covered(series_data: Dataset) -> None:
    assert years_covered(series_data) == [2023, 2024]
    assert years_covered(series_data, "Adamawa") == [2023, 2024]
    assert years_covered(series_data, "kw Kwara State") == [2024]


def test_peak_months(series_data: Dataset) -> None:
    peaks = peak_months(series_data, Selection("Adamawa"))
    assert list(peaks.columns) == ["year", "state", "lga", "period", "tpr"]
    got = {(r.year, r.lga): (r.period, r.tpr) for r in peaks.itertuples()}
    assert got[(2023, "")] == ("202312", 60.0)  # 17.5 % in November, 60 % in December
    assert got[(2024, "")] == ("202401", 40.0)
    assert got[(2023, "Fufore")] == ("202312", 60.0)
    assert got[(2023, "Song")] == ("202312", 50.0)
    assert got[(2024, "Song")][0] == "" and math.isnan(got[(2024, "Song")][1])  # no data
    assert list(peaks["lga"][:3]) == ["", "Fufore", "Song"]  # the state's row first


def test_peak_month_tie_goes_to_the_earlier_month() -> None:
    rows = [
        month_row(
            "Adamawa", "Fufore", "Bille", "Bille PHC", "primary", code, rdt_t_u5=10, rdt_p_u5=p
        )  # fmt: skip
        for code, p in ((202401, 3), (202402, 5), (202403, 5), (202404, 1))
    ]
    data = load_dataset(multiyear_csv(rows), "tie.csv")
    peaks = peak_months(data, Selection("Adamawa"))
    assert list(peaks["period"]) == ["202402", "202402"]  # state and Fufore: 50 % twice


def test_summary_lists_years_and_missing_months(series_data: Dataset) -> None:
    summary = summarise(series_data)
    assert summary["time_coverage"] == {
        "years": [2023, 2024],
        "months": SERIES_MONTHS,
        "missing_months": ["202403"],  # a gap inside the file's range
    }
    adamawa = summary["by_state"]["Adamawa"]["time_coverage"]
    assert adamawa["months"] == ["202311", "202312", "202401"]
    assert adamawa["missing_months"] == ["202402", "202403", "202404"]
    kwara = summary["by_state"]["Kwara"]["time_coverage"]
    assert kwara["years"] == [2024]
    assert kwara["missing_months"] == ["202311", "202312", "202401", "202403"]
    # The keys that were there before are unchanged.
    assert summary["period"] == {"first": "November 2023", "last": "April 2024",
                                 "first_code": "202311", "last_code": "202404",
                                 "months": 5}  # fmt: skip


# --- year on year -------------------------------------------------------------------------
# One facility per ward in Girei LGA, RDT under 5 only, one month in each year.
# (ward, (tested, positive) in June 2023, (tested, positive) in June 2024)
YOY_WARDS = [
    ("Up exactly 5", (100, 20), (100, 25)),  # 20 -> 25: +5.00, worsened
    ("Up 5 with float noise", (60, 4), (60, 7)),  # 6.67 -> 11.67: +5 (4.999... in floats)
    ("Up 4.9", (1000, 200), (1000, 249)),  # 20 -> 24.9: stable
    ("Down exactly 5", (100, 30), (100, 25)),  # 30 -> 25: -5.00, improved
    ("Down 4.9", (1000, 300), (1000, 251)),  # 30 -> 25.1: stable
    ("Exactly 50 tests", (50, 10), (50, 15)),  # 20 -> 30, 50 tests each: worsened
    ("51 tests", (51, 10), (51, 20)),  # worsened
    ("49 tests in 2023", (49, 9), (100, 40)),  # not comparable
    ("49 tests in 2024", (100, 40), (49, 9)),  # not comparable, though it fell a lot
    ("No data in 2024", (100, 20), (0, None)),  # 0 tests reported in 2024: blank
    ("Nothing in 2023", (None, None), (49, 10)),  # blank 2023 and too few tests in 2024
]
EXPECTED_STATUS = {
    "Up exactly 5": ("worsened", ""),
    "Up 5 with float noise": ("worsened", ""),
    "Up 4.9": ("stable", ""),
    "Down exactly 5": ("improved", ""),
    "Down 4.9": ("stable", ""),
    "Exactly 50 tests": ("worsened", ""),
    "51 tests": ("worsened", ""),
    "49 tests in 2023": ("not comparable", "fewer than 50 tests in 2023"),
    "49 tests in 2024": ("not comparable", "fewer than 50 tests in 2024"),
    "No data in 2024": ("not comparable", "no data in 2024"),
    "Nothing in 2023": ("not comparable", "no data in 2023; fewer than 50 tests in 2024"),
    # The facility moved from Old Ward (2023) to New Ward (2024): each ward has one year.
    "Old Ward": ("not comparable", "no data in 2024"),
    "New Ward": ("not comparable", "no data in 2023"),
    # 200 RDT at 10 % but 40 microscopy at 50 %: max takes microscopy, 40 tests < 50.
    "Max picks few tests": ("not comparable", "fewer than 50 tests in 2023"),
}


def yoy_rows() -> list[dict]:
    rows = []
    for ward, *years in YOY_WARDS:
        for code, (tested, positive) in zip((202306, 202406), years, strict=True):
            rows.append(month_row("Adamawa", "Girei", ward, f"{ward} PHC", "primary", code,
                                  rdt_t_u5=tested, rdt_p_u5=positive))  # fmt: skip
    # A facility keyed by the names in its rows: it moves ward between the years.
    rows.append(month_row("Adamawa", "Girei", "Old Ward", "Mover PHC", "primary", 202306,
                          rdt_t_u5=100, rdt_p_u5=20))  # fmt: skip
    rows.append(month_row("Adamawa", "Girei", "New Ward", "Mover PHC", "primary", 202406,
                          rdt_t_u5=100, rdt_p_u5=40))  # fmt: skip
    rows.append(month_row("Adamawa", "Girei", "Max picks few tests", "Lab", "primary", 202306,
                          rdt_t_u5=200, rdt_p_u5=20, mic_t_u5=40, mic_p_u5=20))  # fmt: skip
    rows.append(month_row("Adamawa", "Girei", "Max picks few tests", "Lab", "primary", 202406,
                          rdt_t_u5=200, rdt_p_u5=60))  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def yoy_data() -> Dataset:
    return load_dataset(multiyear_csv(yoy_rows()), "yoy.csv")


def test_year_on_year_statuses_at_the_thresholds(yoy_data: Dataset) -> None:
    yoy = year_on_year(yoy_data, Selection("Adamawa"), 2023, 2024)
    wards = yoy.wards.set_index("ward")
    assert set(wards.index) == set(EXPECTED_STATUS)
    got = {ward: (row["status"], row["reason"]) for ward, row in wards.iterrows()}
    assert got == EXPECTED_STATUS
    assert yoy.thresholds == {"min_change": 5.0, "min_tests": 50}
    assert (yoy.year_a, yoy.year_b) == (2023, 2024)
    assert list(yoy.wards.columns) == [
        "state", "lga", "ward", "tpr_a", "tested_a", "method_a", "tpr_b", "tested_b",
        "method_b", "change", "status", "reason",
    ]  # fmt: skip
    exact = wards.loc["Up exactly 5"]
    assert (exact["tpr_a"], exact["tpr_b"], exact["change"]) == (20.0, 25.0, 5.0)
    assert wards.loc["Down 4.9"]["change"] == pytest.approx(-4.9)
    assert math.isnan(wards.loc["No data in 2024"]["change"])
    few = wards.loc["Max picks few tests"]
    assert (few["method_a"], few["tested_a"], few["method_b"]) == ("microscopy", 40, "rdt")


def test_year_on_year_lists_and_counts(yoy_data: Dataset) -> None:
    yoy = year_on_year(yoy_data, Selection("Adamawa"), 2024, 2023)  # order does not matter
    assert (yoy.year_a, yoy.year_b) == (2023, 2024)
    assert list(yoy.worsened["ward"]) == [
        "51 tests",  # 19.61 -> 39.22: +19.6
        "Exactly 50 tests",  # 20 -> 30: +10
        "Up exactly 5",  # +5.0
        "Up 5 with float noise",  # 4.999999999999999 in floats, +5 by the rule
    ]
    assert yoy.worsened["change"].iloc[0] == pytest.approx(100 * 20 / 51 - 100 * 10 / 51)
    assert list(yoy.improved["ward"]) == ["Down exactly 5"]
    assert len(yoy.not_comparable) == 7
    assert yoy.counts == {"worsened": 4, "improved": 1, "stable": 2, "not comparable": 7}
    assert "at least 5 points" in yoy.title and "at least 50 tests" in yoy.title


def test_year_on_year_other_thresholds_and_selection(yoy_data: Dataset) -> None:
    yoy = year_on_year(yoy_data, Selection("Adamawa"), 2023, 2024, min_tests=49, min_change=4.9)
    statuses = yoy.wards.set_index("ward")["status"]
    assert statuses["Up 4.9"] == "worsened" and statuses["49 tests in 2023"] == "worsened"
    rdt = year_on_year(yoy_data, Selection("Adamawa", method="rdt"), 2023, 2024)
    lab = rdt.wards.set_index("ward").loc["Max picks few tests"]
    assert (lab["tpr_a"], lab["tpr_b"], lab["status"]) == (10.0, 30.0, "worsened")
    # The facility that moved: the trend keys it by the ward named in each row.
    series = trend(yoy_data, Selection("Adamawa"), by="year", unit="ward")
    moved = series[series["ward"].isin(["Old Ward", "New Ward"])]
    assert {(r.ward, r.period): r.tested for r in moved.itertuples()} == {
        ("Old Ward", "2023"): 100, ("Old Ward", "2024"): 0,
        ("New Ward", "2023"): 0, ("New Ward", "2024"): 100,
    }  # fmt: skip


def test_year_on_year_needs_two_covered_years(yoy_data: Dataset) -> None:
    with pytest.raises(TPRDataError, match="two different years"):
        year_on_year(yoy_data, Selection("Adamawa"), 2024, 2024)
    with pytest.raises(TPRDataError, match="no data for Adamawa in 2022; it covers 2023, 2024"):
        year_on_year(yoy_data, Selection("Adamawa"), 2022, 2024)


def test_chart_pngs(series_data: Dataset, yoy_data: Dataset) -> None:
    from actions.tpr import trend_chart_png, year_on_year_chart_png

    state = trend(series_data, Selection("Adamawa"))
    lgas = trend(series_data, Selection("Adamawa"), unit="lga")
    yearly = trend(series_data, Selection("Adamawa"), by="year")
    later = trend(series_data, Selection("Adamawa", period_from="202401"), unit="lga")
    empty = later[later["lga"] == "Song"]  # no valid test in any month
    for png in (
        trend_chart_png(state, lgas),
        trend_chart_png(yearly),
        trend_chart_png(empty, None),
        year_on_year_chart_png(year_on_year(yoy_data, Selection("Adamawa"), 2023, 2024)),
    ):
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_trend_chart_draws_blank_months_as_gaps(series_data: Dataset) -> None:
    """The plotted line has NaN (a break) where the TPR is blank, never a 0."""
    from actions.tpr.series_charts import _axis_positions, _full_line

    state = trend(series_data, Selection("Adamawa"))
    positions = _axis_positions(state["period"])
    axis = np.arange(positions.min(), positions.max() + 1)
    line = _full_line(state, axis)
    # Nov, Dec, Jan have values; Feb blank; March not in the file; April blank.
    assert list(np.isnan(line)) == [False, False, False, True, True, True]
    assert 0.0 not in list(line)


def test_trend_as_an_extra_sheet_of_the_results_workbook(series_data: Dataset) -> None:
    import io

    import openpyxl

    from actions.tpr.export import result_to_xlsx_bytes

    selection = Selection("Adamawa")
    series = trend(series_data, selection)
    workbook = openpyxl.load_workbook(
        io.BytesIO(
            result_to_xlsx_bytes(
                compute_tpr(series_data, selection), extra_sheets={"monthly trend": series}
            )
        )  # fmt: skip
    )
    assert workbook.sheetnames[-1] == "monthly trend"
    rows = list(workbook["monthly trend"].values)
    assert list(rows[0]) == TREND_COLUMNS
    assert rows[1][:8] == ("202311", "Adamawa", None, None, 17.5, 40, 7, "rdt")
    assert rows[4][4] is None and rows[4][7] == "none"  # February: a blank cell, not 0


def test_year_on_year_chart_colours_worsened_red_and_improved_green(yoy_data: Dataset) -> None:
    """One bar per ward shown: red where the TPR rose by the rule, green where it fell."""
    import io as _io

    import matplotlib.image

    from actions.tpr import year_on_year_chart_png

    yoy = year_on_year(yoy_data, Selection("Adamawa"), 2023, 2024)
    png = year_on_year_chart_png(yoy)
    image = matplotlib.image.imread(_io.BytesIO(png))[:, :, :3]

    def bands(hex_colour: str) -> int:
        rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
        rows = np.flatnonzero(np.all(np.abs(image - rgb) < 0.02, axis=2).sum(axis=1) > 3)
        return 0 if not len(rows) else 1 + int(np.sum(np.diff(rows) > 1))

    assert bands("#c0392b") == min(15, yoy.counts["worsened"])
    assert bands("#27ae60") == min(15, yoy.counts["improved"])
