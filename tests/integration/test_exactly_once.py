"""Exactly-once REST messages over three replicas, and Rasa's own streaming console client.

A client retry carries the same `metadata.message_id`: it must not be processed again on
any replica, and it answers the replies of the first processing."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import pytest
import redis
import requests

from tests.integration.stack import RunningStack, fetch_tracker, post_message, wait_until

pytestmark = pytest.mark.integration


def post_with_id(url: str, sender: str, text: str, message_id: str) -> tuple[int, Any]:
    reply = requests.post(
        f"{url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text, "metadata": {"message_id": message_id}},
        timeout=300,
    )
    return reply.status_code, reply.json()


def user_events(replica_url: str, sender: str) -> list[dict[str, Any]]:
    tracker = fetch_tracker(replica_url, sender)
    return [e for e in tracker["events"] if e.get("event") == "user"]


def test_copies_of_one_message_id_are_processed_once_on_three_replicas(
    shared_stack: RunningStack,
) -> None:
    replicas = shared_stack.replica_urls
    assert len(replicas) == 3
    sender = f"once-{uuid.uuid4().hex[:8]}"
    assert post_message(shared_stack.web_url, sender, "hello").status == 200
    message_id = uuid.uuid4().hex

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(lambda i: post_with_id(replicas[i % 3], sender, "help", message_id), range(8))
        )
    assert [status for status, _ in answers] == [200] * 8
    first = answers[0][1]
    assert first and all(body == first for _, body in answers), answers
    assert any(m.get("text") for m in first)

    helps = [e for e in user_events(replicas[1], sender) if e.get("text") == "help"]
    assert len(helps) == 1
    assert helps[0]["metadata"]["message_id"] == message_id

    # A retry much later (through nginx, any replica) answers the same and adds nothing.
    time.sleep(5)
    events_before = len(fetch_tracker(replicas[2], sender)["events"])
    status, again = post_with_id(shared_stack.web_url, sender, "help", message_id)
    assert (status, again) == (200, first)
    assert len(fetch_tracker(replicas[0], sender)["events"]) == events_before

    # The same text with a new message_id is a new message: processed again.
    status, fresh = post_with_id(shared_stack.web_url, sender, "help", uuid.uuid4().hex)
    assert status == 200 and fresh
    helps = [e for e in user_events(replicas[0], sender) if e.get("text") == "help"]
    assert len(helps) == 2


def test_a_client_that_hangs_up_mid_turn_gets_the_answer_on_retry(
    shared_stack: RunningStack,
) -> None:
    """The link drops while the bot is still working: the turn finishes anyway, its replies
    are kept, and the retry gets them without a second processing."""
    sender, message_id = f"hangup-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    body = json.dumps(
        {"sender": sender, "message": "help", "metadata": {"message_id": message_id}}
    ).encode()
    parsed = urlparse(shared_stack.web_url)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=30)
    sock.sendall(
        f"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    time.sleep(0.05)  # the request is on its way; the turn has not finished yet
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()

    ledger = redis.Redis.from_url(shared_stack.redis_url)
    key = f"tpr:replies:{{{sender}}}:{message_id}"
    stored = wait_until(
        lambda: (value := ledger.get(key)) and value.startswith(b"[") and value,
        timeout=120,
        what="the replies of the abandoned turn",
    )
    status, again = post_with_id(shared_stack.web_url, sender, "help", message_id)
    assert status == 200 and again == json.loads(stored) and again
    helps = [e for e in user_events(shared_stack.replica_urls[0], sender) if e["text"] == "help"]
    assert len(helps) == 1


def test_rasa_console_client_streams_the_bot_messages(shared_stack: RunningStack) -> None:
    """`rasa shell`'s own reader (one JSON message per line, ?stream=true) through nginx."""
    from rasa.core.channels.console import _send_message_receive_stream

    sender = f"stream-{uuid.uuid4().hex[:8]}"

    async def read_all(text: str) -> list[dict[str, Any]]:
        stream = _send_message_receive_stream(shared_stack.web_url, "", sender, text, 300)
        return [message async for message in stream]

    streamed = asyncio.run(read_all("hello"))
    assert streamed and all(m["recipient_id"] == sender for m in streamed)
    assert any(m.get("text") for m in streamed)

    # The same turn without streaming on a twin conversation gives the same messages.
    twin = f"{sender}-twin"
    plain = post_message(shared_stack.web_url, twin, "hello")
    assert plain.status == 200
    assert [m.get("text") for m in streamed] == [m.get("text") for m in plain.messages]
    assert [e["text"] for e in user_events(shared_stack.replica_urls[0], sender)] == ["hello"]

    # Streaming a repeat of a processed message_id streams the stored replies.
    message_id = uuid.uuid4().hex
    status, body = post_with_id(shared_stack.web_url, sender, "help", message_id)
    assert status == 200 and body
    lines = requests.post(
        f"{shared_stack.web_url}/webhooks/rest/webhook?stream=true",
        json={"sender": sender, "message": "help", "metadata": {"message_id": message_id}},
        timeout=300,
    )
    assert lines.status_code == 200
    assert [m for m in map(_json, lines.text.splitlines()) if m] == body


def _json(line: str) -> Any:
    return json.loads(line) if line.strip() else None
