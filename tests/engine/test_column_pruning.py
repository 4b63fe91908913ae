"""Reading only the columns the engine uses, with their types given, never guessed.

Files are written with openpyxl/csv (tests/engine/nmep.py), so the expected figures are the
hand-worked ones of test_calculation whatever the reader skips.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import fastexcel
import pytest

from actions.tpr import Selection, compute_tpr, load_dataset
from actions.tpr.reader import _xlsx_previews
from tests.engine.conftest import HAND_ROWS
from tests.engine.nmep import HEADERS, table, write_csv, write_xlsx
from tests.engine.test_reading import EXPECTED, adamawa_wards

JUNK_HEADERS = ["Remarks", "Date entered", "Approved", "Formula", "Persons with fever",
                "Sum of Persons presenting with fever & tested by RDT <5yrs"]  # fmt: skip


def _junk(index: int) -> list[object]:
    """One row of junk: every cell type a workbook can hold, changing from row to row."""
    return [
        "x" * (5000 if index % 2 else 3) if index % 3 else 12345,
        dt.datetime(2024, 1, 1 + index % 27) if index % 2 else "not a date",
        index % 2 == 0,
        "=1/0" if index % 2 else "=SUM(1,2)",
        "many" if index % 4 == 0 else 3.25,
        -1e300 if index % 5 == 0 else "#REF!",
    ]


def with_junk_columns(lines: list[list[object]], shuffle: bool) -> list[list[object]]:
    """Junk columns between the real ones; optionally every column in reverse order."""
    out = []
    for index, line in enumerate(lines):
        extra = JUNK_HEADERS if index == 0 else _junk(index)
        merged = line[:3] + extra[:3] + line[3:9] + extra[3:] + line[9:]
        out.append(merged[::-1] if shuffle else merged)
    return out


def spy_on_load_sheet(monkeypatch) -> list[dict]:
    """Record what the reader asks calamine for, while the real calamine does the work."""
    calls: list[dict] = []
    original = fastexcel.ExcelReader.load_sheet

    def recording(self, idx_or_name, **kwargs):
        calls.append(kwargs)
        return original(self, idx_or_name, **kwargs)

    monkeypatch.setattr(fastexcel.ExcelReader, "load_sheet", recording)
    return calls


@pytest.mark.parametrize("shuffle", [False, True])
def test_junk_columns_are_neither_read_nor_counted(tmp_path: Path, monkeypatch, shuffle) -> None:
    lines = with_junk_columns(table(HAND_ROWS, "A", garbled=True), shuffle)
    path = write_xlsx(lines, tmp_path / "junk.xlsx", sheet="raw")
    calls = spy_on_load_sheet(monkeypatch)
    dataset = load_dataset(path)
    assert adamawa_wards(dataset) == EXPECTED
    header = lines[0]
    junk_positions = {header.index(h) for h in JUNK_HEADERS}
    used = calls[-1]["use_columns"]
    assert junk_positions.isdisjoint(used)
    # 7 location/period columns (ownership is not used) + 12 indicators, each typed.
    assert len(used) == 19 and set(calls[-1]["dtypes"]) == set(used)
    names = {"State", "LGA", "Ward", "Health Faccility", "level", "periodname"}
    for position in used:
        wanted = "string" if header[position] in names else "float"
        assert calls[-1]["dtypes"][position] == wanted, header[position]


def test_junk_columns_in_csv(tmp_path: Path) -> None:
    lines = with_junk_columns(table(HAND_ROWS, "B"), shuffle=True)
    path = write_csv(lines, tmp_path / "junk.csv")
    assert adamawa_wards(load_dataset(path)) == EXPECTED


def test_text_in_xlsx_figure_cells_counts_as_blank(tmp_path: Path) -> None:
    lines = table(HAND_ROWS, "A")
    position = lines[0].index(HEADERS["rdt_t_u5"])
    karlahi_feb = next(i for i, line in enumerate(lines) if line[2] == "ad Karlahi Ward" and
                       line[7] == "202402")  # fmt: skip
    lines[karlahi_feb][position] = "n/a"  # was 0: blank and 0 are both "nothing"
    lines[karlahi_feb][position + 3] = "see note"  # positives u5: text, so blank
    dataset = load_dataset(write_xlsx(lines, tmp_path / "text.xlsx"))
    assert adamawa_wards(dataset) == EXPECTED
    # Had the text been a number it would be positives without tests: a 4th invalid pair.
    assert compute_tpr(dataset, Selection("Adamawa")).quality["invalid_pairs"] == 3


def test_csv_figure_column_with_words_falls_back_and_still_counts(tmp_path: Path) -> None:
    lines = table(HAND_ROWS, "C")
    position = lines[0].index(HEADERS["mic_t_pw"])
    lines[1][position] = "none reported"  # not a number pandas knows: typed read refuses
    assert adamawa_wards(load_dataset(write_csv(lines, tmp_path / "words.csv"))) == EXPECTED


def test_ward_named_by_a_number_stays_text(tmp_path: Path) -> None:
    """Location columns are typed as text: a ward called 10 is "10", not 10.0."""
    lines = table(HAND_ROWS, "C")
    for line in lines[1:]:
        if line[2] == "Karlahi":
            line[2] = 10
    dataset = load_dataset(write_xlsx(lines, tmp_path / "numbered.xlsx"))
    assert "10" in set(dataset.frame["ward"]) and "10.0" not in set(dataset.frame["ward"])


def test_previews_agree_with_openpyxl_on_shared_and_inline_strings(tmp_path: Path) -> None:
    """The header finder reads the top of each sheet itself; openpyxl must see the same."""
    import openpyxl

    from actions.tpr.sample import sample_frame, write_sample_file

    frame = sample_frame("A", states=1, rows_per_state=60)
    for shared in (False, True):
        path = write_sample_file(frame, tmp_path / f"s{shared}.xlsx", "A", shared_strings=shared)
        previews = _xlsx_previews(path.read_bytes())
        workbook = openpyxl.load_workbook(path, read_only=True)
        for (name, rows), sheet in zip(previews, workbook.worksheets, strict=True):
            assert name == sheet.title
            expected = [list(r) for r in sheet.iter_rows(max_row=30, values_only=True)]
            assert rows == expected


# --- big sheets, read in row blocks ----------------------------------------------------------


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Every sheet counts as big, and a block is a few rows: the block path on small files."""
    from actions.tpr import reader

    monkeypatch.setattr(reader, "WHOLE_SHEET_XML_BYTES", 0)
    monkeypatch.setattr(reader, "BLOCK_XML_BYTES", 1200)
    return reader


def test_blocks_give_the_hand_figures(tiny_blocks, hand_path: Path) -> None:
    raw = tiny_blocks.read_table(hand_path.read_bytes(), "hand.xlsx")
    assert raw.sheet == "raw" and raw.n_rows == len(HAND_ROWS)
    assert raw.columns["ward"].num_chunks >= 3  # really read in several blocks
    assert adamawa_wards(load_dataset(hand_path)) == EXPECTED


def test_blocks_with_blank_first_row_totals_and_junk(tiny_blocks, tmp_path: Path) -> None:
    lines = with_junk_columns(table(HAND_ROWS, "B", garbled=True, totals=True), shuffle=False)
    path = write_xlsx(lines, tmp_path / "b.xlsx", blank_first_row=True)
    raw = tiny_blocks.read_table(path.read_bytes(), "b.xlsx")
    assert raw.columns["ward"].num_chunks >= 3
    dataset = load_dataset(path)
    assert dataset.meta["totals_rows_dropped"] == 1
    assert adamawa_wards(dataset) == EXPECTED


@pytest.mark.parametrize("shared", [False, True])
def test_blocks_equal_the_whole_sheet_on_a_sample(tmp_path: Path, monkeypatch, shared) -> None:
    import pandas as pd

    from actions.tpr import reader
    from actions.tpr.sample import sample_frame, write_sample_file

    frame = sample_frame("A", states=2, rows_per_state=24 * 30, months=24, first_period=202307)
    path = write_sample_file(frame, tmp_path / "s.xlsx", "A", shared_strings=shared)
    whole = load_dataset(path)
    monkeypatch.setattr(reader, "WHOLE_SHEET_XML_BYTES", 0)
    monkeypatch.setattr(reader, "BLOCK_XML_BYTES", 64 * 1024)
    assert reader.read_table(path.read_bytes(), "s.xlsx").columns["state"].num_chunks >= 5
    blocks = load_dataset(path)
    pd.testing.assert_frame_equal(whole.frame, blocks.frame)
    assert whole.meta == blocks.meta


def test_rows_without_numbers_fall_back_to_the_whole_sheet(tiny_blocks, tmp_path: Path) -> None:
    """Writers may omit the row numbers; blocks need them, calamine whole does not."""
    import re
    import zipfile

    source = write_xlsx(table(HAND_ROWS, "A"), tmp_path / "numbered.xlsx", sheet="raw")
    target = tmp_path / "unnumbered.xlsx"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            data = original.read(info)
            if info.filename.startswith("xl/worksheets/"):
                data = re.sub(rb'<row r="[0-9]+"', b"<row", data)
            copy.writestr(info, data)
    assert adamawa_wards(load_dataset(target)) == EXPECTED
