"""Turn latency (p50/p95) at 20 concurrent conversations, three set-ups in one run:

(a) 1 replica with Rasa's in-memory tracker and lock stores (the floor: no Redis for Rasa);
(b) 3 replicas + our Redis stores, through nginx round-robin;
(c) 3 replicas + stock RedisTrackerStore / RedisLockStore, through nginx;
(d) 1 replica + our Redis stores: the stores' own cost, apart from running 3 replicas on
    the same cores (on a 2-core machine extra replicas add contention, not CPU);
(e) as (d) on Redis under Sentinel (a primary, two replicas, three sentinels);
(f) as (e) with REDIS_MIN_REPLICAS_ACK=1 (every write WAITs for a replica);
(g) as (d) on a Redis Cluster of 3 primaries (one replica each).
Target: p50 and p95 of (e), (f), (g) <= 1.3 x (d), the same replica count on one server.
After measuring (e), (f) and (g), the Redis primary (for (g): one cluster primary) is
SIGKILLed under 10 live conversations: printed are the seconds from the kill to the first
answered turn, and how many acknowledged turns (HTTP 200) are missing from the trackers.

Every set-up goes through nginx and runs the analysts' workflow (upload message, state,
confirm, level, age group) in every conversation. Target: p50 and p95 of (b) <= 1.2 x (a).

    .venv/bin/python bench/turns.py [--concurrency 20] [--rounds 3] [--only a,b,c,d,e,f,g]
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
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.helpers import PrivateCluster, PrivateRedis, PrivateSentinel  # noqa: E402
from tests.integration.stack import (  # noqa: E402
    ANALYST_STEPS,
    RunningStack,
    fetch_tracker,
    in_memory_endpoints,
    post_message,
    save_datasets,
    start_stack,
    stock_endpoints,
    uploaded_message,
    user_texts,
)
from tests.integration.test_redis_failover import run_failover  # noqa: E402

TARGET_RATIO = 1.2
HA_TARGET_RATIO = 1.3


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


@dataclass
class Failover:
    setup: str
    seconds_to_first_turn: float
    acknowledged: int
    lost: int
    retried: int


def measure_failover(name: str, stack: RunningStack, topology: Any) -> Failover:
    """SIGKILL the primary under 10 live conversations (see tests/integration/
    test_redis_failover.py), restart it as its supervisor would, count what was lost."""
    victim: list[Any] = []

    def kill() -> float:
        if isinstance(topology, PrivateSentinel):
            victim.append(topology.primary())
        else:
            victim.append(topology.primary_nodes()[0])
        victim[0].kill()
        return time.monotonic()

    def recover() -> None:
        if isinstance(topology, PrivateSentinel):
            topology.wait_for_failover(victim[0])
            victim[0].start()
        else:
            deadline = time.monotonic() + 60
            while len(topology.primary_nodes()) < topology.primaries:
                if time.monotonic() > deadline:
                    raise RuntimeError("no cluster replica took over")
                time.sleep(0.2)
            victim[0].start()

    chats, seconds = run_failover(stack, kill, recover)
    lost = 0
    for index, chat in enumerate(chats):
        tracker = fetch_tracker(stack.replica_urls[index % len(stack.replica_urls)], chat.sender)
        stored = user_texts(tracker)
        lost += sum(1 for text in chat.acknowledged if text not in stored)
    return Failover(
        name,
        seconds,
        sum(len(c.acknowledged) for c in chats),
        lost,
        sum(c.retries for c in chats),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="workflows per conversation slot")
    parser.add_argument(
        "--only", default="a,b,c,d,e,f,g", help="set-ups to run (a and d are baselines)"
    )
    args = parser.parse_args()

    results: list[Latencies] = []
    failovers: list[Failover] = []
    tmp = REPO_ROOT / "var" / "bench-turns"  # stacks and logs stay here for inspection
    shutil.rmtree(tmp, ignore_errors=True)
    # AOF fsync every second, as the Sentinel and cluster servers of (e)-(g)
    redis = PrivateRedis(Path(tmp) / "redis", appendfsync="everysec").start()
    wait_env = {"REDIS_MIN_REPLICAS_ACK": "1", "REDIS_WAIT_MS": "1000"}
    try:
        setups: list[tuple[str, int, Path | None, str | None]] = [
            ("(a) 1 replica, in-memory stores", 1, in_memory_endpoints(Path(tmp)), None),
            ("(b) 3 replicas, our Redis stores", 3, None, None),
            ("(c) 3 replicas, stock Redis stores", 3, stock_endpoints(Path(tmp), redis.url), None),
            ("(d) 1 replica, our Redis stores", 1, None, None),
            ("(e) 1 replica, Sentinel", 1, None, "sentinel"),
            ("(f) 1 replica, Sentinel, WAIT 1", 1, None, "sentinel-wait"),
            ("(g) 1 replica, Cluster 3 primaries", 1, None, "cluster"),
        ]
        wanted = {f"({key.strip()})" for key in args.only.split(",")} | {"(a)"}
        setups = [setup for setup in setups if setup[0].split()[0] in wanted]
        for index, (name, replicas, endpoints, mode) in enumerate(setups):
            print(f"starting {name} ...", flush=True)
            topology: Any = None
            env: dict[str, str] = {}
            if mode and mode.startswith("sentinel"):
                topology = PrivateSentinel(Path(tmp) / f"sentinel-{index}", replicas=2).start()
                env = {**topology.env, **(wait_env if mode == "sentinel-wait" else {})}
            elif mode == "cluster":
                topology = PrivateCluster(Path(tmp) / f"cluster-{index}").start()
                env = topology.env
            try:
                stack = start_stack(
                    Path(tmp) / f"stack-{index}",
                    replicas=replicas,
                    redis_url=None if topology else redis.url,
                    endpoints=endpoints,
                    env=env,
                )
                started = time.monotonic()
                try:
                    results.append(measure(name, stack, args.concurrency, args.rounds))
                    if topology is not None:
                        failovers.append(measure_failover(name, stack, topology))
                finally:
                    stack.down()
                print(f"  measured in {time.monotonic() - started:.0f} s", flush=True)
            finally:
                if topology is not None:
                    topology.stop()
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
    single = next((r for r in results if r.setup.startswith("(d)")), None)
    if single is not None:
        for ours in results:
            if ours.setup.startswith(("(e)", "(f)", "(g)")):
                p50, p95 = ours.p50 / single.p50, ours.p95 / single.p95
                met = p50 <= HA_TARGET_RATIO and p95 <= HA_TARGET_RATIO
                print(
                    f"{ours.setup.split()[0]} vs (d) one server: p50 x{p50:.2f}, p95 x{p95:.2f}"
                    f" (target <= {HA_TARGET_RATIO}: {'met' if met else 'NOT met'})"
                )
    if failovers:
        print("\nSIGKILL of the primary under 10 live conversations")
        print(f"{'set-up':<38}{'s to 1st turn':>14}{'acked':>7}{'lost':>6}{'retried':>9}")
        for f in failovers:
            print(
                f"{f.setup:<38}{f.seconds_to_first_turn:>14.1f}{f.acknowledged:>7}"
                f"{f.lost:>6}{f.retried:>9}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
