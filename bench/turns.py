"""Turn latency (p50/p95) at 20 concurrent conversations, three set-ups in one run:

(a) 1 replica with Rasa's in-memory tracker and lock stores (the floor: no Redis for Rasa);
(b) 3 replicas + our Redis stores, through nginx round-robin;
(c) 3 replicas + stock RedisTrackerStore / RedisLockStore, through nginx;
(d) 1 replica + our Redis stores: the stores' own cost, apart from running 3 replicas on
    the same cores (on a 2-core machine extra replicas add contention, not CPU).

Every set-up goes through nginx and runs the analysts' workflow (upload message, state,
confirm, level, age group) in every conversation. Target: p50 and p95 of (b) <= 1.2 x (a).

    .venv/bin/python bench/turns.py [--concurrency 20] [--rounds 3] [--only a,b,c,d]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.helpers import PrivateRedis  # noqa: E402
from tests.integration.stack import (  # noqa: E402
    ANALYST_STEPS,
    RunningStack,
    in_memory_endpoints,
    post_message,
    save_datasets,
    start_stack,
    stock_endpoints,
    uploaded_message,
)

TARGET_RATIO = 1.2


@dataclass
class Latencies:
    setup: str
    seconds: list[float] = field(default_factory=list)
    errors: int = 0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        return self.percentile(95)


def workflow(stack: RunningStack, sender: str, dataset_id: str) -> tuple[list[float], int]:
    """One conversation's turns: (latency of each answered turn, number of errors)."""
    times: list[float] = []
    errors = 0
    for text in [uploaded_message(dataset_id), *(t for t, _ in ANALYST_STEPS)]:
        reply = post_message(stack.web_url, sender, text, timeout=120)
        if reply.status == 200:
            times.append(reply.seconds)
        else:
            errors += 1
    return times, errors


def measure(name: str, stack: RunningStack, concurrency: int, rounds: int) -> Latencies:
    result = Latencies(name)
    # Warm-up: one workflow per replica, so first-call costs are not measured.
    warm = [f"bench-warm-{uuid.uuid4().hex[:8]}-{i}" for i in range(len(stack.replica_urls))]
    warm_ids = save_datasets(stack.redis_url, warm)
    with ThreadPoolExecutor(len(warm)) as pool:
        list(pool.map(lambda s: workflow(stack, s, warm_ids[s]), warm))
    for _ in range(rounds):
        senders = [f"bench-turns-{uuid.uuid4().hex[:8]}-{i}" for i in range(concurrency)]
        ids = save_datasets(stack.redis_url, senders)
        with ThreadPoolExecutor(concurrency) as pool:
            jobs = [pool.submit(workflow, stack, s, ids[s]) for s in senders]
            for times, errors in (job.result() for job in jobs):
                result.seconds.extend(times)
                result.errors += errors
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="workflows per conversation slot")
    parser.add_argument("--only", default="a,b,c,d", help="set-ups to run (a is the baseline)")
    args = parser.parse_args()

    results: list[Latencies] = []
    tmp = REPO_ROOT / "var" / "bench-turns"  # stacks and logs stay here for inspection
    shutil.rmtree(tmp, ignore_errors=True)
    redis = PrivateRedis(Path(tmp) / "redis").start()
    try:
        setups = [
            ("(a) 1 replica, in-memory stores", 1, in_memory_endpoints(Path(tmp))),
            ("(b) 3 replicas, our Redis stores", 3, None),
            ("(c) 3 replicas, stock Redis stores", 3, stock_endpoints(Path(tmp), redis.url)),
            ("(d) 1 replica, our Redis stores", 1, None),
        ]
        wanted = {f"({key.strip()})" for key in args.only.split(",")} | {"(a)"}
        setups = [setup for setup in setups if setup[0].split()[0] in wanted]
        for index, (name, replicas, endpoints) in enumerate(setups):
            print(f"starting {name} ...", flush=True)
            stack = start_stack(
                Path(tmp) / f"stack-{index}",
                replicas=replicas,
                redis_url=redis.url,
                endpoints=endpoints,
            )
            started = time.monotonic()
            try:
                results.append(measure(name, stack, args.concurrency, args.rounds))
            finally:
                stack.down()
            print(f"  measured in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        redis.stop()

    floor = results[0]
    print(f"\nturn latency, {args.concurrency} concurrent conversations, via nginx")
    print(
        f"{'set-up':<38}{'turns':>6}{'errors':>7}{'p50 ms':>8}{'p95 ms':>8}{'p50/a':>7}{'p95/a':>7}"
    )
    for r in results:
        print(
            f"{r.setup:<38}{len(r.seconds):>6}{r.errors:>7}{r.p50 * 1000:>8.0f}"
            f"{r.p95 * 1000:>8.0f}{r.p50 / floor.p50:>7.2f}{r.p95 / floor.p95:>7.2f}"
        )
    for ours in results[1:]:
        if ours.setup.startswith(("(b)", "(d)")):
            met = ours.p50 <= TARGET_RATIO * floor.p50 and ours.p95 <= TARGET_RATIO * floor.p95
            label = ours.setup.split()[0]
            print(f"target {label} <= {TARGET_RATIO} x (a): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
