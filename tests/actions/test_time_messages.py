"""Upload reply for files over several years: years covered and the months with no data."""

from __future__ import annotations

from actions.conversation.messages import dataset_summary_text, month_runs
from actions.tpr import load_dataset, summarise
from tests.engine.multiyear import SERIES_ROWS, month_row, multiyear_csv


def test_multi_year_file_says_years_and_missing_months() -> None:
    text = dataset_summary_text(summarise(load_dataset(multiyear_csv(SERIES_ROWS), "two.csv")))
    lines = text.splitlines()
    # The file mentions 202311, 202312, 202401, 202402 and 202404.
    assert "This file covers 2023 to 2024 (5 months): November 2023 to April 2024." in lines
    assert not any(line.startswith("Period:") for line in lines)
    assert (
        "Months with no data: Adamawa (February to April 2024); "
        "Kwara (November 2023 to January 2024, March 2024)." in lines
    )


def test_single_year_file_keeps_the_period_line_and_says_nothing_when_complete() -> None:
    rows = [
        month_row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", code, rdt_t_u5=5)
        for code in (202401, 202402, 202403)
    ]
    text = dataset_summary_text(summarise(load_dataset(multiyear_csv(rows), "one.csv")))
    assert "Period: January 2024 to March 2024 (3 months)." in text.splitlines()
    assert "covers" not in text and "no data" not in text


def test_many_gaps_are_cut_short() -> None:
    assert month_runs(["202312", "202401", "202403", "202404", "202405", "202407"]) == [
        "December 2023 to January 2024",
        "March to May 2024",
        "July 2024",
    ]
    rows = [
        month_row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", code, rdt_t_u5=5)
        for code in (202301, 202303, 202305, 202307, 202309, 202401)
    ]
    text = dataset_summary_text(summarise(load_dataset(multiyear_csv(rows), "gaps.csv")))
    missing = next(line for line in text.splitlines() if line.startswith("Months with no data"))
    # Gaps: Feb, Apr, Jun, Aug, Oct-Dec 2023: five runs, three shown.
    assert missing == (
        "Months with no data: Adamawa (February 2023, April 2023, June 2023 and 2 more gaps)."
    )
