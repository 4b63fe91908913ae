"""Ingest benchmark: a national-size NMEP workbook, our reader against pandas+openpyxl.

Prints: file -> summary time, pandas.read_excel(engine="openpyxl") read time, their ratio
(target >= 15x), median recompute time for one state (target <= 50 ms) and peak memory.
The workbook (37 states, ~340k rows, layout B) is generated under bench/data/ when missing.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actions.tpr import Selection, compute_tpr, load_dataset, summarise  # noqa: E402
from actions.tpr.sample import sample_frame, write_sample_file  # noqa: E402

DATA = ROOT / "bench" / "data"
NATIONAL = DATA / "national_layout_b.xlsx"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_workbook(path: Path, states: int, rows_per_state: int) -> None:
    if path.exists():
        return
    print(f"generating {path.name} ({states} states x {rows_per_state:,} rows) ...", flush=True)
    started = time.perf_counter()
    frame = sample_frame("B", states=states, rows_per_state=rows_per_state, seed=2024)
    write_sample_file(frame, path, "B")
    print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=30, help="recompute repeats")
    parser.add_argument("--skip-openpyxl", action="store_true", help="skip the slow baseline")
    args = parser.parse_args()
    ensure_workbook(NATIONAL, states=37, rows_per_state=9200)
    size_mb = NATIONAL.stat().st_size / 1e6

    started = time.perf_counter()
    dataset = load_dataset(NATIONAL)
    summary = summarise(dataset)
    ours = time.perf_counter() - started
    ours_peak = peak_rss_mb()
    print(f"workbook: {NATIONAL.relative_to(ROOT)}, {size_mb:.1f} MB, {summary['rows']:,} rows, "
          f"{len(summary['states'])} states, "
          f"{sum(s['wards'] for s in summary['by_state'].values()):,} wards")  # fmt: skip
    print(f"ours, file -> summary:           {ours:6.2f} s")

    state = "Kano" if "Kano" in summary["states"] else summary["states"][0]
    selection = Selection(state=state, facility_level="all", age_group="u5", method="max")
    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        compute_tpr(dataset, selection)
        timings.append((time.perf_counter() - started) * 1000)
    median_ms = statistics.median(timings)
    print(f"recompute one state ({state}):     {median_ms:6.1f} ms median of {args.repeats} "
          f"(min {min(timings):.1f}, max {max(timings):.1f}; target <= 50 ms)")  # fmt: skip
    arrow_mb = len(dataset.to_bytes()) / 1e6
    print(f"dataset as Arrow bytes:          {arrow_mb:6.1f} MB")
    print(f"peak memory after ours:          {ours_peak:6.0f} MB (max RSS)")

    if args.skip_openpyxl:
        return 0
    import pandas as pd

    started = time.perf_counter()
    pd.read_excel(NATIONAL, engine="openpyxl")
    baseline = time.perf_counter() - started
    print(f"pandas.read_excel(openpyxl):     {baseline:6.2f} s (read only)")
    print(f"ratio:                           {baseline / ours:6.1f}x (target >= 15x)")
    print(f"peak memory incl. baseline:      {peak_rss_mb():6.0f} MB (max RSS)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
