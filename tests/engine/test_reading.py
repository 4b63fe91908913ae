"""Reading every layout and encoding into the same canonical frame; figures worked by hand."""

from __future__ import annotations

import math
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from actions.tpr import Dataset, Selection, TPRDataError, clean_name, compute_tpr, load_dataset
from actions.tpr.sample import sample_frame, write_sample_file
from tests.engine.conftest import HAND_ROWS
from tests.engine.nmep import HEADERS, row, table, write_csv, write_xlsx


def adamawa_wards(dataset: Dataset) -> dict[tuple[str, str], tuple]:
    result = compute_tpr(dataset, Selection("Adamawa", "all", "all"))
    return {
        (r.lga, r.ward): (None if math.isnan(r.tpr) else r.tpr, r.tested, r.positive, r.method)
        for r in result.wards.itertuples()
    }


# The hand figures of test_calculation, whatever the file looks like.
EXPECTED = {
    ("Fufore", "Bille"): (50.0, 12, 6, "microscopy"),
    ("Fufore", "Yelwa"): (50.0, 10, 5, "rdt"),
    ("Song", "Karlahi"): (None, 0, 0, "none"),
    ("Song", "Yelwa"): (40.0, 100, 40, "rdt"),
}


def test_layout_a_reads_raw_sheet_not_pivot(hand: Dataset) -> None:
    assert hand.meta["layout"] == "A" and hand.meta["sheet"] == "raw"
    assert hand.meta["has_facility_level"] is True
    assert len(hand.frame) == len(HAND_ROWS)
    assert adamawa_wards(hand) == EXPECTED


def test_canonical_frame_names_and_dtypes(hand: Dataset) -> None:
    frame = hand.frame
    assert list(frame.columns[:7]) == ["state", "lga", "ward", "facility", "level", "period",
                                       "periodcode"]  # fmt: skip
    assert sorted(frame["state"].unique()) == ["Adamawa", "Kwara"]
    assert "Fufore" in set(frame["lga"]) and "Bille" in set(frame["ward"])
    assert set(frame["facility"]) >= {"Bille PHC", "Gure Clinique Thérèse"}
    assert set(frame["level"]) == {"primary", "secondary"}
    for column in ("state", "lga", "ward", "facility", "level", "period"):
        assert frame[column].dtype == "category"
    assert str(frame["rdt_tested_u5"].dtype) == "Int32"
    assert frame["periodcode"].dtype.kind == "i"


def test_layout_b_totals_row_blank_first_row_no_level(tmp_path: Path) -> None:
    lines = table(HAND_ROWS, "B", garbled=True, totals=True)
    dataset = load_dataset(write_xlsx(lines, tmp_path / "national.xlsx", blank_first_row=True))
    assert dataset.meta["layout"] == "B"
    assert dataset.meta["totals_rows_dropped"] == 1
    assert dataset.meta["has_facility_level"] is False
    assert len(dataset.frame) == len(HAND_ROWS)  # the totals row would double every figure
    assert adamawa_wards(dataset) == EXPECTED
    with pytest.raises(TPRDataError, match="no facility level column"):
        compute_tpr(dataset, Selection("Adamawa", "primary"))


def test_layout_c_mixed_case_levels(tmp_path: Path) -> None:
    lines = table(HAND_ROWS, "C")
    for line in lines[1::2]:
        line[4] = str(line[4]).lower()
    lines[1][4] = "PRIMARY"
    dataset = load_dataset(write_xlsx(lines, tmp_path / "adamawa_tpr_cleaned.xlsx"))
    assert dataset.meta["layout"] == "C"
    assert set(dataset.frame["level"]) == {"primary", "secondary"}
    assert adamawa_wards(dataset) == EXPECTED
    primary = compute_tpr(dataset, Selection("Adamawa", "primary"))
    assert primary.stats["wards_with_data"] == 2


@pytest.mark.parametrize(
    ("layout", "encoding", "garbled"),
    [("A", "utf-8", False), ("B", "utf-8-sig", False), ("C", "cp1252", True),
     ("A", "cp1252", True), ("B", "utf-8", True)],
)  # fmt: skip
def test_csv_encodings(tmp_path: Path, layout: str, encoding: str, garbled: bool) -> None:
    lines = table(HAND_ROWS, layout, garbled=garbled, totals=layout == "B")
    path = write_csv(lines, tmp_path / "niger_tpr_cleaned.csv", encoding=encoding)
    dataset = load_dataset(path)
    assert dataset.meta["layout"] == layout
    assert adamawa_wards(dataset) == EXPECTED
    assert "Gure Clinique Thérèse" in set(dataset.frame["facility"])  # é decoded right
    assert dataset.meta["totals_rows_dropped"] == (1 if layout == "B" else 0)


