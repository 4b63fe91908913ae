"""The command line: exit codes and the one-line reasons on stderr for unusable input."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from actions.tpr.cli import main
from tests.engine.conftest import HAND_ROWS
from tests.engine.nmep import HEADERS, table, write_csv, write_xlsx

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_subprocess_summary_json_and_compute(hand_path: Path, tmp_path: Path) -> None:
    """The real `python -m actions.tpr` entry point, as interfaces.md gives it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "actions.tpr", "summary", str(hand_path), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["states"] == ["Adamawa", "Kwara"]
    out = tmp_path / "out.csv"
    done = subprocess.run([sys.executable, "-m", "actions.tpr", "compute", str(hand_path),
                           "--state", "Lagos", "--facility-level", "all", "--age-group", "u5",
                           "--out", str(out)], capture_output=True, text=True, env=env,
                          check=False)  # fmt: skip
    assert done.returncode == 1
    assert "couldn't find 'Lagos'" in one_line_error(done.stderr)
    assert not out.exists()


def test_compute_writes_the_ward_table(hand_path: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "tpr.csv"
    code, stdout, _ = run(["compute", hand_path, "--state", "Adamawa State",
                           "--facility-level", "primary", "--age-group", "u5", "--out", out],
                          capsys)  # fmt: skip
    assert code == 0 and "2 of 4 wards" in stdout
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert [r["ward"] for r in rows] == ["Bille", "Yelwa", "Karlahi", "Yelwa"]
    assert rows[0]["tpr"] == "40.0" and rows[0]["method"] == "rdt"  # 4 / 10 by RDT
    assert rows[3]["tpr"] == "" and rows[3]["facilities"] == "0"  # Song/Yelwa: secondary only


def test_summary_text(hand_path: Path, capsys) -> None:
    code, stdout, _ = run(["summary", hand_path], capsys)
    assert code == 0
    assert "Adamawa: 2 LGAs, 4 wards, 4 facilities, 8 rows" in stdout


def test_sample_command(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.csv"
    code, _, _ = run(["sample", "--layout", "C", "--csv", "--states", "1",
                      "--rows-per-state", "24", "--out", out], capsys)  # fmt: skip
    assert code == 0 and len(out.read_text(encoding="utf-8").splitlines()) == 25


def _zip_garbage(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a workbook")
    return path


def _truncated(hand_path: Path, path: Path) -> Path:
    data = hand_path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _encrypted(path: Path) -> Path:
    """What Excel writes for a password-protected .xlsx: an OLE container with EncryptionInfo
    and EncryptedPackage streams (here only the header and the directory names)."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    names = "EncryptionInfo".encode("utf-16-le") + b"\x00" * 40
    names += "EncryptedPackage".encode("utf-16-le") + b"\x00" * 40
    path.write_bytes(header + names + b"\x00" * 2048)
    return path


def _only_rdt(path: Path) -> Path:
    lines = table(HAND_ROWS, "A")
    keep = [i for i, h in enumerate(lines[0]) if "Microscopy" not in str(h)]
    return write_csv([[line[i] for i in keep] for line in lines], path)


def _no_locations(path: Path) -> Path:
    lines = [["periodname", *HEADERS.values()], ["January 2024", *range(12)]]
    return write_xlsx(lines, path)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p, h: (p / "photo.xlsx").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
         and p / "photo.xlsx", "not a spreadsheet"),
        (lambda p, h: (p / "notes.csv").write_text("Dear analyst, here is the data you asked for.")
         and p / "notes.csv", "not a spreadsheet"),
        (lambda p, h: _zip_garbage(p / "garbage.xlsx"), "damaged"),
        (lambda p, h: _truncated(h, p / "truncated.xlsx"), "damaged"),
        (lambda p, h: _encrypted(p / "locked.xlsx"), "password-protected"),
        (lambda p, h: (p / "empty.csv").write_bytes(b"") or p / "empty.csv", "empty"),
        (lambda p, h: _only_rdt(p / "rdt_only.csv"), "microscopy (all age groups)"),
        (lambda p, h: _no_locations(p / "nolocation.xlsx"), "no State, LGA, Ward column"),
        (lambda p, h: p / "missing.xlsx", "does not exist"),
    ],
)  # fmt: skip
def test_bad_files_exit_non_zero_with_one_sentence(
    tmp_path: Path, hand_path: Path, capsys, make, words: str
) -> None:
    path = make(tmp_path, hand_path)
    for command in (["summary", path], ["compute", path, "--state", "Adamawa",
                                        "--facility-level", "all", "--age-group", "all",
                                        "--out", tmp_path / "o.csv"]):  # fmt: skip
        code, stdout, err = run(command, capsys)
        assert code == 1
        line = one_line_error(err)
        assert words in line, line
        assert "Traceback" not in err and stdout == ""


def test_only_rdt_message_names_each_missing_group(tmp_path: Path, capsys) -> None:
    _, _, err = run(["summary", _only_rdt(tmp_path / "r.csv")], capsys)
    line = one_line_error(err)
    assert "persons tested by microscopy" in line
    assert "persons tested positive by microscopy" in line
    assert "RDT" not in line


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [("--state", "Lagos", "couldn't find 'Lagos'"),
     ("--facility-level", "district", "not a facility level"),
     ("--facility-level", "tertiary", "no tertiary facilities"),
     ("--age-group", "teens", "not an age group"),
     ("--method", "mean", "not a method")],
)  # fmt: skip
def test_unknown_selection(hand_path: Path, tmp_path: Path, capsys, option, value, words) -> None:
    args = {"--state": "Adamawa", "--facility-level": "all", "--age-group": "all"}
    args[option] = value
    command = ["compute", hand_path, "--out", tmp_path / "o.csv"]
    for key, val in args.items():
        command += [key, val]
    code, _, err = run(command, capsys)
    assert code == 1 and words in one_line_error(err)
    assert not (tmp_path / "o.csv").exists()


# --- compare and quality (interfaces.md) ---


def read_csv(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_compare_writes_both_selections_and_the_difference(analysis_path: Path, tmp_path: Path,
                                                            capsys) -> None:  # fmt: skip
    out = tmp_path / "compare.csv"
    code, stdout, err = run(["compare", analysis_path, "--state", "adamawa", "--facility-level",
                             "all", "--age-group", "all", "--vs", "age-group=u5",
                             "--vs", "method=rdt", "--out", out], capsys)  # fmt: skip
    assert code == 0, err
    rows = read_csv(out)
    assert list(rows[0]) == ["state", "lga", "ward", "a_tpr", "a_tested", "a_positive",
                             "a_method", "b_tpr", "b_tested", "b_positive", "b_method",
                             "difference"]  # fmt: skip
    assert len(rows) == 5
    bille = rows[0]  # A: microscopy 10/28 = 35.71 %; B: RDT under 5, 10/4 = 40 %
    assert (bille["ward"], bille["a_tpr"], bille["a_method"]) == ("Bille", "35.71", "microscopy")
    assert (bille["b_tpr"], bille["b_tested"], bille["b_positive"]) == ("40.0", "10", "4")
    assert bille["difference"] == "4.29"
    karlahi = next(r for r in rows if r["ward"] == "Karlahi")
    assert karlahi["a_tpr"] == karlahi["b_tpr"] == karlahi["difference"] == ""
    assert "under 5, RDT only (B)" in stdout


def test_compare_periods_by_subprocess(analysis_path: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "periods.csv"
    done = subprocess.run([sys.executable, "-m", "actions.tpr", "compare", str(analysis_path),
                           "--state", "Adamawa", "--facility-level", "all", "--age-group", "all",
                           "--vs", "period-from=202401", "--vs", "period-to=February 2024",
                           "--out", str(out)], capture_output=True, text=True, env=env,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    dumne = next(r for r in read_csv(out) if r["ward"] == "Dumne")
    assert (dumne["a_tpr"], dumne["b_tpr"], dumne["difference"]) == ("25.0", "", "")


@pytest.mark.parametrize(
    ("vs", "words"),
    [([], "needs at least one --vs"),
     (["--vs", "colour=red"], "not KEY=VALUE"),
     (["--vs", "age-group"], "not KEY=VALUE"),
     (["--vs", "state=Kwara"], "not KEY=VALUE"),
     (["--vs", "age-group=teens"], "not an age group"),
     (["--vs", "method=max"], "the same"),
     (["--vs", "period-from=202501"], "this file covers January 2024 to March 2024")],
)  # fmt: skip
def test_compare_refusals(analysis_path: Path, tmp_path: Path, capsys, vs, words) -> None:
    out = tmp_path / "c.csv"
    code, _, err = run(["compare", analysis_path, "--state", "Adamawa", "--facility-level",
                        "all", "--age-group", "all", *vs, "--out", out], capsys)  # fmt: skip
    assert code == 1 and words in one_line_error(err)
    assert not out.exists()


def test_quality_lists_the_invalid_pairs(analysis_path: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "quality.csv"
    code, stdout, err = run(["quality", analysis_path, "--state", "Adamawa", "--method", "rdt",
                             "--out", out], capsys)  # fmt: skip
    assert code == 0, err
    rows = read_csv(out)
    assert list(rows[0]) == ["state", "lga", "ward", "facility", "period", "method",
                             "age_group", "tested", "positive", "problem"]  # fmt: skip
    assert [(r["facility"], r["period"], r["method"], r["age_group"], r["tested"],
             r["positive"], r["problem"]) for r in rows] == [
        ("Bille PHC", "202401", "rdt", "pw", "5", "7", "positive > tested"),
        ("Bille PHC", "202402", "rdt", "u5", "", "3", "positive without tested"),
        ("Bille PHC", "202402", "rdt", "o5", "0", "2", "positive without tested"),
        ("Bille Lab", "202402", "microscopy", "pw", "2", "5", "positive > tested"),
    ]  # fmt: skip
    assert "4 invalid cell pair(s) in 2 facility(ies)" in stdout
    out = tmp_path / "u5.csv"
    code, _, _ = run(["quality", analysis_path, "--state", "Adamawa", "--facility-level",
                      "primary", "--age-group", "u5", "--out", out], capsys)  # fmt: skip
    assert code == 0 and [r["age_group"] for r in read_csv(out)] == ["u5"]


def test_quality_refusals(analysis_path: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "q.csv"
    code, _, err = run(["quality", analysis_path, "--state", "Lagos", "--out", out], capsys)
    assert code == 1 and "couldn't find 'Lagos'" in one_line_error(err) and not out.exists()
    code, _, err = run(["quality", tmp_path / "missing.xlsx", "--state", "Adamawa", "--out",
                        out], capsys)  # fmt: skip
    assert code == 1 and one_line_error(err) and not out.exists()
