"""The sample generator over several years: periods, missing months, moving facility, trends.

Expected periods are written out by hand; trends are checked with plain pandas on the raw
table, not with the engine's own calculations.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from actions.tpr import load_dataset
from actions.tpr.cli import main
from actions.tpr.sample import sample_frame, write_sample_file

FOURTEEN_FROM_DEC_2023 = [202312, 202401, 202402, 202403, 202404, 202405, 202406, 202407,
                          202408, 202409, 202410, 202411, 202412, 202501]  # fmt: skip


def test_months_run_across_the_year_boundary(tmp_path: Path, capsys) -> None:
    out = tmp_path / "two_years.xlsx"
    code = main(["sample", "--layout", "A", "--states", "2", "--rows-per-state", "70",
                 "--months", "14", "--first-period", "202312", "--out", str(out)])  # fmt: skip
    assert code == 0 and "202312 to 202501" in capsys.readouterr().out
    dataset = load_dataset(out)
    frame = dataset.frame
    # Categories in calendar order: December 2023 comes before January 2024.
    assert list(frame["period"].cat.categories[:3]) == ["December 2023", "January 2024",
                                                        "February 2024"]  # fmt: skip
    assert frame["period"].cat.categories[-1] == "January 2025"
    for state in ("Adamawa", "Kwara"):
        rows = frame[frame["state"] == state]
        assert sorted(rows["periodcode"].unique()) == FOURTEEN_FROM_DEC_2023
        assert len(rows) == 70  # 5 facilities x 14 months
    names = frame[["period", "periodcode"]].drop_duplicates().set_index("periodcode")["period"]
    assert names[202312] == "December 2023" and names[202501] == "January 2025"


def test_one_year_default_is_unchanged_by_the_new_options() -> None:
    default = sample_frame("B", states=2, rows_per_state=120, seed=4)
    explicit = sample_frame("B", states=2, rows_per_state=120, seed=4, months=12,
                            first_period=202401, trend=False, moving_facility=False)  # fmt: skip
    pd.testing.assert_frame_equal(default, explicit)
    assert sorted(default["periodcode"].dropna().unique()) == list(range(202401, 202413))


def test_months_missing_for_a_whole_state() -> None:
    frame = sample_frame("C", states=2, rows_per_state=24 * 6, months=24, first_period=202301,
                         missing={"Kwara": (202303, 202304)})  # fmt: skip
    kwara = frame[frame["State"] == "Kwara State"]
    adamawa = frame[frame["State"] == "Adamawa State"]
    assert set(kwara["periodcode"]) == set(adamawa["periodcode"]) - {202303, 202304}
    assert len(adamawa) == 144 and len(kwara) == 144 - 2 * 6  # 6 facilities lose 2 months


def test_a_facility_changes_ward_between_years(tmp_path: Path) -> None:
    frame = sample_frame("A", states=2, rows_per_state=24 * 12, months=24, first_period=202307)
    dataset = load_dataset(write_sample_file(frame, tmp_path / "moves.xlsx", "A"))
    data = dataset.frame.assign(year=dataset.frame["periodcode"] // 100)
    for state in ("Adamawa", "Kwara"):
        rows = data[data["state"] == state]
        wards = rows.groupby(["lga", "facility"], observed=True)["ward"].nunique()
        moved = wards[wards > 1]
        assert len(moved) == 1, f"{state}: {moved}"
        lga, facility = moved.index[0]
        history = rows[(rows["lga"] == lga) & (rows["facility"] == facility)]
        by_year = history.groupby("year", observed=True)["ward"].unique()
        # 2023 (Jul-Dec) in one ward; 2024 and 2025 in another of the same LGA, never both.
        assert len(by_year[2023]) == 1 and len(by_year[2024]) == 1
        assert by_year[2023][0] != by_year[2024][0]
        assert list(by_year[2025]) == list(by_year[2024])
        assert history["periodcode"].is_unique


def _rdt_u5_positivity(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Plain positivity of RDT under-5 pairs where both cells are filled and P <= T."""
    tested = frame["Persons presenting with fever & tested by RDT <5yrs"]
    positive = frame["Persons tested positive for malaria by RDT <5yrs"]
    ok = tested.notna() & positive.notna() & (tested > 0) & (positive <= tested)
    sums = pd.DataFrame({"t": tested[ok], "p": positive[ok]}).join(frame.loc[ok, keys])
    grouped = sums.groupby(keys)[["t", "p"]].sum()
    return 100 * grouped["p"] / grouped["t"]


def test_three_years_have_rising_and_falling_wards_and_a_season() -> None:
    frame = sample_frame("A", states=2, rows_per_state=36 * 60, months=36, first_period=202301,
                         seed=7)  # fmt: skip
    frame = frame.assign(year=frame["periodcode"] // 100, month=frame["periodcode"] % 100)
    by_ward_year = _rdt_u5_positivity(frame, ["State", "LGA", "Ward", "year"]).unstack("year")
    change = (by_ward_year[2025] - by_ward_year[2023]).dropna()
    assert len(change) >= 30
    assert (change >= 5).mean() >= 0.15, "some wards must get clearly worse"
    assert (change <= -5).mean() >= 0.15, "some wards must get clearly better"
    assert (change.abs() < 3).mean() >= 0.2, "and many stay level"
    by_month = _rdt_u5_positivity(frame, ["month"])
    tests_by_month = frame.groupby("month")["Persons presenting with fever & tested by RDT <5yrs"]
    tests_by_month = tests_by_month.sum()
    assert by_month.idxmax() in (7, 8, 9, 10) and by_month.idxmin() in (1, 2, 3, 4)
    assert tests_by_month.idxmax() in (7, 8, 9, 10)
    assert by_month.max() - by_month.min() >= 4


def test_shared_strings_workbook_holds_the_same_data(tmp_path: Path) -> None:
    frame = sample_frame("A", states=2, rows_per_state=48, months=24, first_period=202211)
    inline = write_sample_file(frame, tmp_path / "inline.xlsx", "A")
    shared = write_sample_file(frame, tmp_path / "shared.xlsx", "A", shared_strings=True)
    with zipfile.ZipFile(shared) as archive:
        names = set(archive.namelist())
        sheet = archive.read("xl/worksheets/sheet2.xml")
    assert "xl/sharedStrings.xml" in names and b"inlineStr" not in sheet and b't="s"' in sheet
    assert not (tmp_path / "shared.xlsx.inline.tmp").exists()
    # An independent reader sees identical cells in both.
    for sheet_name in ("pivot", "raw", "tpr"):
        a = openpyxl.load_workbook(inline, read_only=True)[sheet_name]
        b = openpyxl.load_workbook(shared, read_only=True)[sheet_name]
        assert list(a.iter_rows(values_only=True)) == list(b.iter_rows(values_only=True))
    pd.testing.assert_frame_equal(load_dataset(inline).frame, load_dataset(shared).frame)


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--months", "0"], "months must be at least 1"),
     (["--first-period", "202413"], "202413 is not a month"),
     (["--missing", "Kwara"], "STATE:YYYYMM"),
     (["--missing", "Kwara:March"], "STATE:YYYYMM")],
)  # fmt: skip
def test_bad_sample_options_get_one_sentence(tmp_path: Path, capsys, args, message) -> None:
    code = main(["sample", "--out", str(tmp_path / "x.xlsx"), *args])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.xlsx").exists()
