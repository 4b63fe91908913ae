"""Fixtures: the hand-worked dataset every calculation test reasons about."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.tpr import Dataset, load_dataset
from tests.engine.nmep import row, table, write_xlsx

# Hand-worked rows. Comments give the rule each cell pair exercises.
HAND_ROWS = [
    # Fufore / Bille, a primary facility.
    row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 1,
        rdt_t_u5=10, rdt_p_u5=4,    # counted
        rdt_t_o5=20,                # counted, blank P taken as 0
        rdt_t_pw=5, rdt_p_pw=7),    # P > T: invalid
    row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 2,
        rdt_p_u5=3,                 # blank T, P > 0: invalid
        rdt_t_o5=0, rdt_p_o5=2,     # T = 0, P > 0: invalid
        rdt_t_pw=0, rdt_p_pw=0),    # nothing
    row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 3,
        mic_t_u5=8, mic_p_u5=2,     # counted
        mic_t_o5=4, mic_p_o5=4),    # P = T: counted
    # Fufore / Yelwa: RDT 5/10 and microscopy 2/4 tie at 50 %: RDT wins.
    row("Adamawa", "Fufore", "Yelwa", "Yelwa Health Post", "primary", 1,
        rdt_t_u5=10, rdt_p_u5=5, mic_t_u5=4, mic_p_u5=2),
    # Song / Yelwa: same ward name in another LGA, a secondary facility.
    row("Adamawa", "Song", "Yelwa", "Yelwa General Hospital", "secondary", 1,
        rdt_t_u5=40, rdt_p_u5=10),
    row("Adamawa", "Song", "Yelwa", "Yelwa General Hospital", "secondary", 2,
        rdt_t_u5=60, rdt_p_u5=30),
    # Song / Karlahi: reports, but never a test.
    row("Adamawa", "Song", "Karlahi", "Karlahi PHC", "primary", 1),
    row("Adamawa", "Song", "Karlahi", "Karlahi PHC", "primary", 2, rdt_t_u5=0),
    # Kwara: one ward.
    row("Kwara", "Baruten", "Gure", "Gure Clinique Thérèse", "primary", 1,
        rdt_t_u5=50, rdt_p_u5=5),
]  # fmt: skip


@pytest.fixture(scope="session")
def hand_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand rows as a layout A workbook (pivot sheet first, data on `raw`)."""
    path = tmp_path_factory.mktemp("hand") / "hand_a.xlsx"
    pivot = [["Row Labels", "Sum of Persons presenting with fever & tested by RDT <5yrs"],
             ["ad Adamawa State", 120]]  # fmt: skip
    return write_xlsx(table(HAND_ROWS, "A"), path, sheet="raw", before={"pivot": pivot})


@pytest.fixture(scope="session")
def hand(hand_path: Path) -> Dataset:
    return load_dataset(hand_path)


# Rows for the questions after the results (tests/engine/test_analysis.py works every figure
# from these by hand). Fufore/Bille has a primary facility reporting RDT and microscopy and a
# secondary laboratory that reports only microscopy; Yelwa is a ward of Fufore and of Song;
# Song/Dumne reports only in March, so a January-February range empties it.
ANALYSIS_ROWS = [
    row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 1,
        rdt_t_u5=10, rdt_p_u5=4,    # counted
        rdt_t_o5=20,                # counted, blank P taken as 0
        rdt_t_pw=5, rdt_p_pw=7),    # invalid: positive > tested
    row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 2,
        rdt_p_u5=3,                 # invalid: positive without tested (T blank)
        rdt_t_o5=0, rdt_p_o5=2),    # invalid: positive without tested (T = 0)
    row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 3,
        mic_t_u5=8, mic_p_u5=2, mic_t_o5=4, mic_p_o5=4),
    row("Adamawa", "Fufore", "Bille", "Bille Lab", "secondary", 1, mic_t_u5=6, mic_p_u5=3),
    row("Adamawa", "Fufore", "Bille", "Bille Lab", "secondary", 2,
        mic_t_o5=10, mic_p_o5=1,
        mic_t_pw=2, mic_p_pw=5),    # invalid: positive > tested (microscopy)
    row("Adamawa", "Fufore", "Bille", "Bille Lab", "secondary", 3),  # present, no figure
    row("Adamawa", "Fufore", "Yelwa", "Yelwa Health Post", "primary", 1,
        rdt_t_u5=10, rdt_p_u5=5, mic_t_u5=4, mic_p_u5=2),  # 50 % each: a tie goes to RDT
    row("Adamawa", "Song", "Yelwa", "Yelwa General Hospital", "secondary", 1,
        rdt_t_u5=40, rdt_p_u5=10),
    row("Adamawa", "Song", "Yelwa", "Yelwa General Hospital", "secondary", 2,
        rdt_t_u5=60, rdt_p_u5=30),
    row("Adamawa", "Song", "Karlahi", "Karlahi PHC", "primary", 1),
    row("Adamawa", "Song", "Karlahi", "Karlahi PHC", "primary", 2, rdt_t_u5=0),
    row("Adamawa", "Song", "Dumne", "Dumne PHC", "primary", 3, rdt_t_u5=20, rdt_p_u5=5),
    row("Kwara", "Baruten", "Gure", "Gure PHC", "primary", 1, rdt_t_u5=50, rdt_p_u5=5),
]  # fmt: skip


@pytest.fixture(scope="session")
def analysis_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_xlsx(table(ANALYSIS_ROWS, "A"), tmp_path_factory.mktemp("analysis") / "a.xlsx")


@pytest.fixture(scope="session")
def analysis(analysis_path: Path) -> Dataset:
    return load_dataset(analysis_path)
