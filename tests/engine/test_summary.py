"""summarise() on the hand rows: every figure counted by hand from conftest.HAND_ROWS."""

from __future__ import annotations

import json
from pathlib import Path

from actions.tpr import Dataset, load_dataset, summarise
from tests.engine.conftest import HAND_ROWS
from tests.engine.nmep import table, write_xlsx


def test_file_level_figures(hand: Dataset) -> None:
    summary = summarise(hand)
    json.dumps(summary)  # must be JSON-serialisable as is
    assert summary["rows"] == 9 and summary["layout"] == "A"
    assert summary["source"] == "hand_a.xlsx"
    assert summary["states"] == ["Adamawa", "Kwara"]
    assert summary["has_facility_level"] is True
    assert summary["period"] == {
        "first": "January 2024",
        "last": "March 2024",
        "first_code": "202401",
        "last_code": "202403",
        "months": 3,
    }
    assert summary["quality"] == {"totals_rows_dropped": 0, "rows_without_ward": 0,
                                  "invalid_pairs": 3}  # fmt: skip


def test_state_overview(hand: Dataset) -> None:
    adamawa = summarise(hand)["by_state"]["Adamawa"]
    assert (adamawa["lgas"], adamawa["wards"], adamawa["facilities"], adamawa["rows"]) == (
        2, 4, 4, 8)  # fmt: skip
    assert adamawa["period"]["months"] == 3
    # 6 of 8 rows are primary (Bille x3, Yelwa HP, Karlahi x2): 75 % >= 70 % -> primary.
    assert adamawa["levels"] == {
        "primary": {"facilities": 3, "records": 6, "tests": 56, "share": 75.0},
        "secondary": {"facilities": 1, "records": 2, "tests": 100, "share": 25.0},
    }
    assert adamawa["recommended_level"] == "primary"
    assert adamawa["age_groups"]["u5"] == {
        "tests": 132,
        "rdt_tests": 120,
        "microscopy_tests": 12,
        "available": True,
    }
    assert adamawa["age_groups"]["o5"]["tests"] == 24
    assert adamawa["age_groups"]["pw"] == {"tests": 0, "rdt_tests": 0, "microscopy_tests": 0,
                                           "available": False}  # fmt: skip
    assert adamawa["age_groups"]["all"]["tests"] == 156
    assert adamawa["recommended_age_group"] == "u5"
    assert adamawa["quality"] == {"invalid_pairs": 3, "rows_without_ward": 0}


def test_completeness_counts_non_blank_tested_cells(hand: Dataset) -> None:
    completeness = summarise(hand)["by_state"]["Adamawa"]["completeness"]
    # RDT tested u5 is filled on 5 of 8 rows (a 0 counts as filled); o5 and pw on 2 of 8.
    assert completeness["rdt"] == {"u5": 62.5, "o5": 25.0, "pw": 25.0, "all": 37.5}
    assert completeness["microscopy"] == {"u5": 25.0, "o5": 12.5, "pw": 0.0, "all": 12.5}


def test_no_level_column_recommends_all(tmp_path: Path) -> None:
    dataset = load_dataset(write_xlsx(table(HAND_ROWS, "B", totals=True), tmp_path / "b.xlsx"))
    summary = summarise(dataset)
    assert summary["has_facility_level"] is False
    assert summary["quality"]["totals_rows_dropped"] == 1
    assert summary["by_state"]["Adamawa"]["levels"] == {}
    assert summary["by_state"]["Adamawa"]["recommended_level"] == "all"
    assert summary["rows"] == 9
