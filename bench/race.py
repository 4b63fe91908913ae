"""Racing messages at scale, stock Rasa Redis stores against ours, side by side.

100 conversations; to each, 8 messages sent at the same moment, through nginx over 3 replicas
(the integration racing test, larger). For each set-up it counts:

- hung: requests with no answer within --hang-seconds (default 20, as in issue 4's
  measurement); on a loaded machine plain queueing can exceed it too, so the latency
  percentiles are printed alongside;
- failed: requests answered with something other than 200;
- lost: conversations where a message acknowledged with 200 is missing from the tracker;
- duplicated: conversations where a user message is in the tracker more than once;
- unordered: conversations where a user message was not answered before the next one.

    .venv/bin/python bench/race.py [--conversations 100] [--replicas 3] [--parallel 5]

Stacks, logs and the list of failed requests stay under var/bench-race/ for inspection.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.helpers import PrivateRedis  # noqa: E402
from tests.integration.stack import (  # noqa: E402
    RunningStack,
    fetch_tracker,
    save_datasets,
    send,
    start_stack,
    stock_endpoints,
    uploaded_message,
)
from tests.integration.test_racing import RACING_MESSAGES, ordering_problems  # noqa: E402


@dataclass
class RaceResult:
    setup: str
    requests: int = 0
    hung: int = 0
    failed: int = 0
    lost: int = 0
    duplicated: int = 0
    unordered: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies) or [0.0]
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def fire(
    stack: RunningStack, sender: str, hang_seconds: float
) -> dict[str, tuple[int | None, float]]:
    """The racing messages at once; text -> (HTTP status or None when hung, seconds)."""
    barrier = threading.Barrier(len(RACING_MESSAGES))

    def one(text: str) -> tuple[int | None, float]:
        barrier.wait()
        started = time.monotonic()
        try:
            status = requests.post(
                f"{stack.web_url}/webhooks/rest/webhook",
                json={"sender": sender, "message": text},
                timeout=hang_seconds,
            ).status_code
        except requests.Timeout:
            status = None
        return status, time.monotonic() - started

    with ThreadPoolExecutor(len(RACING_MESSAGES)) as pool:
        return dict(zip(RACING_MESSAGES, pool.map(one, RACING_MESSAGES), strict=True))


def race(
    setup: str, stack: RunningStack, conversations: int, parallel: int, hang_seconds: float
) -> RaceResult:
    result = RaceResult(setup)
    senders = [f"bench-race-{uuid.uuid4().hex[:8]}-{i}" for i in range(conversations)]
    dataset_ids = save_datasets(stack.redis_url, senders)
    for sender in senders:
        send(stack.web_url, sender, uploaded_message(dataset_ids[sender]))
    started = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        statuses = list(pool.map(lambda s: fire(stack, s, hang_seconds), senders))
    result.seconds = time.monotonic() - started
    # Let stragglers (hung requests still running server-side) finish before reading.
    hung_any = any(status is None for s in statuses for status, _ in s.values())
    time.sleep(min(hang_seconds, 30) if hung_any else 0)
    for index, (sender, answers) in enumerate(zip(senders, statuses, strict=True)):
        result.requests += len(answers)
        for text, (status, seconds) in answers.items():
            result.latencies.append(seconds)
            if status is None:
                result.hung += 1
            elif status != 200:
                result.failed += 1
                result.problems.append(f"{sender}: {text!r} -> HTTP {status}")
        tracker = fetch_tracker(stack.replica_urls[index % len(stack.replica_urls)], sender)
        seen = Counter(e.get("text") for e in tracker["events"] if e.get("event") == "user")
        acknowledged = [text for text, (status, _) in answers.items() if status == 200]
        missing = [text for text in acknowledged if seen[text] == 0]
        if missing:
            result.lost += 1
            result.problems.append(f"{sender}: acknowledged but not in the tracker: {missing}")
        if any(count > 1 for count in seen.values()):
            result.duplicated += 1
            result.problems.append(f"{sender}: duplicated user messages {dict(seen)}")
        unordered = ordering_problems(tracker["events"])
        if unordered:
            result.unordered += 1
            result.problems.append(f"{sender}: {unordered}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=5, help="conversations racing at once")
    parser.add_argument("--hang-seconds", type=float, default=20.0)
    args = parser.parse_args()

    results: list[RaceResult] = []
    tmp = REPO_ROOT / "var" / "bench-race"
    shutil.rmtree(tmp, ignore_errors=True)
    # One private Redis for both set-ups (their keys have different prefixes).
    redis = PrivateRedis(Path(tmp) / "redis").start()
    try:
        setups = {"stock RedisLockStore + RedisTrackerStore": None, "ours": "default"}
        for name, endpoints in setups.items():
            var_dir = Path(tmp) / name.split()[0]
            print(f"starting {args.replicas} replicas ({name}) ...", flush=True)
            stack = start_stack(
                var_dir,
                replicas=args.replicas,
                redis_url=redis.url,
                endpoints=stock_endpoints(var_dir, redis.url) if endpoints is None else None,
            )
            try:
                results.append(
                    race(name, stack, args.conversations, args.parallel, args.hang_seconds)
                )
            finally:
                stack.down()
            r = results[-1]
            print(f"  {r.requests} requests in {r.seconds:.0f} s", flush=True)
            (var_dir / "problems.txt").write_text("\n".join(r.problems) + "\n")
    finally:
        redis.stop()

    print(
        f"\n{args.conversations} conversations x {len(RACING_MESSAGES)} racing messages, "
        f"{args.replicas} replicas, hung = no answer within {args.hang_seconds:.0f} s"
    )
    header = f"{'set-up':<42}{'requests':>9}{'hung':>6}{'failed':>7}{'lost':>6}"
    print(header + f"{'dup':>5}{'unordered':>10}{'p50 s':>7}{'p95 s':>7}{'max s':>7}")
    for r in results:
        print(
            f"{r.setup:<42}{r.requests:>9}{r.hung:>6}{r.failed:>7}{r.lost:>6}"
            f"{r.duplicated:>5}{r.unordered:>10}{statistics.median(r.latencies):>7.1f}"
            f"{r.percentile(95):>7.1f}{max(r.latencies):>7.1f}"
        )
    print("(lost, dup, unordered count conversations; hung, failed count requests)")
    print(f"details: {tmp}/*/problems.txt, logs: {tmp}/*/log/")
    ours = results[-1]
    return 0 if not (ours.hung or ours.failed or ours.lost or ours.duplicated) else 1


if __name__ == "__main__":
    sys.exit(main())