def test_csv_blank_first_row_and_semicolons(tmp_path: Path) -> None:
    lines = table(HAND_ROWS, "A")
    text = "\r\n" + "\r\n".join(";".join("" if v is None else str(v) for v in line)
                                for line in lines)  # fmt: skip
    path = tmp_path / "semi.csv"
    path.write_text(text, encoding="utf-8")
    assert adamawa_wards(load_dataset(path)) == EXPECTED


def test_garbled_double_spaced_and_cased_headers(tmp_path: Path) -> None:
    lines = table(HAND_ROWS, "A", garbled=True)
    lines[0] = [h.upper() if i % 3 == 0 else h.replace(" ", "  ") for i, h in enumerate(lines[0])]
    dataset = load_dataset(write_xlsx(lines, tmp_path / "garbled.xlsx"))
    assert adamawa_wards(dataset) == EXPECTED


def test_duplicate_columns_are_not_counted_twice(tmp_path: Path) -> None:
    lines = table(HAND_ROWS, "B")
    lines[0].append(HEADERS["rdt_t_u5"])  # DHIS2 repeats a column: same header twice
    for line in lines[1:]:
        line.append(999)
    dataset = load_dataset(write_xlsx(lines, tmp_path / "dup.xlsx"))
    assert adamawa_wards(dataset) == EXPECTED
    lines[0][-1] = HEADERS["rdt_t_u5"] + ".1"  # as pandas names it once read
    assert adamawa_wards(load_dataset(write_csv(lines, tmp_path / "dup.csv"))) == EXPECTED


def test_rows_without_ward_are_reported_and_excluded(tmp_path: Path) -> None:
    rows = [*HAND_ROWS, row("Adamawa", "Song", "", "Mystery PHC", "primary", 1,
                            rdt_t_u5=100, rdt_p_u5=100)]  # fmt: skip
    lines = table(rows, "C")
    dataset = load_dataset(write_xlsx(lines, tmp_path / "noward.xlsx"))
    assert dataset.meta["rows_without_ward"] == 1
    assert adamawa_wards(dataset) == EXPECTED
    assert compute_tpr(dataset, Selection("Adamawa")).quality["rows_without_ward"] == 1


def test_spelling_variants_are_one_ward(tmp_path: Path) -> None:
    lines = table(HAND_ROWS, "A")
    lines[2][2] = "ad  BILLE   Ward"  # February Bille row, other case and spacing
    dataset = load_dataset(write_xlsx(lines, tmp_path / "variants.xlsx"))
    assert adamawa_wards(dataset) == EXPECTED


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("ad Adamawa State", "Adamawa"), ("ad Fufore Local Government Area", "Fufore"),
     ("ad Bille Ward", "Bille"), ("ad Bille PHC", "Bille PHC"), ("Adamawa State", "Adamawa"),
     ("  kw   Ilorin   West  Local Government Area ", "Ilorin West"), ("Yola North", "Yola North"),
     (None, "")],
)  # fmt: skip
def test_clean_name(raw: str | None, clean: str) -> None:
    assert clean_name(raw) == clean


def test_arrow_round_trip(hand: Dataset) -> None:
    restored = Dataset.from_bytes(hand.to_bytes())
    assert restored.meta == hand.meta
    assert restored.frame.equals(hand.frame)
    assert list(restored.frame.dtypes) == list(hand.frame.dtypes)
    assert adamawa_wards(restored) == EXPECTED
    with pytest.raises(TPRDataError):
        Dataset.from_bytes(b"not arrow")


def test_bytes_and_file_objects(hand_path: Path) -> None:
    data = hand_path.read_bytes()
    assert adamawa_wards(load_dataset(data, filename="x.xlsx")) == EXPECTED
    with hand_path.open("rb") as handle:
        dataset = load_dataset(handle)
    assert dataset.meta["source_name"] == hand_path.name


