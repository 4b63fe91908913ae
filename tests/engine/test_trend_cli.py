"""`python -m actions.tpr trend`: columns of interfaces.md, hand-worked figures, clear refusals."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from actions.tpr.cli import main
from tests.engine.multiyear import SERIES_ROWS, multiyear_csv

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ["period", "state", "lga", "ward", "tpr", "tested", "positive", "method"]
SELECTION = ["--state", "Adamawa", "--facility-level", "all", "--age-group", "all"]


@pytest.fixture(scope="module")
def series_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trend") / "two_years.csv"
    path.write_bytes(multiyear_csv(SERIES_ROWS))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM, so Excel reads the names right
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_subprocess_trend_by_month(series_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "trend.csv"
    command = [sys.executable, "-m", "actions.tpr", "trend", str(series_file), *SELECTION,
               "--out", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    rows = read_csv(out)
    assert list(rows[0]) == COLUMNS
    assert [r["period"] for r in rows] == ["202311", "202312", "202401", "202402", "202404"]
    # November 7/40 by RDT; December microscopy 6/10; February: no row for Adamawa, blank.
    assert rows[0] == {"period": "202311", "state": "Adamawa", "lga": "", "ward": "",
                       "tpr": "17.5", "tested": "40", "positive": "7", "method": "rdt"}  # fmt: skip
    assert (rows[1]["tpr"], rows[1]["method"]) == ("60.0", "microscopy")
    assert (rows[3]["tpr"], rows[3]["tested"], rows[3]["method"]) == ("", "0", "none")
    assert "written to" in done.stdout


def test_trend_by_year_for_wards(series_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "wards.csv"
    code = main(["trend", str(series_file), *SELECTION, "--by", "year", "--unit", "ward",
                 "--method", "rdt", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    rows = {(r["lga"], r["ward"], r["period"]): r for r in read_csv(out)}
    assert len(rows) == 3 * 2  # three wards (Yelwa twice, in two LGAs), two years
    bille = rows[("Fufore", "Bille", "2023")]  # RDT 10/4 and 20/5 -> 9/30
    assert (bille["tpr"], bille["tested"], bille["positive"]) == ("30.0", "30", "9")
    assert rows[("Fufore", "Bille", "2024")]["tpr"] == ""  # 0 tests in January: blank
    assert rows[("Song", "Yelwa", "2023")]["tpr"] == "50.0"


def test_trend_xlsx_and_period_range(series_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "trend.xlsx"
    code = main(["trend", str(series_file), *SELECTION, "--unit", "lga", "--period-from",
                 "December 2023", "--period-to", "202401", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    sheet = openpyxl.load_workbook(out).worksheets[0]
    values = list(sheet.values)
    assert list(values[0]) == COLUMNS
    assert {(r[0], r[2]) for r in values[1:]} == {
        ("202312", "Fufore"), ("202312", "Song"), ("202401", "Fufore"), ("202401", "Song"),
    }  # fmt: skip
    song_january = next(r for r in values[1:] if r[0] == "202401" and r[2] == "Song")
    assert song_january[4] is None and song_january[7] == "none"  # blank cell, never 0


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--by", "week"], "'week' is not a period for a trend; choose month or year."),
        (["--unit", "facility"], "not a unit for a trend"),
        (["--period-from", "202501"], "Adamawa has no data in the period chosen"),
        (["--period-from", "Smarch 2024"], "is not a period I understand"),
    ],
)
def test_bad_selection_one_line(series_file, tmp_path, capsys, extra, words) -> None:
    out = tmp_path / "never.csv"
    code = main(["trend", str(series_file), *SELECTION, *extra, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and words in err
    assert not out.exists()


def test_unknown_state_and_bad_file(series_file: Path, tmp_path: Path, capsys) -> None:
    code = main(["trend", str(series_file), "--state", "Lagos", "--facility-level", "all",
                 "--age-group", "all", "--out", str(tmp_path / "o.csv")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "couldn't find 'Lagos'" in err and "Adamawa, Kwara" in err
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    code = main(["trend", str(junk), *SELECTION, "--out", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and err.startswith("error: ")


def test_summary_text_lists_years_and_missing_months(series_file: Path, capsys) -> None:
    assert main(["summary", str(series_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "Years: 2023, 2024" in lines
    assert "    no rows in 3 month(s): 202402, 202403, 202404" in lines  # Adamawa
    assert "    no rows in 4 month(s): 202311, 202312, 202401, 202403" in lines  # Kwara
