"""Resumable uploads: the tus 1.0.0 core protocol with the creation and termination
extensions at /api/uploads/ (https://tus.io/protocols/resumable-upload).

Why tus: analysts upload 27-45 MB workbooks at ~230 kbps; a dropped connection must cost
at most the chunk in flight, not the whole file. Why Redis: partial uploads outlive an
action server restart and any instance can continue an upload another one started.
Per upload (the `{id}` hash tag keeps the keys of one upload in one Cluster slot):

- `tpr:tus:{<id>}:meta`   hash: length, offset, sender, filename, then status/body of the
                          finished upload (what `POST /api/upload` answered).
- `tpr:tus:{<id>}:data`   string: the bytes received so far (APPEND), dropped once parsed.
- `tpr:tus:{<id>}:claim`  the instance parsing the finished file (SET NX with a TTL).
- `tpr:tus:sender:{<sender>}`  sorted set of the sender's open uploads (score: expiry).

Every key expires TUS_UPLOAD_TTL_SECONDS after the upload's last PATCH. When the last byte
arrives the file goes through `web_api.handle_uploaded_file`, the very function behind
`POST /api/upload` (same checks, same isolated parse worker, same store).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sanic import Blueprint, Request, response
from sanic.response import HTTPResponse

from actions.service import web_api
from actions.service.upload_checks import MB, UploadLimits, human_size, too_large_message
from redis_stores._redis import RedisConnector, redis_url_from

logger = logging.getLogger(__name__)

tus_blueprint = Blueprint("tpr_tus", url_prefix="/api/uploads")

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
UPLOAD_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
# Bytes of a PATCH body kept in memory before they are appended to Redis: a cut connection
# loses at most the piece not yet appended (the client resends from the stored offset).
APPEND_PIECE_BYTES = 256 * 1024

DEFAULT_TTL_SECONDS = 24 * 3600
DEFAULT_MAX_CHUNK_BYTES = 8 * MB
DEFAULT_MAX_OPEN_PER_SENDER = 3

NOT_FOUND = "This upload has expired or does not exist. Please choose the file again to upload it."
INCOMPLETE = "The file has not fully arrived yet. The upload will continue from where it stopped."
TOO_MANY_OPEN = (
    "You already have {n} unfinished uploads. Finish one of them, or wait a day for them to "
    "expire, before starting another."
)

# KEYS: meta, data. ARGV: expected offset, bytes, ttl -> {code, offset}.
# code 0 appended, -1 unknown/expired, -2 offset mismatch, -3 past Upload-Length.
_APPEND = """
local length = redis.call('HGET', KEYS[1], 'length')
if not length then return {-1, 0} end
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset'))
if offset ~= tonumber(ARGV[1]) then return {-2, offset} end
if offset + string.len(ARGV[2]) > tonumber(length) then return {-3, offset} end
redis.call('APPEND', KEYS[2], ARGV[2])
offset = redis.call('HINCRBY', KEYS[1], 'offset', string.len(ARGV[2]))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {0, offset}
"""

# KEYS: sender set. ARGV: now, expiry, id, limit -> 1 added, 0 over the limit.
_OPEN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(ARGV[2])))
return 1
"""