@pytest.mark.parametrize("layout", ["A", "B", "C"])
def test_sample_edit_round_trips(tmp_path: Path, layout: str) -> None:
    frame = sample_frame(layout, states=1, rows_per_state=60, seed=3)
    ward_column = {"A": "Ward", "B": "orgunitlevel4", "C": "WardName"}[layout]
    evil = "<img src=x onerror=alert(1)>"
    frame.loc[0, ward_column] = f"ad {evil} Ward" if layout != "C" else evil
    frame.loc[1, ward_column] = '=HYPERLINK("http://x")'
    for suffix in (".xlsx", ".csv"):
        path = write_sample_file(frame, tmp_path / f"edited{suffix}", layout)
        wards = set(load_dataset(path).frame["ward"])
        assert evil in wards and '=HYPERLINK("http://x")' in wards


def test_sample_has_the_promised_shape() -> None:
    frame = sample_frame("A", states=2, rows_per_state=200, seed=0)
    assert len(frame) == 400
    states = list(dict.fromkeys(frame["State"]))
    assert states == ["ad Adamawa State", "kw Kwara State"]
    assert frame["periodcode"].nunique() == 12
    adamawa = frame[frame["State"] == "ad Adamawa State"]
    assert adamawa["LGA"].nunique() >= 3
    assert set(adamawa["level"]) == {"Primary Health Facility", "Secondary Health Facility",
                                     "Tertiary Health Facility"}  # fmt: skip
    assert (adamawa["level"] == "Primary Health Facility").mean() >= 0.7
    yelwa = adamawa[adamawa["Ward"] == "ad Yelwa Ward"]
    assert yelwa["LGA"].nunique() == 2
    b = sample_frame("B", states=1, rows_per_state=24)
    assert b.iloc[-1]["orgunitlevel1"] == "Total" and len(b) == 25


def test_empty_workbook(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    openpyxl.Workbook().save(path)
    with pytest.raises(TPRDataError, match="empty"):
        load_dataset(path)


def test_openpyxl_fallback_gives_the_same_figures(hand_path: Path, monkeypatch) -> None:
    """When calamine refuses a workbook, the slower openpyxl path must agree exactly."""
    import fastexcel

    def refuse(*_args, **_kwargs):
        raise RuntimeError("calamine cannot read this")

    monkeypatch.setattr(fastexcel, "read_excel", refuse)
    dataset = load_dataset(hand_path)
    assert dataset.meta["sheet"] == "raw"
    assert adamawa_wards(dataset) == EXPECTED


def test_text_in_figure_cells_counts_as_blank(tmp_path: Path) -> None:
    lines = table(HAND_ROWS, "C")
    position = lines[0].index(HEADERS["rdt_t_u5"])
    karlahi_feb = next(i for i, line in enumerate(lines) if line[2] == "Karlahi" and
                       line[6] == "202402")  # fmt: skip
    lines[karlahi_feb][position] = "n/a"  # was 0: blank and 0 are both "nothing"
    lines[karlahi_feb][position + 3] = "inf"  # positives u5: not a count, so blank
    dataset = load_dataset(write_csv(lines, tmp_path / "text.csv"))
    assert adamawa_wards(dataset) == EXPECTED
    # Had "inf" been read as a number it would be positives without tests: a 4th invalid pair.
    assert compute_tpr(dataset, Selection("Adamawa")).quality["invalid_pairs"] == 3


def test_utf16_tab_separated_text(tmp_path: Path) -> None:
    """Excel's "Unicode text" export: UTF-16 with a BOM, tab-separated."""
    lines = table(HAND_ROWS, "A")
    text = "\r\n".join("\t".join("" if v is None else str(v) for v in line) for line in lines)
    path = tmp_path / "unicode.txt"
    path.write_bytes(text.encode("utf-16"))
    assert adamawa_wards(load_dataset(path)) == EXPECTED


def test_fractional_figures_are_kept_exactly(tmp_path: Path) -> None:
    """Some exports carry decimals (averaged imputations): they stay numbers, not text."""
    rows = [row("Adamawa", "Song", "Dumne", "Dumne PHC", "primary", 2, rdt_t_u5=2.5,
                rdt_p_u5=0.5),
            row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 1, rdt_t_u5=10,
                rdt_p_u5=4)]  # fmt: skip
    dataset = load_dataset(write_csv(table(rows, "A"), tmp_path / "fractions.csv"))
    assert dataset.frame.index.equals(pd.RangeIndex(2))
    wards = adamawa_wards(dataset)
    assert wards[("Song", "Dumne")][0] == pytest.approx(20.0)  # 0.5 / 2.5
    assert wards[("Fufore", "Bille")][:3] == (40.0, 10, 4)
