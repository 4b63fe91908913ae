"""Maps benchmark: national synthetic ward boundaries (~8,500 wards, >= 50 MB GeoJSON).

Prints, in one run:
- upload to match report: parse in the upload worker's function (read, reproject, repair,
  simplify, encode), store and load through the real BoundaryStore in a private Redis, match
  against a national dataset (target <= 15 s);
- stored size against the GeoJSON (target <= 25 %);
- map render time (compute + draw + PNG) for one state (target <= 1.5 s) and the whole
  country (target <= 6 s).
Generated inputs are kept under bench/data/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from actions.service.dataset_store import BoundaryStore  # noqa: E402
from actions.service.upload_checks import parse_boundaries  # noqa: E402
from actions.tpr import Selection, compute_tpr, load_dataset  # noqa: E402
from actions.tpr.maps import national_tpr_map_png, tpr_map_png  # noqa: E402
from actions.tpr.sample import sample_frame, write_sample_file  # noqa: E402
from actions.tpr.sample_boundaries import sample_boundaries, write_boundaries  # noqa: E402
from actions.tpr.ward_match import data_wards_of, match_wards  # noqa: E402
from tests.helpers import PrivateRedis  # noqa: E402

DATA = ROOT / "bench" / "data"
WORKBOOK = DATA / "national_layout_a.csv"
GEOJSON = DATA / "national_wards.geojson"


def ensure_inputs(points_per_edge: int) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    if not WORKBOOK.exists():
        print("generating the national workbook (37 states x 9,200 rows) ...", flush=True)
        write_sample_file(sample_frame("A", states=37, rows_per_state=9200, seed=2024), WORKBOOK)
    if not GEOJSON.exists():
        print("generating national ward boundaries ...", flush=True)
        gdf, _ = sample_boundaries(load_dataset(WORKBOOK), points_per_edge=points_per_edge)
        write_boundaries(gdf, GEOJSON)


def timed(function, *args):
    started = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - started


def verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "OVER TARGET"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points-per-edge", type=int, default=40)
    parser.add_argument("--state-repeats", type=int, default=3)
    args = parser.parse_args()
    ensure_inputs(args.points_per_edge)
    dataset = load_dataset(WORKBOOK)
    data = GEOJSON.read_bytes()

    started, cpu = time.perf_counter(), time.process_time()
    outcome, payload, summary = parse_boundaries(data, "national_wards.geojson")
    parsed, parse_cpu = time.perf_counter() - started, time.process_time() - cpu
    assert outcome == "ok", payload

    async def store_and_load() -> object:
        with tempfile.TemporaryDirectory() as tmp:
            redis = PrivateRedis(Path(tmp)).start()
            try:
                store = BoundaryStore(redis_url=redis.url, cache_size=0)
                boundaries_id = await store.save_bytes("bench", payload, summary)
                loaded = await store.load(boundaries_id, owner="bench")
                await store.close()
                return loaded
            finally:
                redis.stop()

    boundaries, stored = timed(lambda: asyncio.run(store_and_load()))
    report, matched = timed(match_wards, data_wards_of(dataset), boundaries.wards)
    total = parsed + stored + matched
    counts = report.counts()
    print(f"boundaries: {GEOJSON.name}, {len(data) / 1e6:.1f} MB GeoJSON, "
          f"{summary['wards']:,} ward polygons; dataset {len(dataset.frame):,} rows, "
          f"{counts['data_wards']:,} wards ({counts['matched']:,} matched)")  # fmt: skip
    print(f"machine load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"the parse used {parse_cpu:.2f} s of CPU")  # fmt: skip
    print(f"upload to match report:      {total:6.2f} s  (parse {parsed:.2f} s, "
          f"store+load {stored:.2f} s, match {matched:.2f} s; "
          f"target <= 15 s: {verdict(total, 15)})")  # fmt: skip
    ratio = len(payload) / len(data)
    print(f"stored size:                 {len(payload) / 1e6:6.2f} MB = {ratio:.1%} of the "
          f"GeoJSON (target <= 25%: {verdict(ratio, 0.25)})")  # fmt: skip

    state = "Kano" if "Kano" in dataset.states else dataset.states[0]
    timings, cpu_timings = [], []
    for _ in range(args.state_repeats):
        started, cpu = time.perf_counter(), time.process_time()
        result = compute_tpr(dataset, Selection(state))
        png = tpr_map_png(result, boundaries, report)
        timings.append(time.perf_counter() - started)
        cpu_timings.append(time.process_time() - cpu)
    state_time = statistics.median(timings)
    print(f"state map ({state}):          {state_time:6.2f} s  median of {args.state_repeats} "
          f"(CPU {statistics.median(cpu_timings):.2f} s), {len(png) / 1e3:.0f} KB PNG "
          f"(target <= 1.5 s: {verdict(state_time, 1.5)})")  # fmt: skip

    started, cpu = time.perf_counter(), time.process_time()
    wards = pd.concat([compute_tpr(dataset, Selection(s)).wards for s in dataset.states])
    png = national_tpr_map_png(wards, boundaries, report, "Ward TPR (%): Nigeria, all states")
    national, national_cpu = time.perf_counter() - started, time.process_time() - cpu
    # LGA outlines are made on a state's first map and kept: the first state map made Kano's
    # (inside its median), the national map makes those of the 36 other states.
    print(f"national map:                {national:6.2f} s  (CPU {national_cpu:.2f} s), "
          f"{len(wards):,} wards, "
          f"{len(png) / 1e3:.0f} KB PNG (target <= 6 s: {verdict(national, 6)})")  # fmt: skip
    (DATA / "national_map.png").write_bytes(png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
