"""Analysis benchmark: the questions after the results on a national-size dataset, one state.

Prints the median and p95 time of each analysis function (group totals, comparison, invalid-pair
list, completeness by LGA and by month, one ward, wards without data, finding a ward or LGA,
charts and exports) next to `compute_tpr` for the same selection, and their ratio to it. Target:
a few tens of ms per call. Uses bench/data/national_layout_b.xlsx when `make bench` has made it,
else a national-size sample (37 states x 9,200 rows, layout B) generated in memory as CSV.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actions.tpr import (  # noqa: E402
    Selection,
    compare_selections,
    completeness,
    completeness_by_month,
    compute_tpr,
    find_lga,
    find_wards,
    group_totals,
    invalid_pairs_list,
    load_dataset,
    ward_detail,
    wards_without_data,
)
from actions.tpr.charts import comparison_chart_png, completeness_chart_png  # noqa: E402
from actions.tpr.export import table_csv_bytes, tables_xlsx_bytes  # noqa: E402
from actions.tpr.sample import sample_frame  # noqa: E402

NATIONAL = ROOT / "bench" / "data" / "national_layout_b.xlsx"


def national_dataset():
    if NATIONAL.exists():
        return load_dataset(NATIONAL), NATIONAL.name
    frame = sample_frame("B", states=37, rows_per_state=9200, seed=2024)
    data = frame.to_csv(index=False).encode()
    return load_dataset(data, "national_layout_b.csv"), "generated national_layout_b.csv"


def timed(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, p95) in ms after one warm-up call."""
    call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.95 * len(samples)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    dataset, source = national_dataset()
    print(f"dataset: {source}, {len(dataset.frame):,} rows, {len(dataset.states)} states, "
          f"loaded in {time.perf_counter() - started:.1f} s")  # fmt: skip
    state = "Kano" if "Kano" in dataset.states else dataset.states[0]
    a = Selection(state=state, facility_level="all", age_group="u5", method="max")
    b = Selection(state=state, facility_level="all", age_group="pw", method="max")
    result = compute_tpr(dataset, a)
    comparison = compare_selections(dataset, a, b)
    by_month = completeness_by_month(dataset, a)
    first = result.wards.iloc[0]
    cases: list[tuple[str, Callable[[], object]]] = [
        ("compute_tpr (reference)", lambda: compute_tpr(dataset, a)),
        ("group_totals by LGA", lambda: group_totals(dataset, a, "lga")),
        ("group_totals by state", lambda: group_totals(dataset, a, "state")),
        ("compare_selections", lambda: compare_selections(dataset, a, b)),
        ("invalid_pairs_list", lambda: invalid_pairs_list(dataset, a)),
        ("completeness by LGA", lambda: completeness(dataset, a, "lga")),
        ("completeness by ward", lambda: completeness(dataset, a, "ward")),
        ("completeness_by_month (LGA)", lambda: completeness_by_month(dataset, a)),
        ("ward_detail", lambda: ward_detail(dataset, a, first["lga"], first["ward"])),
        ("wards_without_data", lambda: wards_without_data(result, dataset)),
        ("find_wards", lambda: find_wards(dataset, state, str(first["ward"]))),
        ("find_lga (misspelt)", lambda: find_lga(dataset, state, str(first["lga"])[:-1] + "x")),
        ("comparison_chart_png", lambda: comparison_chart_png(comparison)),
        ("completeness_chart_png", lambda: completeness_chart_png(by_month)),
        ("table_csv_bytes (comparison)", lambda: table_csv_bytes(comparison.wards)),
        ("tables_xlsx_bytes (comparison)", lambda: tables_xlsx_bytes({"c": comparison.wards})),
    ]
    invalid = result.quality["invalid_pairs"]
    print(f"state {state}: {len(result.wards):,} wards, {len(result.lgas)} LGAs, "
          f"{invalid:,} invalid pairs; {args.repeats} repeats each")  # fmt: skip
    reference = None
    print(f"{'call':34} {'median ms':>10} {'p95 ms':>8} {'x compute':>10}")
    for name, call in cases:
        median, p95 = timed(call, args.repeats)
        reference = reference or median
        print(f"{name:34} {median:10.1f} {p95:8.1f} {median / reference:10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
