"""Exports: CSV with BOM and rounding, XLSX sheets, formula injection, a readable PNG."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
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


# --- Tables and charts of the questions after the results ---


def test_title_and_file_name_name_method_and_period(analysis: Dataset) -> None:
    from actions.tpr.export import export_basename

    result = compute_tpr(analysis, Selection("Adamawa", "primary", "u5", "rdt", "202401",
                                             "202402"))  # fmt: skip
    assert result.title == ("Ward TPR: Adamawa, primary facilities, under 5, RDT only, "
                            "January 2024 to February 2024")  # fmt: skip
    assert export_basename(result) == "tpr_adamawa_primary_u5_rdt_202401-202402"


def test_xlsx_summary_names_selection_method_and_period(analysis: Dataset) -> None:
    result = compute_tpr(analysis, Selection("Adamawa", method="microscopy", period_to="202402"))
    workbook = openpyxl.load_workbook(io.BytesIO(result_to_xlsx_bytes(result)))
    items = {row[0]: row[1] for row in workbook["summary"].iter_rows(min_row=2, values_only=True)}
    assert items["Selection"] == result.title
    assert "microscopy only" in items["Selection"]
    assert items["Method"] == "microscopy" and items["Method, in words"] == "microscopy only"
    assert items["Period"] == "January 2024 to February 2024"
    assert (items["First period code"], items["Last period code"]) == ("202401", "202402")


def test_table_csv_bytes_conventions(analysis: Dataset) -> None:
    from actions.tpr import compare_selections, table_csv_bytes

    comparison = compare_selections(
        analysis, Selection("Adamawa"), Selection("Adamawa", age_group="u5")
    )
    frame = comparison.wards.copy()
    frame.loc[0, "lga"] = "=HYPERLINK(1)"
    data = table_csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0]["lga"] == "'=HYPERLINK(1)"
    bille = rows[0]  # a_tpr 10/28 = 35.714..., difference 40 - 35.714... = 4.2857...
    assert (bille["a_tpr"], bille["b_tpr"], bille["difference"]) == ("35.71", "40.0", "4.29")
    karlahi = next(r for r in rows if r["ward"] == "Karlahi")
    assert karlahi["a_tpr"] == karlahi["difference"] == ""  # blank, never 0
    assert frame.loc[0, "a_tpr"] == pytest.approx(100 * 10 / 28)  # full precision kept


def test_tables_xlsx_bytes_sheets(analysis: Dataset) -> None:
    from actions.tpr import completeness, invalid_pairs_list, tables_xlsx_bytes

    pairs = invalid_pairs_list(analysis, Selection("Adamawa"))
    lgas = completeness(analysis, Selection("Adamawa"))
    data = tables_xlsx_bytes({"invalid pairs": pairs, "completeness: by LGA/month?": lgas,
                              "Invalid Pairs": pairs.head(1)})  # fmt: skip
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == [
        "invalid pairs",
        "completeness by LGA month",
        "Invalid Pairs (2)",
    ]
    sheet = workbook["invalid pairs"]
    header = [c.value for c in sheet[1]]
    assert header == list(pairs.columns)
    second = dict(zip(header, [c.value for c in sheet[3]], strict=True))
    assert second["tested"] is None and second["positive"] == 3  # a blank stays empty
    share = dict(zip([c.value for c in workbook.worksheets[1][1]],
                     [c.value for c in workbook.worksheets[1][3]], strict=True))  # fmt: skip
    assert share["lga"] == "Fufore" and share["rdt_completeness"] == 28.57  # 2 / 7


def _pixels(png: bytes, tmp_path: Path):
    import matplotlib.image
    import numpy as np

    path = tmp_path / "c.png"
    path.write_bytes(png)
    image = matplotlib.image.imread(path)[:, :, :3]
    grey = np.all(np.abs(image - np.array([0xD5, 0xD8, 0xDC]) / 255) < 0.02, axis=2)
    red = np.all(np.abs(image - np.array([165, 0, 38]) / 255) < 0.04, axis=2)  # RdYlGn at 0
    return image, int(grey.sum()), int(red.sum())


def test_completeness_chart_no_facility_months_is_not_the_colour_of_zero(tmp_path: Path):
    import pandas as pd

    from actions.tpr import completeness_chart_png

    def frame(missing: bool) -> pd.DataFrame:
        values = [0.0, 0.0, 0.0, float("nan") if missing else 0.0]
        return pd.DataFrame({
            "state": "Adamawa", "lga": ["Song", "Song", "Fufore", "Fufore"],
            "period": ["202401", "202402"] * 2, "facility_months": [1, 1, 1, 0 if missing else 1],
            "rdt_completeness": values, "microscopy_completeness": values,
        })  # fmt: skip

    image, grey, red = _pixels(completeness_chart_png(frame(True), title="Test"), tmp_path)
    assert image.shape[1] >= 500 and grey > 500 and red > 500
    _, grey_none, _ = _pixels(completeness_chart_png(frame(False), title="Test"), tmp_path)
    assert grey_none < 200 < 5 * grey_none < grey  # with data everywhere: only the legend swatch


def test_completeness_chart_from_the_engine(analysis: Dataset, tmp_path: Path) -> None:
    from actions.tpr import completeness_by_month, completeness_chart_png

    by_month = completeness_by_month(analysis, Selection("Adamawa", "secondary"))
    png = completeness_chart_png(by_month)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    _, grey, _ = _pixels(png, tmp_path)
    assert grey > 500  # Song has no secondary facility-month in March


def test_completeness_chart_draws_its_colour_scale(tmp_path: Path) -> None:
    """Every cell at 100 %: the grid is green only, so red (0 %) can come only from the drawn
    colour bar, which must run from 0 % (red) to 100 % (green)."""
    import pandas as pd

    from actions.tpr import completeness_chart_png

    full = pd.DataFrame({
        "state": "Adamawa", "lga": ["Song", "Song"], "period": ["202401", "202402"],
        "facility_months": [1, 1], "rdt_completeness": [100.0, 100.0],
        "microscopy_completeness": [100.0, 100.0],
    })  # fmt: skip
    image, _, red = _pixels(completeness_chart_png(full, title="Test"), tmp_path)
    green = np.all(np.abs(image - np.array([0, 104, 55]) / 255) < 0.04, axis=2).sum()
    assert 0 < red < 2000 < green  # a thin bar of red; two panels of green cells


def test_comparison_chart(analysis: Dataset, tmp_path: Path) -> None:
    from actions.tpr import compare_selections, comparison_chart_png

    comparison = compare_selections(analysis, Selection("Adamawa"),
                                    Selection("Adamawa", age_group="u5"))  # fmt: skip
    png = comparison_chart_png(comparison)
    image, _, _ = _pixels(png, tmp_path)
    assert image.shape[1] >= 700 and image.shape[0] >= 300
    blue = np.all(np.abs(image - np.array([0x2E, 0x86, 0xC1]) / 255) < 0.02, axis=2).sum()
    assert blue > 500  # A's bars are drawn
    empty = compare_selections(analysis, Selection("Adamawa"),
                               Selection("Adamawa", age_group="pw"))  # fmt: skip
    assert comparison_chart_png(empty).startswith(b"\x89PNG")  # no ward on both sides


def test_tables_xlsx_bytes_keeps_types_of_mixed_and_odd_columns() -> None:
    import pandas as pd

    from actions.tpr import tables_xlsx_bytes

    frame = pd.DataFrame({
        "ward": ["Bille", "=SUM(A1)", "http://x.example"],
        "mixed": pd.Series([np.int64(7), np.float64(2.5), None], dtype=object),
        "tags": [("a", "b"), None, {"k": 1}],
        "tpr": [33.33333, float("nan"), 0.0],
    })  # fmt: skip
    sheet = openpyxl.load_workbook(io.BytesIO(tables_xlsx_bytes({"t": frame})))["t"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["ward", "mixed", "tags", "tpr"]
    assert rows[1] == ["Bille", 7, "('a', 'b')", 33.33]
    assert rows[2] == ["=SUM(A1)", 2.5, None, None]  # text, never a formula; blank stays empty
    assert rows[3] == ["http://x.example", None, "{'k': 1}", 0]  # 0 stays 0
    assert sheet["A2"].data_type == "s" and sheet["A3"].data_type == "s"
    assert sheet.freeze_panes == "A2"
