"""Questions after the results: turn latency (p50/p95) of each question type, in one run.

A national-size sample (37 states, ~340k rows, layout B as bench/ingest.py makes it) is stored
for a few conversations on a 3-replica stack; each conversation reaches the results for
Adamawa (all facilities, under 5) through nginx and then asks, round after round, every
question type, a plain `status` turn and a fresh results turn ("now pregnant women" /
"now under 5", which recompute the results). Targets: every question type <= 3x the status
turn at p50; a comparison <= 1.5x a fresh results turn at p50.

    nice .venv/bin/python bench/followups.py [--rounds 6] [--conversations 2]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.helpers import PrivateRedis  # noqa: E402
from tests.integration.stack import post_message, start_stack, uploaded_message  # noqa: E402

DATA = REPO_ROOT / "bench" / "data"
NATIONAL_CSV = DATA / "national_layout_b.csv"
STATUS_TARGET = 3.0
COMPARE_TARGET = 1.5
# layout B has no facility level column: the form skips that question
TO_RESULTS = ["Adamawa State", "yes", "Under 5"]
QUESTIONS = {
    "LGA drill-down": "show the wards in Fufore",
    "top/bottom N": "bottom 10",
    "wards without data": "which wards have no data?",
    "LGA totals": "totals by LGA",
    "one ward": "tell me about Ribadu ward",
    "shared ward name": "tell me about Yelwa",
    "comparison": "compare with pregnant women",
    "invalid pairs": "show the invalid data",
    "completeness": "how complete is the reporting?",
}
RESULTS_TURNS = ["now pregnant women", "now under 5"]


def ensure_national_csv() -> Path:
    """The national sample as CSV (same generator and seed as bench/ingest.py's workbook)."""
    if NATIONAL_CSV.exists():
        return NATIONAL_CSV
    from actions.tpr.sample import sample_frame, write_sample_file

    DATA.mkdir(parents=True, exist_ok=True)
    print("generating the national sample (37 states x 9,200 rows) ...", flush=True)
    frame = sample_frame("B", states=37, rows_per_state=9200, seed=2024)
    write_sample_file(frame, NATIONAL_CSV, "B")
    return NATIONAL_CSV


def save_for(redis_url: str, owners: list[str], path: Path) -> dict[str, str]:
    from actions.service.dataset_store import DatasetStore
    from actions.tpr import load_dataset, summarise

    started = time.perf_counter()
    dataset = load_dataset(path)
    summary = summarise(dataset)
    print(f"  loaded {summary['rows']:,} rows in {time.perf_counter() - started:.1f} s")

    async def save_all() -> dict[str, str]:
        store = DatasetStore(redis_url=redis_url)
        try:
            return {o: await store.save(owner=o, dataset=dataset, summary=summary) for o in owners}
        finally:
            await store.close()

    return asyncio.run(save_all())


def breakdown(path: Path) -> None:
    """Where a comparison and a completeness answer spend their time, in this process."""
    from actions.tpr import (
        Selection,
        compare_selections,
        comparison_chart_png,
        completeness_chart_png,
        completeness_tables,
        load_dataset,
        table_csv_bytes,
        tables_xlsx_bytes,
    )

    dataset = load_dataset(path)
    a, b = Selection("Adamawa", "all", "u5"), Selection("Adamawa", "all", "pw")
    compared = compare_selections(dataset, a, b)
    by_lga, by_month = completeness_tables(dataset, a)
    parts = {
        "compare_selections": lambda: compare_selections(dataset, a, b),
        "comparison CSV": lambda: table_csv_bytes(compared.wards),
        "comparison XLSX": lambda: tables_xlsx_bytes({"Comparison": compared.wards}),
        "comparison chart": lambda: comparison_chart_png(compared),
        "completeness tables": lambda: completeness_tables(dataset, a),
        "completeness CSV": lambda: table_csv_bytes(by_lga),
        "completeness XLSX": lambda: tables_xlsx_bytes(
            {"Completeness by LGA": by_lga, "By LGA and month": by_month}
        ),
        "completeness chart": lambda: completeness_chart_png(by_month),
    }
    print("\nin-process cost of the parts (median of 5, ms):")
    for name, work in parts.items():
        work()
        times = []
        for _ in range(5):
            started = time.perf_counter()
            work()
            times.append((time.perf_counter() - started) * 1000)
        print(f"  {name:<22}{statistics.median(times):>7.0f}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def conversation(web_url: str, sender: str, dataset_id: str, rounds: int) -> dict[str, list]:
    """One analyst: to the results, then every question type, status and results each round."""
    for text in [uploaded_message(dataset_id), *TO_RESULTS]:
        reply = post_message(web_url, sender, text, timeout=300)
        assert reply.status == 200, (text, reply.status)
    timings: dict[str, list[float]] = defaultdict(list)
    errors = 0
    for round_index in range(rounds + 1):  # round 0 warms every replica and the caches
        turns = [("status", "status"), *QUESTIONS.items(),
                 *(("fresh results", t) for t in RESULTS_TURNS)]  # fmt: skip
        for name, text in turns:
            reply = post_message(web_url, sender, text, timeout=300)
            if reply.status != 200 or not reply.messages:
                errors += 1
            elif round_index:
                timings[name].append(reply.seconds)
    timings["errors"] = [errors]
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--conversations", type=int, default=2, help="one after the other")
    args = parser.parse_args()
    path = ensure_national_csv()

    tmp = REPO_ROOT / "var" / "bench-followups"
    shutil.rmtree(tmp, ignore_errors=True)
    redis = PrivateRedis(tmp / "redis").start()
    try:
        print("starting a 3-replica stack ...", flush=True)
        stack = start_stack(tmp / "stack", replicas=3, redis_url=redis.url)
        try:
            senders = [f"bench-followups-{uuid.uuid4().hex[:8]}-{i}"
                       for i in range(args.conversations)]  # fmt: skip
            ids = save_for(redis.url, senders, path)
            merged: dict[str, list[float]] = defaultdict(list)
            for sender in senders:
                for name, values in conversation(stack.web_url, sender, ids[sender],
                                                 args.rounds).items():  # fmt: skip
                    merged[name].extend(values)
        finally:
            stack.down()
    finally:
        redis.stop()

    errors = int(sum(merged.pop("errors", [0])))
    status_p50 = statistics.median(merged["status"])
    results_p50 = statistics.median(merged["fresh results"])
    runs = f"{args.conversations} conversations x {args.rounds} rounds; errors: {errors}"
    print(f"\nturn latency after the results, national sample, Adamawa, via nginx, 3 replicas "
          f"({runs})")  # fmt: skip
    print(f"{'turn':<22}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'p50/status':>12}{'p50/results':>13}")
    order = ["status", "fresh results", *QUESTIONS]
    for name in order:
        values = merged[name]
        p50 = statistics.median(values)
        print(f"{name:<22}{len(values):>4}{p50 * 1000:>9.0f}{percentile(values, 95) * 1000:>9.0f}"
              f"{p50 / status_p50:>12.2f}{p50 / results_p50:>13.2f}")  # fmt: skip
    worst = max(QUESTIONS, key=lambda n: statistics.median(merged[n]))
    worst_ratio = statistics.median(merged[worst]) / status_p50
    compare_ratio = statistics.median(merged["comparison"]) / results_p50
    print(f"target every question <= {STATUS_TARGET}x status at p50: "
          f"{'met' if worst_ratio <= STATUS_TARGET else 'NOT met'} "
          f"(slowest: {worst}, {worst_ratio:.2f}x)")  # fmt: skip
    verdict = "met" if compare_ratio <= COMPARE_TARGET else "NOT met"
    print(f"target comparison <= {COMPARE_TARGET}x a fresh results turn at p50: "
          f"{verdict} ({compare_ratio:.2f}x)")  # fmt: skip
    breakdown(path)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