# KEYS: meta. ARGV: length, sender, filename, ttl.
_CREATE = """
redis.call('HSET', KEYS[1], 'length', ARGV[1], 'offset', 0, 'sender', ARGV[2], 'filename', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: meta, data, claim. ARGV: status, body JSON, ttl.
_FINISH = """
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'body', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
"""

# Every multi-key step is one script on keys of one hash tag: atomic, and Redis-Cluster-safe.
_SCRIPTS = {"append": _APPEND, "open": _OPEN, "create": _CREATE, "finish": _FINISH}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


@dataclass(frozen=True)
class TusLimits:
    """TUS_UPLOAD_TTL_SECONDS, TUS_MAX_CHUNK_BYTES (nginx's body limit is set from it),
    TUS_MAX_OPEN_PER_SENDER; the file size limit is the plain upload's envelope limit."""

    ttl_seconds: int
    max_chunk_bytes: int
    max_open_per_sender: int
    max_bytes: int

    @classmethod
    def from_env(cls) -> TusLimits:
        return cls(
            ttl_seconds=_env_int("TUS_UPLOAD_TTL_SECONDS", DEFAULT_TTL_SECONDS),
            max_chunk_bytes=_env_int("TUS_MAX_CHUNK_BYTES", DEFAULT_MAX_CHUNK_BYTES),
            max_open_per_sender=_env_int("TUS_MAX_OPEN_PER_SENDER", DEFAULT_MAX_OPEN_PER_SENDER),
            # Any kind of upload (workbook or boundary file): the kind's own limit applies
            # when the finished file is sniffed, exactly as for POST /api/upload.
            max_bytes=UploadLimits.from_env().any_max_bytes,
        )


class TusStore:
    """Partial and finished uploads in Redis (keys in the module docstring)."""

    def __init__(self, redis_url: str | None = None, prefix: str = "tpr:tus:") -> None:
        self.prefix = prefix
        self.redis = RedisConnector(redis_url_from(redis_url), _SCRIPTS)

    def meta_key(self, upload_id: str) -> str:
        return f"{self.prefix}{{{upload_id}}}:meta"

    def data_key(self, upload_id: str) -> str:
        return f"{self.prefix}{{{upload_id}}}:data"

    def claim_key(self, upload_id: str) -> str:
        return f"{self.prefix}{{{upload_id}}}:claim"

    def sender_key(self, sender: str) -> str:
        return f"{self.prefix}sender:{{{sender}}}"

    async def create(self, sender: str, filename: str, length: int, limits: TusLimits) -> str:
        """A new empty upload; raises TooManyOpen when the sender has too many unfinished."""
        upload_id = secrets.token_urlsafe(24)
        now = time.time()
        added = await self.redis.run(
            "open",
            [self.sender_key(sender)],
            [now, now + limits.ttl_seconds, upload_id, limits.max_open_per_sender],
        )
        if not int(added):
            raise TooManyOpen(limits.max_open_per_sender)
        await self.redis.run(
            "create", [self.meta_key(upload_id)], [length, sender, filename, limits.ttl_seconds]
        )
        return upload_id

    async def meta(self, upload_id: str) -> dict[str, str] | None:
        raw = await self.redis.client().hgetall(self.meta_key(upload_id))
        if not raw:
            return None
        return {k.decode(): v.decode("utf-8", "replace") for k, v in raw.items()}

    async def append(self, upload_id: str, offset: int, data: bytes, ttl: int) -> tuple[int, int]:
        code, new_offset = await self.redis.run(
            "append", [self.meta_key(upload_id), self.data_key(upload_id)], [offset, data, ttl]
        )
        return int(code), int(new_offset)

    async def data(self, upload_id: str) -> bytes:
        return await self.redis.client().get(self.data_key(upload_id)) or b""

    async def claim(self, upload_id: str, seconds: int) -> str | None:
        token = secrets.token_hex(8)
        ok = await self.redis.client().set(self.claim_key(upload_id), token, nx=True, ex=seconds)
        return token if ok else None

    async def finish(self, upload_id: str, sender: str, status: int, body: dict, ttl: int) -> None:
        """Keep the answer for GET, drop the bytes, and stop counting the upload as open."""
        await self.redis.run(
            "finish",
            [self.meta_key(upload_id), self.data_key(upload_id), self.claim_key(upload_id)],
            [status, json.dumps(body), ttl],
        )
        client = self.redis.client()
        await client.zrem(self.sender_key(sender), upload_id)

    async def release(self, upload_id: str) -> None:
        await self.redis.client().delete(self.claim_key(upload_id))

    async def delete(self, upload_id: str, sender: str) -> None:
        client = self.redis.client()
        for key in (self.meta_key(upload_id), self.data_key(upload_id), self.claim_key(upload_id)):
            await client.delete(key)
        await client.zrem(self.sender_key(sender), upload_id)


class TooManyOpen(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(TOO_MANY_OPEN.format(n=limit))
        self.limit = limit


_stores: dict[str, TusStore] = {}


def tus_store() -> TusStore:
    if "tus" not in _stores:
        _stores["tus"] = TusStore()
    return _stores["tus"]


# --- protocol helpers --------------------------------------------------------------------


def tus_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **(extra or {})}


def tus_error(message: str, status: int, extra: dict[str, str] | None = None) -> HTTPResponse:
    return response.json({"error": message}, status=status, headers=tus_headers(extra))


def parse_metadata(header: str) -> dict[str, str]:
    """`Upload-Metadata`: comma-separated `key base64value` pairs (value optional)."""
    metadata: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, value = pair.partition(" ")
        try:
            metadata[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(key) from exc
    return metadata


def version_problem(request: Request) -> HTTPResponse | None:
    """412 for a request without our protocol version (every request but OPTIONS)."""
    if request.headers.get("tus-resumable") != TUS_VERSION:
        return tus_error(
            "This upload client speaks a protocol version we do not support.",
            412,
            {"Tus-Version": TUS_VERSION},
        )
    return None


def expires_header(ttl: int) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + ttl))


async def answer_tus_options(request: Request) -> HTTPResponse | None:
    """App request middleware placed first: Sanic-CORS (set up by rasa-sdk's app) answers
    every OPTIONS itself with an empty 200, which tells a tus client nothing."""
    if request.method == "OPTIONS" and request.path.rstrip("/").startswith("/api/uploads"):
        return options_response()
    return None


