"""What the action server tells its operators: Prometheus metrics at `GET /metrics` on its
own port (never through nginx), counted where the events happen: uploads (`POST /api/upload`
and finished tus uploads), the isolated parse, and each TPR computation of the conversation.
Failed Redis calls are counted by the connection factory (redis_stores.metrics)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sanic import Request, response
from sanic.response import HTTPResponse

UPLOADS = Counter("tpr_uploads", "Finished uploads, by outcome (ok, refused).", ["outcome"])
# Why uploads are refused: the HTTP status the analyst's upload got (400 malformed, 413 too
# large, 415 not a workbook, 422 unreadable, 429 too many, 503 storage failed).
UPLOAD_REFUSALS = Counter(
    "tpr_upload_refusals", "Refused uploads, by the HTTP status answered.", ["status"]
)
PARSE_SECONDS = Histogram(
    "tpr_parse_seconds",
    "Parsing one uploaded file in the isolated parse worker.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
COMPUTE_SECONDS = Histogram(
    "tpr_compute_seconds",
    "Computing one result (rates, tables, workbook and chart).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
)
for _outcome in ("ok", "refused"):
    UPLOADS.labels(outcome=_outcome)


def count_upload(status: int) -> None:
    """One finished upload, as answered to the analyst."""
    if status == 200:
        UPLOADS.labels(outcome="ok").inc()
    else:
        UPLOADS.labels(outcome="refused").inc()
        UPLOAD_REFUSALS.labels(status=str(status)).inc()


@contextmanager
def timed(histogram: Histogram) -> Iterator[None]:
    """Observe the block's duration, whether it succeeds or fails."""
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - started)


async def serve_metrics(_: Request) -> HTTPResponse:
    """This process's metrics in the Prometheus text format (prometheus-client's own)."""
    return response.raw(generate_latest(), content_type=CONTENT_TYPE_LATEST)
