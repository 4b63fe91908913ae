"""Rasa's REST channel, made safe for slow and broken links.

- A message Rasa could not process answers 503, not 200 []: stock `RestInput` catches every
  exception of `on_new_message` (Redis down, lock wait timed out) and answers `200 []`, so
  the widget cannot tell "the bot had nothing to say" from "your message was lost". Here the
  same failure is a `503 {"error": ...}` that the widget shows and that a client may retry.
- Exactly once: a message whose `metadata.message_id` was already processed for that
  conversation is not processed again, on any replica; the repeat answers `200` with the
  replies of the first processing (kept in Redis, `tpr:replies:{<sender>}:<message_id>`,
  REPLY_TTL_SECONDS). Copies that arrive while the first is processed wait for its replies.
- `?stream=true` answers one JSON message per line as produced, as stock Rasa does (its
  console client `rasa shell` reads that); a failure before the first message is a 503.

The URL stays /webhooks/rest/webhook (the channel is still named "rest"). credentials.yml
selects it with `deploy.rest_channel.FailFastRestInput:` (PYTHONPATH is the repository root);
optional keys: `url` (Redis; default REDIS_URL), `reply_ttl_seconds`, `wait_seconds`.
- Store failures in a turn answer 503 and the turn is not saved: Rasa's FailSafeTrackerStore
  swallows a failed tracker save (Redis gone mid-turn, or replicas not confirming it under
  REDIS_MIN_REPLICAS_ACK) and keeps the turn in memory only, a failed load makes Rasa treat
  the conversation as new, and a failed custom action (the action server could not reach
  Redis) loses the action's events while the turn is still answered. Our tracker store
  reports all three (`watching_store_errors`) and refuses to save that turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import rasa.utils.endpoints
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from redis_stores._redis import RedisConnector, redis_url_from
from redis_stores.tracker_store import watch_failed_actions, watching_store_errors

logger = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = "The assistant is temporarily unavailable. Please try again in a moment."
MESSAGE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
DEFAULT_REPLY_TTL_SECONDS = 24 * 3600
# A copy waits this long for the first copy's replies (nginx gives a turn 300 s).
DEFAULT_WAIT_SECONDS = 290.0
# The processing replica's claim outlives any turn; if that replica dies the claim expires
# and a retry is processed afresh.
CLAIM_SECONDS = 330
POLL_SECONDS = 0.1
# nginx passes each streamed line on at once instead of buffering the whole answer.
NO_PROXY_BUFFERING = {"X-Accel-Buffering": "no"}
_PENDING = b"pending:"
_FAILURES = (Exception, asyncio.CancelledError)

# KEYS: reply key. ARGV: claim value -> 1 deleted (the claim was still ours), else 0.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Unavailable(Exception):
    """Redis cannot tell whether the message was processed: answer 503 (the client retries)."""


class ReplyLedger:
    """Which messages a conversation has processed, and what the bot answered to them."""

    def __init__(self, url: str, reply_ttl_seconds: int, wait_seconds: float) -> None:
        self.redis = RedisConnector(url, {"release": _RELEASE})
        self.reply_ttl_seconds = reply_ttl_seconds
        self.wait_seconds = wait_seconds

    @staticmethod
    def key(sender_id: str, message_id: str) -> str:
        return f"tpr:replies:{{{sender_id}}}:{message_id}"

    async def claim_or_replies(self, key: str) -> tuple[str | None, list[dict] | None]:
        """(claim, None) when this copy must process the message; (None, replies) when
        another copy did. Waits while another copy is processing."""
        deadline = time.monotonic() + self.wait_seconds
        claim = _PENDING + secrets.token_hex(8).encode()
        try:
            while True:
                client = self.redis.client()
                if await client.set(key, claim, nx=True, ex=CLAIM_SECONDS):
                    return claim.decode(), None
                stored = await client.get(key)
                if stored is not None and not stored.startswith(_PENDING):
                    return None, json.loads(stored)
                if time.monotonic() > deadline:
                    raise Unavailable(key)
                await asyncio.sleep(POLL_SECONDS)
        except Unavailable:
            raise
        except Exception as exc:
            raise Unavailable(key) from exc

    async def store(self, key: str, replies: list[dict]) -> None:
        try:
            await self.redis.client().set(key, json.dumps(replies), ex=self.reply_ttl_seconds)
        except Exception:
            logger.exception("could not keep the replies of %s (a retry waits, then 503)", key)

    async def release(self, key: str, claim: str) -> None:
        """Processing failed: let a retry process the message."""
        try:
            await self.redis.run("release", [key], [claim])
        except Exception:
            logger.exception("could not release %s (it expires in %s s)", key, CLAIM_SECONDS)


class TeeOutputChannel(CollectingOutputChannel):
    """Collects the bot's messages (kept for repeats) and queues them for streaming."""

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue = asyncio.Queue()

    async def _persist_message(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        await self.queue.put(message)


_DONE = object()


def unavailable() -> HTTPResponse:
    return response.json({"error": UNAVAILABLE_MESSAGE}, status=503)


def stream_of(first: Any, queue: asyncio.Queue, finish: Callable[[], Awaitable[None]]) -> Any:
    """A Sanic streaming function writing one JSON message per line until _DONE."""

    async def write(resp: Any) -> None:
        item = first
        while item is not _DONE:
            await resp.write(json.dumps(item) + "\n")
            item = await queue.get()
        await finish()

    return write


class FailFastRestInput(RestInput):
    """REST channel: 503 on failures, exactly-once `message_id`s, `?stream=true`."""

    def __init__(
        self,
        url: str | None = None,
        reply_ttl_seconds: int | None = None,
        wait_seconds: float | None = None,
    ) -> None:
        self.url = redis_url_from(url)
        ttl = reply_ttl_seconds or int(os.environ.get("REPLY_TTL_SECONDS") or 0)
        self.ledger = ReplyLedger(
            self.url, ttl or DEFAULT_REPLY_TTL_SECONDS, float(wait_seconds or DEFAULT_WAIT_SECONDS)
        )

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> FailFastRestInput:
        return cls(**(credentials or {}))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        watch_failed_actions()

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> Any:
            sender_id = await self._extract_sender(request)
            text = self._extract_message(request)
            metadata = self.get_metadata(request)
            stream = rasa.utils.endpoints.bool_arg(request, "stream", default=False)
            message_id = metadata.get("message_id") if isinstance(metadata, dict) else None
            if not isinstance(message_id, str) or not MESSAGE_ID_PATTERN.match(message_id):
                message_id = None

            key = claim = None
            if message_id and sender_id:
                key = self.ledger.key(sender_id, message_id)
                try:
                    claim, replies = await self.ledger.claim_or_replies(key)
                except Unavailable:
                    logger.exception("exactly-once check of %s failed", key)
                    return unavailable()
                if replies is not None:
                    logger.info("repeat of %s answered from the first processing", key)
                    return _stream_list(replies) if stream else response.json(replies)

            collector = TeeOutputChannel()
            message = UserMessage(
                text,
                collector,
                sender_id,
                input_channel=self._extract_input_channel(request),
                metadata=metadata,
            )

            async def run_turn() -> bool:
                """The turn, in a task of its own: a client that hangs up mid-turn (Sanic
                then cancels the request handler) does not abort it, so its replies are
                kept and the client's retry gets them instead of a second processing."""
                try:
                    with watching_store_errors() as store_errors:
                        await on_new_message(message)
                    if store_errors:
                        first = store_errors[0]
                        raise RuntimeError(
                            f"turn not stored ({first.operation} failed: {first.error})"
                        )
                except _FAILURES:
                    logger.exception("message of %s could not be processed", sender_id)
                    if key and claim:
                        await self.ledger.release(key, claim)
                    return False
                finally:
                    await collector.queue.put(_DONE)
                if key and claim:
                    await self.ledger.store(key, collector.messages)
                return True

            turn = asyncio.ensure_future(run_turn())
            if not stream:
                if not await asyncio.shield(turn):
                    return unavailable()
                return response.json(collector.messages)

            first = await collector.queue.get()
            if first is _DONE and not await asyncio.shield(turn):
                return unavailable()

            async def finish() -> None:
                # A failure after the first line: the 200 is sent, the stream just ends (and
                # a retry of this message_id is processed afresh).
                await asyncio.shield(turn)

            return response.stream(
                stream_of(first, collector.queue, finish),
                content_type="text/event-stream",
                headers=NO_PROXY_BUFFERING,
            )

        return webhook


async def _nothing() -> None:
    return None


def _stream_list(replies: list[dict]) -> Any:
    """The stored replies of a repeat, streamed as the first processing streamed them."""
    queue: asyncio.Queue = asyncio.Queue()
    for reply in replies:
        queue.put_nowait(reply)
    queue.put_nowait(_DONE)
    first = queue.get_nowait()
    return response.stream(
        stream_of(first, queue, _nothing),
        content_type="text/event-stream",
        headers=NO_PROXY_BUFFERING,
    )