@tus_blueprint.route("/", methods=["OPTIONS"], strict_slashes=False)
@tus_blueprint.route("/<upload_id:str>", methods=["OPTIONS"])
async def tus_options(_: Request, upload_id: str | None = None) -> HTTPResponse:
    """Routed so that Sanic finds a handler (answered by `answer_tus_options` first)."""
    return options_response()


def unavailable() -> HTTPResponse:
    return tus_error(web_api.UNAVAILABLE, 503)


# --- routes ----------------------------------------------------------------------------------


def options_response() -> HTTPResponse:
    """tus's OPTIONS answer: the protocol versions, extensions and size limit we serve."""
    limits = TusLimits.from_env()
    return response.empty(
        status=204,
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(limits.max_bytes),
        },
    )


@tus_blueprint.post("/", strict_slashes=False)
async def tus_create(request: Request) -> HTTPResponse:
    """Creation: `Upload-Length` and `Upload-Metadata` (filename, sender) -> 201 + Location."""
    problem = version_problem(request)
    if problem:
        return problem
    limits = TusLimits.from_env()
    if request.headers.get("upload-defer-length"):
        return tus_error("Please send the file's size when starting the upload.", 400)
    try:
        length = int(request.headers.get("upload-length", ""))
        if length < 0:
            raise ValueError(length)
        metadata = parse_metadata(request.headers.get("upload-metadata", ""))
    except ValueError:
        return tus_error("The upload request was malformed. Please try again.", 400)
    sender = metadata.get("sender", "")
    if not web_api.SENDER_PATTERN.match(sender):
        return tus_error("The upload is missing a valid conversation id (sender).", 400)
    if length > limits.max_bytes:
        return tus_error(too_large_message(limits.max_bytes), 413)
    filename = metadata.get("filename", "")[:255]
    try:
        upload_id = await tus_store().create(sender, filename, length, limits)
    except TooManyOpen as exc:
        return tus_error(str(exc), 429)
    except Exception:
        logger.exception("creating a tus upload failed")
        return unavailable()
    logger.info("tus upload %s… created (%s)", upload_id[:6], human_size(length))
    return response.empty(
        status=201,
        headers=tus_headers(
            {
                # Relative: nginx passes Host without its port; clients resolve it.
                "Location": f"/api/uploads/{upload_id}",
                "Upload-Offset": "0",
                "Upload-Expires": expires_header(limits.ttl_seconds),
            }
        ),
    )


@tus_blueprint.route("/<upload_id:str>", methods=["HEAD"])
async def tus_head(request: Request, upload_id: str) -> HTTPResponse:
    problem = version_problem(request)
    if problem:
        return problem
    meta = await _meta_or_none(upload_id)
    if isinstance(meta, HTTPResponse):
        return meta
    if meta is None:
        return response.empty(status=404, headers=tus_headers())
    return response.empty(
        status=200,
        headers=tus_headers({"Upload-Offset": meta["offset"], "Upload-Length": meta["length"]}),
    )


@tus_blueprint.patch("/<upload_id:str>", stream=True)
async def tus_patch(request: Request, upload_id: str) -> HTTPResponse:
    """Append the body at `Upload-Offset`, piece by piece as it arrives (a cut connection
    keeps what was appended); the PATCH that completes the file also parses it."""
    problem = version_problem(request)
    if problem:
        return problem
    limits = TusLimits.from_env()
    if request.headers.get("content-type", "").split(";")[0].strip() != OFFSET_CONTENT_TYPE:
        return tus_error(f"Send the bytes as {OFFSET_CONTENT_TYPE}.", 415)
    try:
        offset = int(request.headers.get("upload-offset", ""))
        declared = int(request.headers.get("content-length", 0) or 0)
    except ValueError:
        return tus_error("The upload request was malformed. Please try again.", 400)
    if declared > limits.max_chunk_bytes:
        return tus_error(
            f"Send the file in pieces of at most {human_size(limits.max_chunk_bytes)}.", 413
        )
    meta = await _meta_or_none(upload_id)
    if isinstance(meta, HTTPResponse):
        return meta
    if meta is None:
        return tus_error(NOT_FOUND, 404)
    if int(meta["offset"]) != offset:
        return tus_error(
            "This part of the file does not continue where the upload stopped.",
            409,
            {"Upload-Offset": meta["offset"]},
        )
    store = tus_store()
    received = 0
    pending: list[bytes] = []
    pending_size = 0

    async def flush() -> int | HTTPResponse:
        nonlocal offset, pending, pending_size
        piece, pending, pending_size = b"".join(pending), [], 0
        code, new_offset = await store.append(upload_id, offset, piece, limits.ttl_seconds)
        if code == -1:
            return tus_error(NOT_FOUND, 404)
        if code == -2:  # another request appended meanwhile
            return tus_error(
                "This part of the file does not continue where the upload stopped.",
                409,
                {"Upload-Offset": str(new_offset)},
            )
        if code == -3:
            return tus_error("More bytes were sent than the upload's declared size.", 413)
        offset = new_offset
        return new_offset

    try:
        while True:
            chunk = await request.stream.read()
            if chunk is None:
                break
            received += len(chunk)
            if received > limits.max_chunk_bytes:
                return tus_error(
                    f"Send the file in pieces of at most {human_size(limits.max_chunk_bytes)}.",
                    413,
                )
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= APPEND_PIECE_BYTES:
                outcome = await flush()
                if isinstance(outcome, HTTPResponse):
                    return outcome
        if pending_size:
            outcome = await flush()
            if isinstance(outcome, HTTPResponse):
                return outcome
    except asyncio.CancelledError:
        # The client went away mid-body: keep what arrived (the client resumes from it).
        if pending_size:
            await asyncio.shield(flush())
        raise
    except Exception:
        logger.exception("appending to tus upload %s… failed", upload_id[:6])
        return unavailable()

    headers = {"Upload-Offset": str(offset), "Upload-Expires": expires_header(limits.ttl_seconds)}
    if offset == int(meta["length"]):
        try:
            await finished_answer(upload_id)
        except Exception:
            logger.exception("processing finished tus upload %s… failed", upload_id[:6])
    return response.empty(status=204, headers=tus_headers(headers))


