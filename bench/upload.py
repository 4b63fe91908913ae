"""Upload benchmark: the national-size workbook through nginx, plain against resumable (tus).

Prints, in one run: the plain `POST /api/upload` time; the tus upload time (tuspy, the
last PATCH included, until `GET <Location>` answers the dataset) at 1 MB and 5 MB chunks,
with its ratio to plain (target at 5 MB: <= 1.2x); and the bytes sent again after the
connection is cut at 50% of the file (target: at most one chunk). Times include the parse,
which both routes run in the same isolated worker. A stack with one replica and a private
Redis is started under var/bench-upload/ and stopped by PID at the end.

    .venv/bin/python bench/upload.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import requests
from tusclient import client as tus_client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import NATIONAL, ensure_workbook  # noqa: E402

from tests.helpers import PrivateRedis  # noqa: E402
from tests.integration.slow_link import cut_patch  # noqa: E402
from tests.integration.stack import start_stack  # noqa: E402

MB = 1024 * 1024
VAR = ROOT / "var" / "bench-upload"
TUS = {"Tus-Resumable": "1.0.0"}


def plain_upload(web: str, sender: str, path: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    with path.open("rb") as handle:
        reply = requests.post(
            f"{web}/api/upload", params={"sender": sender}, files={"file": handle}, timeout=900
        )
    seconds = time.perf_counter() - started
    reply.raise_for_status()
    return seconds, reply.json()


def tus_upload(web: str, sender: str, path: Path, chunk: int) -> tuple[float, dict]:
    started = time.perf_counter()
    uploader = tus_client.TusClient(f"{web}/api/uploads/").uploader(
        str(path), chunk_size=chunk, metadata={"filename": path.name, "sender": sender}
    )
    uploader.upload()
    reply = requests.get(uploader.url, timeout=900)
    seconds = time.perf_counter() - started
    reply.raise_for_status()
    return seconds, reply.json()


def offset_of(url: str) -> int:
    return int(requests.head(url, headers=TUS, timeout=60).headers["Upload-Offset"])


def cut_at_half(web: str, sender: str, path: Path, chunk: int) -> tuple[int, int, dict]:
    """Chunks up to the one containing 50%, that chunk cut at exactly 50%, then a fresh
    client resumes from the server's offset: (bytes sent again, chunk, dataset JSON)."""
    size = path.stat().st_size
    half = size // 2
    first = tus_client.TusClient(f"{web}/api/uploads/").uploader(
        str(path), chunk_size=chunk, metadata={"filename": path.name, "sender": sender}
    )
    first.upload(stop_at=(half // chunk) * chunk)
    url = first.url
    before = offset_of(url)
    data = path.read_bytes()
    cut_patch(url, before, min(chunk, size - before), data[before:half])
    deadline = time.monotonic() + 30
    after = offset_of(url)
    while after < half and time.monotonic() < deadline:  # the last piece lands
        time.sleep(0.2)
        after = offset_of(url)
    resumed = tus_client.TusClient(f"{web}/api/uploads/").uploader(
        str(path), chunk_size=chunk, url=url
    )
    resumed.upload()
    reply = requests.get(url, timeout=900)
    reply.raise_for_status()
    return half - after, chunk, reply.json()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per variant")
    args = parser.parse_args()
    ensure_workbook(NATIONAL, states=37, rows_per_state=9200)
    size = NATIONAL.stat().st_size
    shutil.rmtree(VAR, ignore_errors=True)
    redis_server = PrivateRedis(VAR / "redis").start()
    stack = None
    try:
        print("starting a stack (1 replica, private Redis) ...", flush=True)
        stack = start_stack(VAR / "stack", replicas=1, redis_url=redis_server.url)
        web = stack.web_url
        print(f"workbook: {NATIONAL.relative_to(ROOT)}, {size / MB:.1f} MB, through nginx")
        plain_upload(web, "bench-warm", NATIONAL)  # warm the parse worker

        results: dict[str, list[float]] = {"plain": [], "tus 1 MB": [], "tus 5 MB": []}
        answers: dict[str, dict] = {}
        for run in range(args.repeats):
            seconds, answers["plain"] = plain_upload(web, f"bench-plain-{run}", NATIONAL)
            results["plain"].append(seconds)
            for label, chunk in (("tus 1 MB", MB), ("tus 5 MB", 5 * MB)):
                seconds, answers[label] = tus_upload(web, f"bench-{chunk}-{run}", NATIONAL, chunk)
                results[label].append(seconds)
        plain = statistics.median(results["plain"])
        for label, times in results.items():
            median = statistics.median(times)
            ratio = "" if label == "plain" else f"  {median / plain:4.2f}x plain"
            print(f"{label:<9} upload + parse: {median:6.2f} s (median of {len(times)}){ratio}")
        same = all(
            {k: v for k, v in answers[label].items() if k != "dataset_id"}
            == {k: v for k, v in answers["plain"].items() if k != "dataset_id"}
            for label in answers
        )
        print(f"same summary from every route: {same}")

        resent, chunk, answer = cut_at_half(web, "bench-cut", NATIONAL, 5 * MB)
        print(
            f"cut at 50% (5 MB chunks): {resent / MB:.2f} MB sent again "
            f"({resent:,} bytes; target <= one chunk = {chunk:,}); "
            f"rows after resume: {answer.get('rows'):,}"
        )
        ratio_5 = statistics.median(results["tus 5 MB"]) / plain
        ok = ratio_5 <= 1.2 and 0 <= resent <= chunk and same
        print(
            f"targets: tus@5MB <= 1.2x plain ({ratio_5:.2f}x), resent <= one chunk: "
            f"{'met' if ok else 'NOT met'}"
        )
        return 0 if ok else 1
    finally:
        if stack is not None:
            stack.down()
        redis_server.stop()


if __name__ == "__main__":
    sys.exit(main())
