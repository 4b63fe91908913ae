"""Ward TPR on the hand-worked rows of conftest.py; every expected figure is worked by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from actions.tpr import Dataset, Selection, TPRDataError, compute_tpr

REQUIRED = ["state", "lga", "ward", "tpr", "tested", "positive", "method", "rdt_tested",
            "rdt_positive", "rdt_tpr", "microscopy_tested", "microscopy_positive",
            "microscopy_tpr", "facilities", "invalid_pairs"]  # fmt: skip


def ward(result, lga: str, name: str) -> dict:
    rows = result.wards[(result.wards["lga"] == lga) & (result.wards["ward"] == name)]
    assert len(rows) == 1, f"expected one row for {lga}/{name}, got {len(rows)}"
    return rows.iloc[0].to_dict()


def test_columns_in_required_order(hand: Dataset) -> None:
    result = compute_tpr(hand, Selection("Adamawa"))
    assert list(result.wards.columns[: len(REQUIRED)]) == REQUIRED


def test_every_validity_rule_all_ages(hand: Dataset) -> None:
    bille = ward(compute_tpr(hand, Selection("Adamawa", "all", "all", "max")), "Fufore", "Bille")
    # RDT counted: u5 10/4 and o5 20/(blank -> 0); pw 5/7 and both February pairs excluded.
    assert (bille["rdt_tested"], bille["rdt_positive"]) == (30, 4)
    assert bille["rdt_tpr"] == pytest.approx(100 * 4 / 30)
    # Microscopy: u5 8/2 and o5 4/4 (P = T is allowed).
    assert (bille["microscopy_tested"], bille["microscopy_positive"]) == (12, 6)
    assert bille["microscopy_tpr"] == pytest.approx(50.0)
    # max: microscopy 50 % > RDT 13.3 %, so numerator and denominator are microscopy's.
    assert (bille["tpr"], bille["tested"], bille["positive"]) == (50.0, 12, 6)
    assert bille["method"] == "microscopy"
    # Invalid: Jan pw (P > T), Feb u5 (blank T, P > 0), Feb o5 (T = 0, P > 0); Feb pw is 0/0.
    assert bille["invalid_pairs"] == 3
    assert bille["facilities"] == 1


def test_single_age_groups(hand: Dataset) -> None:
    u5 = ward(compute_tpr(hand, Selection("Adamawa", "all", "u5")), "Fufore", "Bille")
    assert (u5["tpr"], u5["tested"], u5["positive"], u5["method"]) == (40.0, 10, 4, "rdt")
    assert u5["microscopy_tpr"] == pytest.approx(25.0)
    assert u5["invalid_pairs"] == 1
    o5 = ward(compute_tpr(hand, Selection("Adamawa", "all", "o5")), "Fufore", "Bille")
    assert (o5["tpr"], o5["method"], o5["rdt_tpr"]) == (100.0, "microscopy", 0.0)
    pw = ward(compute_tpr(hand, Selection("Adamawa", "all", "pw")), "Fufore", "Bille")
    assert math.isnan(pw["tpr"]) and pw["method"] == "none" and pw["invalid_pairs"] == 1


def test_tie_goes_to_rdt(hand: Dataset) -> None:
    yelwa = ward(compute_tpr(hand, Selection("Adamawa")), "Fufore", "Yelwa")
    assert (yelwa["tpr"], yelwa["tested"], yelwa["positive"], yelwa["method"]) == (
        50.0, 10, 5, "rdt")  # fmt: skip


def test_same_ward_name_in_two_lgas_stays_two_wards(hand: Dataset) -> None:
    result = compute_tpr(hand, Selection("Adamawa"))
    pairs = list(zip(result.wards["lga"], result.wards["ward"], strict=True))
    assert pairs == [("Fufore", "Bille"), ("Fufore", "Yelwa"), ("Song", "Karlahi"),
                     ("Song", "Yelwa")]  # fmt: skip
    song = ward(result, "Song", "Yelwa")
    assert (song["tpr"], song["tested"], song["positive"]) == (40.0, 100, 40)


def test_ward_without_tests_is_blank_not_zero(hand: Dataset) -> None:
    karlahi = ward(compute_tpr(hand, Selection("Adamawa")), "Song", "Karlahi")
    assert math.isnan(karlahi["tpr"])
    assert karlahi["method"] == "none"
    assert (karlahi["tested"], karlahi["positive"], karlahi["facilities"]) == (0, 0, 1)


def test_level_filter_lists_every_ward(hand: Dataset) -> None:
    result = compute_tpr(hand, Selection("Adamawa", "primary", "all"))
    assert len(result.wards) == 4
    song = ward(result, "Song", "Yelwa")  # only a secondary facility there
    assert math.isnan(song["tpr"]) and song["method"] == "none" and song["facilities"] == 0
    assert ward(result, "Fufore", "Bille")["tpr"] == 50.0
    assert result.stats["wards_with_data"] == 2


def test_other_methods(hand: Dataset) -> None:
    combined = compute_tpr(hand, Selection("Adamawa", method="combined"))
    bille = ward(combined, "Fufore", "Bille")
    assert bille["tpr"] == pytest.approx(100 * 10 / 42)  # (4 + 6) / (30 + 12)
    assert (bille["tested"], bille["positive"], bille["method"]) == (42, 10, "combined")
    rdt = ward(compute_tpr(hand, Selection("Adamawa", method="rdt")), "Fufore", "Bille")
    assert rdt["tpr"] == pytest.approx(100 * 4 / 30) and rdt["method"] == "rdt"
    micro = compute_tpr(hand, Selection("Adamawa", method="microscopy"))
    assert ward(micro, "Song", "Yelwa")["method"] == "none"
    assert ward(micro, "Fufore", "Yelwa")["tpr"] == 50.0


def test_period_range(hand: Dataset) -> None:
    result = compute_tpr(hand, Selection("Adamawa", period_from="202402", period_to=202412))
    bille = ward(result, "Fufore", "Bille")
    assert (bille["tpr"], bille["method"], bille["invalid_pairs"]) == (50.0, "microscopy", 2)
    assert math.isnan(ward(result, "Fufore", "Yelwa")["tpr"])  # January only
    assert ward(result, "Song", "Yelwa")["tpr"] == 50.0  # February 30/60
    assert result.period["first_code"] == "202402" and result.period["last"] == "March 2024"
    named = compute_tpr(hand, Selection("Adamawa", period_from="February 2024"))
    assert ward(named, "Song", "Yelwa")["tpr"] == 50.0


def test_lga_and_state_totals_and_stats(hand: Dataset) -> None:
    result = compute_tpr(hand, Selection("Adamawa"))
    lgas = result.lgas.set_index("lga")
    # Fufore: RDT (30 + 10) / (4 + 5) = 22.5 %, microscopy (12 + 4) / (6 + 2) = 50 %.
    assert lgas.loc["Fufore", "rdt_tested"] == 40 and lgas.loc["Fufore", "rdt_positive"] == 9
    assert (lgas.loc["Fufore", "tpr"], lgas.loc["Fufore", "method"]) == (50.0, "microscopy")
    assert (lgas.loc["Fufore", "tested"], lgas.loc["Fufore", "positive"]) == (16, 8)
    assert (lgas.loc["Song", "tpr"], lgas.loc["Song", "wards_with_data"]) == (40.0, 1)
    total = result.state_total
    # State: RDT 49 / 140 = 35 %, microscopy 8 / 16 = 50 %.
    assert (total["rdt_tested"], total["rdt_positive"]) == (140, 49)
    assert (total["tpr"], total["tested"], total["positive"]) == (50.0, 16, 8)
    assert total["wards"] == 4 and total["facilities"] == 4 and total["invalid_pairs"] == 3
    stats = result.stats
    assert (stats["wards_total"], stats["wards_with_data"], stats["wards_without_data"]) == (
        4, 3, 1)  # fmt: skip
    assert stats["mean"] == pytest.approx((50 + 50 + 40) / 3)
    assert (stats["median"], stats["min"], stats["max"]) == (50.0, 40.0, 50.0)
    assert result.quality == {"invalid_pairs": 3, "totals_rows_dropped": 0,
                              "rows_without_ward": 0}  # fmt: skip


def test_top_wards_puts_blank_last(hand: Dataset) -> None:
    top = compute_tpr(hand, Selection("Adamawa")).top_wards(10)
    assert list(top["ward"])[-1] == "Karlahi"
    assert list(top["tpr"])[:3] == [50.0, 50.0, 40.0]


def test_state_names_are_resolved(hand: Dataset) -> None:
    for spelling in ("Adamawa State", "adamawa", "ADAMAWA", "ad Adamawa State"):
        assert compute_tpr(hand, Selection(spelling)).selection.state == "Adamawa"


@pytest.mark.parametrize(
    ("selection", "words"),
    [
        (Selection("Lagos"), "couldn't find 'Lagos'"),
        (Selection("Kwara", "secondary"), "no secondary facilities"),
        (Selection("Adamawa", "district"), "not a facility level"),
        (Selection("Adamawa", age_group="teens"), "not an age group"),
        (Selection("Adamawa", method="mean"), "not a method"),
        (Selection("Adamawa", period_from="202501"), "no data in the period"),
    ],
)
def test_impossible_selections(hand: Dataset, selection: Selection, words: str) -> None:
    with pytest.raises(TPRDataError, match=words):
        compute_tpr(hand, selection)


def test_tpr_opd_only_for_wards_above_50_percent(tmp_path) -> None:
    from actions.tpr import load_dataset
    from tests.engine.nmep import row, table, write_xlsx

    rows = [
        # High: RDT 6/10 = 60 %; attendance 30 + 50 = 80 -> tpr_opd = 6 / 80 = 7.5 %.
        row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 1, opd=30,
            rdt_t_u5=10, rdt_p_u5=6),
        row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 2, opd=50),
        # Low: 2/10 = 20 %: attendance reported, no alternative figure.
        row("Adamawa", "Fufore", "Gurin", "Gurin PHC", "primary", 1, opd=40,
            rdt_t_u5=10, rdt_p_u5=2),
        # High but no attendance reported: no alternative figure either.
        row("Adamawa", "Song", "Dumne", "Dumne PHC", "primary", 1, rdt_t_u5=4, rdt_p_u5=4),
    ]  # fmt: skip
    dataset = load_dataset(write_xlsx(table(rows, "A", opd=True), tmp_path / "opd.xlsx"))
    assert dataset.meta["has_opd"] is True
    result = compute_tpr(dataset, Selection("Adamawa"))
    assert list(result.wards.columns[15:]) == ["opd_attendance", "tpr_opd", "tpr_opd_note"]
    bille, gurin, dumne = (ward(result, "Fufore", "Bille"), ward(result, "Fufore", "Gurin"),
                           ward(result, "Song", "Dumne"))  # fmt: skip
    assert bille["tpr"] == 60.0  # tpr itself is never replaced
    assert bille["opd_attendance"] == 80 and bille["tpr_opd"] == pytest.approx(7.5)
    assert "not the TPR" in bille["tpr_opd_note"]
    assert gurin["opd_attendance"] == 40 and math.isnan(gurin["tpr_opd"])
    assert gurin["tpr_opd_note"] == ""
    assert dumne["tpr"] == 100.0 and math.isnan(dumne["tpr_opd"])
    assert pd.isna(dumne["opd_attendance"])