@tus_blueprint.get("/<upload_id:str>")
async def tus_result(_: Request, upload_id: str) -> HTTPResponse:
    """What `POST /api/upload` answers for the same file; 409 while bytes are missing."""
    meta = await _meta_or_none(upload_id)
    if isinstance(meta, HTTPResponse):
        return meta
    if meta is None:
        return tus_error(NOT_FOUND, 404)
    if int(meta["offset"]) < int(meta["length"]):
        return tus_error(INCOMPLETE, 409, {"Upload-Offset": meta["offset"]})
    try:
        answer = await finished_answer(upload_id)
    except Exception:
        logger.exception("processing finished tus upload %s… failed", upload_id[:6])
        return unavailable()
    if answer is None:
        return tus_error(NOT_FOUND, 404)
    status, body = answer
    return response.json(body, status=status, headers=tus_headers())


@tus_blueprint.delete("/<upload_id:str>")
async def tus_delete(request: Request, upload_id: str) -> HTTPResponse:
    """Termination: the analyst cancelled; the bytes go at once (the dataset, if any, stays)."""
    problem = version_problem(request)
    if problem:
        return problem
    meta = await _meta_or_none(upload_id)
    if isinstance(meta, HTTPResponse):
        return meta
    if meta is None:
        return tus_error(NOT_FOUND, 404)
    try:
        await tus_store().delete(upload_id, meta["sender"])
    except Exception:
        logger.exception("deleting tus upload %s… failed", upload_id[:6])
        return unavailable()
    return response.empty(status=204, headers=tus_headers())


async def _meta_or_none(upload_id: str) -> dict[str, str] | None | HTTPResponse:
    if not UPLOAD_ID_PATTERN.match(upload_id):
        return None
    try:
        return await tus_store().meta(upload_id)
    except Exception:
        logger.exception("reading tus upload %s… failed", upload_id[:6])
        return unavailable()


async def finished_answer(upload_id: str) -> tuple[int, dict[str, Any]] | None:
    """The stored answer of a complete upload, parsing it first if nobody has yet.

    Exactly one instance parses (a claim key with a TTL longer than a parse); the others
    wait for its answer. A claim whose holder died expires and is taken over.
    """
    store = tus_store()
    claim_seconds = _env_int("UPLOAD_PARSE_TIMEOUT", 600) + 60
    while True:
        meta = await store.meta(upload_id)
        if meta is None:
            return None
        if "status" in meta:
            return int(meta["status"]), json.loads(meta["body"])
        if await store.claim(upload_id, claim_seconds):
            break
        await asyncio.sleep(0.5)
    try:
        meta = await store.meta(upload_id)  # another instance may have finished meanwhile
        if meta is None or "status" in meta:
            await store.release(upload_id)
            return (int(meta["status"]), json.loads(meta["body"])) if meta else None
        data = await store.data(upload_id)
        if len(data) != int(meta["length"]):  # expired between the checks
            return None
        status, body = await web_api.handle_uploaded_file(meta["sender"], data, meta["filename"])
        del data
        if status == 503:  # storage failed: leave the bytes for a retry
            await store.release(upload_id)
            return status, body
        await store.finish(
            upload_id, meta["sender"], status, body, TusLimits.from_env().ttl_seconds
        )
        return status, body
    except BaseException:
        await asyncio.shield(store.release(upload_id))
        raise
