"""Exports: CSV with BOM and rounding, XLSX sheets, formula injection, a readable PNG."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest

from actions.tpr import (
    Dataset,
    Selection,
    compute_tpr,
    load_dataset,
    result_chart_png,
    result_to_csv_bytes,
    result_to_xlsx_bytes,
)
from tests.engine.conftest import HAND_ROWS
from tests.engine.nmep import table, write_csv

DANGEROUS = ["=SUM(A1)", "+Song", "-Minus", "@Yelwa"]


@pytest.fixture(scope="module")
def dangerous(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The hand rows with names that Excel would take for formulas (layout C CSV: as typed)."""
    lines = table(HAND_ROWS, "C")
    renames = {"Bille": DANGEROUS[0], "Karlahi": DANGEROUS[3]}
    for line in lines[1:]:
        line[2] = renames.get(line[2], line[2])
        line[1] = {"Song": DANGEROUS[1], "Fufore": DANGEROUS[2]}.get(line[1], line[1])
    return load_dataset(write_csv(lines, tmp_path_factory.mktemp("x") / "danger.csv"))


def test_csv_has_bom_required_columns_and_rounding(hand: Dataset) -> None:
    data = result_to_csv_bytes(compute_tpr(hand, Selection("Adamawa", method="combined")))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0])[:4] == ["state", "lga", "ward", "tpr"]
    bille = next(r for r in rows if r["ward"] == "Bille")
    assert bille["tpr"] == "23.81"  # 10 / 42 = 23.8095...
    karlahi = next(r for r in rows if r["ward"] == "Karlahi")
    assert karlahi["tpr"] == "" and karlahi["method"] == "none"


def test_csv_defuses_formulas(dangerous: Dataset) -> None:
    text = result_to_csv_bytes(compute_tpr(dangerous, Selection("Adamawa"))).decode("utf-8-sig")
    cells = {cell for row in csv.reader(io.StringIO(text)) for cell in row}
    for name in DANGEROUS:
        assert name not in cells
        assert "'" + name in cells


def test_xlsx_sheets_and_no_formulas(dangerous: Dataset) -> None:
    data = result_to_xlsx_bytes(compute_tpr(dangerous, Selection("Adamawa")))
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["wards", "LGAs", "summary", "data quality"]
    wards = workbook["wards"]
    header = [c.value for c in wards[1]]
    assert header[:3] == ["state", "lga", "ward"]
    found = {}
    for line in wards.iter_rows(min_row=2):
        for cell in line[:3]:
            assert cell.data_type != "f"
            found[cell.value] = cell.data_type
    for name in DANGEROUS:
        assert found.get(name) == "s", name
    lgas = [c.value for c in workbook["LGAs"]["B"]][1:]
    assert sorted(lgas) == sorted([DANGEROUS[1], DANGEROUS[2]])


def test_xlsx_figures(hand: Dataset) -> None:
    workbook = openpyxl.load_workbook(
        io.BytesIO(result_to_xlsx_bytes(compute_tpr(hand, Selection("Adamawa"))))
    )
    wards = workbook["wards"]
    header = [c.value for c in wards[1]]
    rows = [
        dict(zip(header, [c.value for c in r], strict=True)) for r in wards.iter_rows(min_row=2)
    ]
    bille = next(r for r in rows if r["ward"] == "Bille")
    assert (bille["tpr"], bille["tested"], bille["method"]) == (50, 12, "microscopy")
    karlahi = next(r for r in rows if r["ward"] == "Karlahi")
    assert karlahi["tpr"] is None
    summary = {r[0].value: r[1].value for r in workbook["summary"].iter_rows(min_row=2)}
    assert summary["Wards with data"] == 3 and summary["State"] == "Adamawa"
    quality = {r[0].value: r[1].value for r in workbook["data quality"].iter_rows(min_row=2)}
    assert 3 in quality.values()


def test_chart_png(hand: Dataset, tmp_path: Path) -> None:
    import matplotlib.image

    result = compute_tpr(hand, Selection("Adamawa", "primary", "u5"))
    data = result_chart_png(result)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    path = tmp_path / "chart.png"
    path.write_bytes(data)
    image = matplotlib.image.imread(path)
    assert image.shape[1] >= 800 and image.shape[0] >= 250
    assert "Adamawa" in result.title and "primary" in result.title and "under 5" in result.title
