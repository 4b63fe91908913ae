"""Series benchmark: `trend` on one state of a three-year national dataset (~1M rows).

Prints, in one run: median time of `trend` by month and by year at each unit (target
<= 100 ms), `year_on_year`, `peak_months`, and `compute_tpr` on the same state for scale.

The dataset is the national sample (37 states x 9,200 rows, one year) loaded once and repeated
for 2022, 2023 and 2024 in the canonical frame, so this measures the series, not the reader
(`bench/ingest.py` times reading a real three-year workbook).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actions.tpr import (  # noqa: E402
    Dataset,
    Selection,
    compute_tpr,
    load_dataset,
    peak_months,
    trend,
    year_on_year,
)
from actions.tpr.dataset import MONTH_NAMES  # noqa: E402
from actions.tpr.sample import sample_frame  # noqa: E402

TARGET_MS = 100.0


def three_years(one_year: Dataset, years: int) -> Dataset:
    """`one_year` repeated `years` times, each copy shifted back one calendar year."""
    copies = []
    for back in range(years - 1, -1, -1):
        frame = one_year.frame.copy()
        codes = frame["periodcode"].to_numpy() - 100 * back
        frame["periodcode"] = codes.astype(np.int32)
        names = [f"{MONTH_NAMES[c % 100 - 1]} {c // 100}" for c in codes]
        frame["period"] = pd.Categorical(names)
        copies.append(frame)
    frame = pd.concat(copies, ignore_index=True)
    order = np.argsort(frame["state"].cat.codes.to_numpy(), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    return Dataset(frame=frame, meta=dict(one_year.meta))


def median_ms(function, repeat: int) -> float:
    function()  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=37)
    parser.add_argument("--rows-per-state", type=int, default=9200)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    started = time.perf_counter()
    raw = sample_frame("A", states=args.states, rows_per_state=args.rows_per_state, seed=2024)
    buffer = io.BytesIO()
    raw.to_csv(buffer, index=False)
    one_year = load_dataset(buffer.getvalue(), "national.csv")
    data = three_years(one_year, args.years)
    _ = data.arrays
    print(f"dataset: {len(data.frame):,} rows, {len(data.states)} states, {args.years} years "
          f"(built in {time.perf_counter() - started:.1f} s)")  # fmt: skip

    # The largest state, by rows.
    bounds = data.arrays.state_bounds
    state = max(bounds, key=lambda s: bounds[s][1] - bounds[s][0])
    rows = bounds[state][1] - bounds[state][0]
    selection = Selection(state, facility_level="all", age_group="all")
    print(f"state: {state} ({rows:,} rows)")
    worst = 0.0
    for by in ("month", "year"):
        for unit in ("state", "lga", "ward"):
            ms = median_ms(lambda by=by, unit=unit: trend(data, selection, by, unit), args.repeat)
            worst = max(worst, ms)
            size = len(trend(data, selection, by, unit))
            print(f"  trend by {by:<5} unit {unit:<5}: {ms:7.1f} ms  ({size:,} rows)")
    u5 = Selection(state, facility_level="primary", age_group="u5", method="combined")
    ms = median_ms(lambda: trend(data, u5, "month", "ward"), args.repeat)
    worst = max(worst, ms)
    print(f"  trend by month unit ward, primary u5 combined: {ms:7.1f} ms")
    last = max(int(c) // 100 for c in np.unique(data.arrays.periodcode))
    ms_yoy = median_ms(lambda: year_on_year(data, selection, last - 1, last), args.repeat)
    ms_peak = median_ms(lambda: peak_months(data, selection), args.repeat)
    ms_compute = median_ms(lambda: compute_tpr(data, selection), args.repeat)
    print(f"  year_on_year {last - 1}/{last}: {ms_yoy:7.1f} ms")
    print(f"  peak_months: {ms_peak:7.1f} ms")
    print(f"  compute_tpr (whole range), for scale: {ms_compute:7.1f} ms")
    verdict = "met" if worst <= TARGET_MS else "MISSED"
    print(f"slowest trend {worst:.1f} ms against the {TARGET_MS:.0f} ms target: {verdict} "
          f"({TARGET_MS / worst:.1f}x headroom)")  # fmt: skip


if __name__ == "__main__":
    main()
