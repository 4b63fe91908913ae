"""The figures of `make status`: read from the `/metrics` endpoints of every replica and of
the action server (so they work the same against any running stack), summed over the
replicas, and over the last minutes when an earlier reading is kept.

Each `status` run keeps its reading in `$STACK_VAR_DIR/run/metrics-readings.json` (the last
WINDOW_SECONDS of them); the figures "over the last minutes" are the difference between now
and the oldest kept reading, as Prometheus' `increase()` and `histogram_quantile()` would
give them. Without an earlier reading they are the totals since each process started.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

WINDOW_SECONDS = 10 * 60
READINGS_FILE = "metrics-readings.json"

# Sample name + labels -> value; the labels as "k=v,k=v" sorted.
Samples = dict[str, float]


def sample_key(name: str, labels: Mapping[str, str]) -> str:
    return name + "{" + ",".join(f"{k}={labels[k]}" for k in sorted(labels)) + "}"


def parse_samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition (prometheus-client's own parser)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample_key(sample.name, sample.labels)] = float(sample.value)
    return samples


def scrape(url: str, timeout: float = 3.0) -> Samples | None:
    """`url`/metrics parsed, or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=timeout) as reply:  # noqa: S310
            return parse_samples(reply.read().decode("utf-8"))
    except (OSError, ValueError, urllib.error.URLError):
        return None


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    wanted = [f"{k}={v}" for k, v in labels.items()]
    result = 0.0
    prefix = name + "{"
    for key, value in samples.items():
        if key.startswith(prefix) and all(
            part in key[len(prefix) : -1].split(",") for part in wanted
        ):
            result += value
    return result


def buckets(samples: Samples, histogram: str) -> list[tuple[float, float]]:
    """(upper bound, cumulative count) of a histogram, summed over its label sets."""
    bounds: dict[float, float] = {}
    prefix = histogram + "_bucket{"
    for key, value in samples.items():
        if not key.startswith(prefix):
            continue
        labels = dict(part.split("=", 1) for part in key[len(prefix) : -1].split(",") if part)
        bound = math.inf if labels["le"] in ("+Inf", "inf") else float(labels["le"])
        bounds[bound] = bounds.get(bound, 0.0) + value
    return sorted(bounds.items())


def quantile(q: float, cumulative: list[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket; None when no
    observation. In the +Inf bucket the answer is the highest finite bound."""
    if not cumulative or cumulative[-1][1] <= 0:
        return None
    rank = q * cumulative[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def difference(now: Samples, before: Samples | None) -> Samples:
    """Counters (and histogram series) now minus before; a process that restarted since
    (a smaller value) counts from zero, as Prometheus' increase() does."""
    if before is None:
        return dict(now)
    result: Samples = {}
    for key, value in now.items():
        previous = before.get(key, 0.0)
        result[key] = value - previous if value >= previous else value
    return result


@dataclass
class Figures:
    """What `make status` prints after the health of each part."""

    seconds: float | None  # the window; None: since each process started
    replicas_read: int
    replicas_total: int
    action_server_read: bool
    messages: dict[str, float] = field(default_factory=dict)
    p50_seconds: float | None = None
    p95_seconds: float | None = None
    lock_wait_p95_seconds: float | None = None
    generic_replies: float = 0.0
    unavailable: float = 0.0
    uploads: dict[str, float] = field(default_factory=dict)
    upload_refusals: dict[str, float] = field(default_factory=dict)
    redis_errors: float = 0.0

    def lines(self) -> list[str]:
        span = f"last {self.seconds / 60:.1f} min" if self.seconds else "since start"

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value * 1000:.0f} ms"

        refusals = ", ".join(f"{k}: {v:.0f}" for k, v in sorted(self.upload_refusals.items()))
        return [
            f"figures ({span}; {self.replicas_read}/{self.replicas_total} replicas read, "
            f"action server {'read' if self.action_server_read else 'NOT read'}):",
            "  messages         "
            + ", ".join(f"{k} {self.messages.get(k, 0):.0f}" for k in OUTCOMES),
            f"  latency          p50 {ms(self.p50_seconds)}, p95 {ms(self.p95_seconds)}",
            f"  lock wait        p95 {ms(self.lock_wait_p95_seconds)}",
            f"  generic replies  {self.generic_replies:.0f}"
            + ("  <- must stay 0" if self.generic_replies else ""),
            f"  503s             {self.unavailable:.0f}",
            f"  uploads          ok {self.uploads.get('ok', 0):.0f}, "
            f"refused {self.uploads.get('refused', 0):.0f}"
            + (f" ({refusals})" if refusals else ""),
            f"  redis errors     {self.redis_errors:.0f}",
        ]


OUTCOMES = ("ok", "unavailable", "duplicate")


def figures(
    replicas: Samples, action_server: Samples, seconds: float | None, read: tuple[int, int, bool]
) -> Figures:
    """The figures from the (already summed and differenced) samples."""
    result = Figures(seconds, read[0], read[1], read[2])
    result.messages = {k: total(replicas, "tpr_messages_total", outcome=k) for k in OUTCOMES}
    latency = buckets(replicas, "tpr_message_seconds")
    result.p50_seconds = quantile(0.5, latency)
    result.p95_seconds = quantile(0.95, latency)
    result.lock_wait_p95_seconds = quantile(0.95, buckets(replicas, "tpr_lock_wait_seconds"))
    result.generic_replies = total(replicas, "tpr_generic_replies_total")
    result.unavailable = result.messages["unavailable"]
    result.uploads = {
        k: total(action_server, "tpr_uploads_total", outcome=k) for k in ("ok", "refused")
    }
    result.upload_refusals = {
        key.split("status=", 1)[1].rstrip("}"): value
        for key, value in action_server.items()
        if key.startswith("tpr_upload_refusals_total{") and value
    }
    result.redis_errors = total(replicas, "tpr_redis_errors_total") + total(
        action_server, "tpr_redis_errors_total"
    )
    return result


def summed(readings: list[Samples]) -> Samples:
    result: Samples = {}
    for samples in readings:
        for key, value in samples.items():
            result[key] = result.get(key, 0.0) + value
    return result


def read_figures(replica_urls: list[str], action_url: str, run_dir: Path) -> Figures:
    """Scrape every part now, keep the reading, and compare with the oldest kept one."""
    now = time.time()
    per_replica = {url: scrape(url) for url in replica_urls}
    action = scrape(action_url)
    reading = {
        "time": now,
        "replicas": {url: samples for url, samples in per_replica.items() if samples is not None},
        "action": action,
    }
    path = run_dir / READINGS_FILE
    kept = _load_readings(path)
    kept = [r for r in kept if now - r["time"] <= WINDOW_SECONDS]
    oldest = kept[0] if kept and now - kept[0]["time"] >= 1 else None
    _save_readings(path, [*kept, reading])

    replica_samples = []
    for url, samples in reading["replicas"].items():
        before = oldest["replicas"].get(url) if oldest else None
        replica_samples.append(difference(samples, before))
    action_samples = difference(action or {}, oldest["action"] if oldest else None)
    seconds = now - oldest["time"] if oldest else None
    counts = (len(reading["replicas"]), len(replica_urls), action is not None)
    return figures(summed(replica_samples), action_samples, seconds, counts)


def _load_readings(path: Path) -> list[dict]:
    try:
        readings = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return readings if isinstance(readings, list) else []


def _save_readings(path: Path, readings: list[dict]) -> None:
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(readings))
        tmp.replace(path)
    except OSError:
        pass  # a read-only var dir: the next status shows totals since start
