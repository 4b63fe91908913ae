"""HTTP routes under /api: upload, download and health (the web widget's back end).

The upload route streams the body so it can refuse an oversized file from its
Content-Length before reading it, then sniffs the type, checks zip bombs and hands the
parse to a worker process (pandas/openpyxl hold the GIL; the event loop must stay free for
/api/health and the rasa-sdk action calls).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

from sanic import Blueprint, Request, Sanic, response
from sanic.headers import parse_content_header
from sanic.request import parse_multipart_form
from sanic.response import HTTPResponse

from actions.service.upload_checks import (
    UploadLimits,
    UploadRejected,
    parse_upload,
    safe_source_name,
    sniff,
    too_large_message,
)

logger = logging.getLogger(__name__)

api_blueprint = Blueprint("tpr_api", url_prefix="/api")

SENDER_PATTERN = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
MULTIPART_OVERHEAD = 64 * 1024
UNAVAILABLE = "The service is temporarily unavailable. Please try again in a minute."

DOWNLOAD_TYPES = {
    "text/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "image/png": ".png",
    "application/geo+json": ".geojson",
}


def error(message: str, status: int) -> HTTPResponse:
    return response.json({"error": message}, status=status)


def configure_app(app: Sanic) -> None:
    """Sanic limits that must fit our uploads: body size above UPLOAD_MAX_BYTES (plus the
    multipart envelope) and a response timeout that covers parsing a national workbook."""
    limits = UploadLimits.from_env()
    app.config.REQUEST_MAX_SIZE = max(
        int(app.config.REQUEST_MAX_SIZE), limits.any_max_bytes + MULTIPART_OVERHEAD
    )
    app.config.RESPONSE_TIMEOUT = max(
        int(app.config.RESPONSE_TIMEOUT), int(os.environ.get("UPLOAD_PARSE_TIMEOUT", 600))
    )
    # Slow links: the body arrives for many minutes; only a stalled connection times out.
    app.config.REQUEST_TIMEOUT = max(int(app.config.REQUEST_TIMEOUT), 120)


# --- worker pool --------------------------------------------------------------------------

_pool: ProcessPoolExecutor | None = None


def parse_pool() -> ProcessPoolExecutor:
    """One long-lived spawn pool (no fork of the running event loop); workers import pandas
    once and are reused. UPLOAD_WORKERS bounds concurrent parses (and memory)."""
    global _pool
    if _pool is None:
        workers = int(os.environ.get("UPLOAD_WORKERS", 1))
        _pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    return _pool


def reset_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool = None


@api_blueprint.listener("after_server_stop")
async def _stop_pool(*_: Any) -> None:
    reset_pool()


def kill_pool() -> None:
    """Stop a pool whose worker is stuck: terminate its processes (by their PIDs)."""
    global _pool
    pool, _pool = _pool, None
    if pool is None:
        return
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


async def run_parse(data: bytes, filename: str) -> tuple[str, Any, Any]:
    loop = asyncio.get_running_loop()
    timeout = float(os.environ.get("UPLOAD_PARSE_TIMEOUT", 600)) - 30
    try:
        return await asyncio.wait_for(
            loop.run_in_executor(parse_pool(), parse_upload, data, filename), timeout
        )
    except asyncio.TimeoutError:
        logger.error("parsing %s took over %.0f s; worker stopped", filename, timeout)
        kill_pool()
        return "error", "Reading this file took too long. Please split it by state.", None
    except BrokenProcessPool:
        # The worker died (out of memory, killed): the file is the likely cause; the next
        # upload gets a fresh pool.
        logger.error("upload worker died while parsing %s", filename)
        reset_pool()
        return "error", "The file could not be processed (it may be too large).", None


# --- stores (imported lazily: the store module is built in parallel) ----------------------

_stores: dict[str, Any] = {}


def dataset_store() -> Any:
    if "datasets" not in _stores:
        from actions.service.dataset_store import DatasetStore

        _stores["datasets"] = DatasetStore.from_env()
    return _stores["datasets"]


def boundary_store() -> Any:
    if "boundaries" not in _stores:
        from actions.service.dataset_store import BoundaryStore

        _stores["boundaries"] = BoundaryStore.from_env()
    return _stores["boundaries"]


def result_store() -> Any:
    if "results" not in _stores:
        from actions.service.dataset_store import ResultFileStore

        _stores["results"] = ResultFileStore.from_env()
    return _stores["results"]


# --- routes -------------------------------------------------------------------------------


@api_blueprint.get("/health")
async def health(_: Request) -> HTTPResponse:
    """Liveness: answers without touching Redis or the engine. The widget reads the limit."""
    limits = UploadLimits.from_env()
    return response.json(
        {
            "status": "ok",
            "upload_max_bytes": limits.max_bytes,
            "boundary_max_bytes": limits.boundary_max_bytes,
        }
    )


async def read_body(request: Request, limit: int) -> bytes:
    """Read the streamed body, refusing it as soon as it passes `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            break
        size += len(chunk)
        if size > limit:
            raise UploadRejected(too_large_message(limit - MULTIPART_OVERHEAD), 413)
        chunks.append(chunk)
    return b"".join(chunks)


def extract_file(request: Request, body: bytes) -> tuple[bytes, str]:
    content_type, parameters = parse_content_header(request.headers.get("content-type", ""))
    boundary = parameters.get("boundary")
    if content_type.lower() != "multipart/form-data" or not boundary:
        raise UploadRejected("Send the file as multipart/form-data in the field 'file'.", 400)
    try:
        # Sanic's own parser, called as Request.form does (boundary without the leading --).
        _, files = parse_multipart_form(body, boundary.encode("utf-8"))
    except Exception as exc:  # malformed envelope
        raise UploadRejected("The upload was incomplete. Please try again.", 400) from exc
    uploaded = files.get("file") if files else None
    if uploaded is None:
        raise UploadRejected("No file was received. Please choose a file and try again.", 400)
    return uploaded.body, uploaded.name or ""


@api_blueprint.post("/upload", stream=True)
async def upload(request: Request) -> HTTPResponse:
    """Checks, parses in a worker, stores the dataset for the sender, returns the summary."""
    sender = request.args.get("sender", "")
    if not SENDER_PATTERN.match(sender):
        return error("The upload is missing a valid conversation id (sender).", 400)
    limits = UploadLimits.from_env()
    # A boundary file may be larger than a workbook; each kind's own limit applies once the
    # content is sniffed.
    envelope_limit = limits.any_max_bytes + MULTIPART_OVERHEAD
    try:
        declared = int(request.headers.get("content-length", 0) or 0)
    except ValueError:
        return error("The upload request was malformed. Please try again.", 400)
    if declared > envelope_limit:
        return error(too_large_message(limits.any_max_bytes), 413)
    try:
        body = await read_body(request, envelope_limit)
        # Splitting the envelope and decoding a CSV take ~0.1 s for 30 MB: off the loop.
        data, filename = await asyncio.to_thread(extract_file, request, body)
        del body
    except UploadRejected as rejected:
        return error(rejected.message, rejected.status)
    status, payload = await handle_uploaded_file(sender, data, filename)
    return response.json(payload, status=status)


async def handle_uploaded_file(sender: str, data: bytes, filename: str) -> tuple[int, dict]:
    """Every check, the isolated parse and the store step of an upload, whichever way its
    bytes arrived (`POST /api/upload` or a finished tus upload): (HTTP status, JSON body)."""
    limits = UploadLimits.from_env()
    try:
        sniffed = await asyncio.to_thread(sniff, data, limits)
    except UploadRejected as rejected:
        return rejected.status, {"error": rejected.message}

    source_name = safe_source_name(filename, sniffed.kind)
    outcome, payload, summary = await run_parse(sniffed.data, source_name)
    if outcome != "ok":
        return 422, {"error": str(payload)}
    if sniffed.is_boundaries:
        return await store_boundaries(sender, payload, summary)

    try:
        from actions.tpr import Dataset

        dataset = await asyncio.to_thread(Dataset.from_bytes, payload)
        dataset_id = await dataset_store().save(owner=sender, dataset=dataset, summary=summary)
    except Exception:
        logger.exception("storing an uploaded dataset failed")
        return 503, {"error": UNAVAILABLE}
    logger.info("stored dataset %s for sender (rows=%s)", dataset_id, summary.get("rows"))
    return 200, {**summary, "dataset_id": dataset_id}


async def store_boundaries(sender: str, payload: bytes, summary: dict) -> tuple[int, dict]:
    """Store parsed boundaries for the sender: (HTTP status, JSON body) as interfaces.md
    gives them, `200 {"boundaries_id", "wards", ...}` or `503 {"error"}`."""
    try:
        boundaries_id = await boundary_store().save_bytes(sender, payload, summary)
    except Exception:
        logger.exception("storing uploaded boundaries failed")
        return 503, {"error": UNAVAILABLE}
    logger.info("stored boundaries %s for sender (wards=%s)", boundaries_id, summary.get("wards"))
    return 200, {**summary, "boundaries_id": boundaries_id, "stored_bytes": len(payload)}


def safe_download_name(filename: str, content_type: str) -> str:
    """ASCII-only base name with the extension implied by the content type."""
    ext = DOWNLOAD_TYPES.get(content_type, "")
    base = re.split(r"[\\/]", filename or "")[-1]
    stem = base[: -len(ext)] if ext and base.lower().endswith(ext) else base.rsplit(".", 1)[0]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._")[:100] or "tpr_result"
    return stem + (ext or ".bin")


@api_blueprint.get("/download/<token:str>")
async def download(_: Request, token: str) -> HTTPResponse:
    """A result file by its token; an unknown, malformed or expired token is the same 404."""
    not_found = error(
        "This download link has expired or does not exist. Run the calculation again to get "
        "a fresh link.",
        404,
    )
    if not TOKEN_PATTERN.match(token):
        return not_found
    try:
        from actions.service.dataset_store import ResultNotFound

        try:
            stored = await result_store().load(token)
        except ResultNotFound:
            return not_found
    except Exception:
        logger.exception("loading a result file failed")
        return error(UNAVAILABLE, 503)
    content_type = stored.content_type if stored.content_type in DOWNLOAD_TYPES else None
    name = safe_download_name(stored.filename, stored.content_type)
    disposition = "inline" if content_type == "image/png" else "attachment"
    return response.raw(
        stored.data,
        content_type=content_type or "application/octet-stream",
        headers={
            "Content-Disposition": f'{disposition}; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )
