"""One stack (one replica) on a TLS-only, password-protected Redis (`rediss://`, a test CA
made with openssl), for two scenarios that share it:

- a whole conversation completes over TLS;
- the upgrade: a conversation stored under the key names of the previous release
  (`tpr:tracker:events:<id>`, `tpr:tracker:session:<id>`, `tpr:dataset:<id>`) continues,
  and ends up under the hash-tagged names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.helpers import PrivateTlsRedis
from tests.integration.conftest import require_model
from tests.integration.stack import (
    ANALYST_STEPS,
    RunningStack,
    fetch_tracker,
    save_datasets,
    send,
    start_stack,
    uploaded_message,
    user_texts,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def tls_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    require_model()
    server = PrivateTlsRedis(tmp_path_factory.mktemp("stack-tls")).start()
    try:
        stack = start_stack(tmp_path_factory.mktemp("tls-stack"), replicas=1, redis_url=server.url)
    except BaseException:
        server.stop()
        raise
    yield stack
    try:
        stack.down()
    finally:
        server.stop()


def expected_slots(dataset_id: str) -> dict[str, Any]:
    slots: dict[str, Any] = {"dataset_id": dataset_id}
    for _, step in ANALYST_STEPS:
        slots.update(step)
    return slots


def finish_and_check(stack: RunningStack, sender: str, dataset_id: str, steps: list[str]) -> None:
    reply: list[dict[str, Any]] = []
    for text in steps:
        reply = send(stack.web_url, sender, text, timeout=300)
    body = "\n".join(m.get("text") or "" for m in reply)
    assert "Wards with data:" in body, body[:300]
    tracker = fetch_tracker(stack.replica_urls[0], sender)
    slots = {name: tracker["slots"].get(name) for name in expected_slots(dataset_id)}
    assert slots == expected_slots(dataset_id)
    everything = [uploaded_message(dataset_id), *(t for t, _ in ANALYST_STEPS)]
    assert user_texts(tracker) == everything


def test_a_conversation_completes_over_tls(tls_stack: RunningStack) -> None:
    assert tls_stack.redis_url.startswith("rediss://")
    sender = f"tls-{uuid.uuid4().hex[:8]}"
    dataset_id = save_datasets(tls_stack.redis_url, [sender])[sender]
    steps = [uploaded_message(dataset_id), *(text for text, _ in ANALYST_STEPS)]
    finish_and_check(tls_stack, sender, dataset_id, steps)


def test_a_conversation_stored_by_the_previous_release_continues(tls_stack: RunningStack) -> None:
    sender = f"upgrade-{uuid.uuid4().hex[:8]}"
    dataset_id = save_datasets(tls_stack.redis_url, [sender])[sender]
    send(tls_stack.web_url, sender, uploaded_message(dataset_id), timeout=300)
    send(tls_stack.web_url, sender, ANALYST_STEPS[0][0], timeout=300)

    # Put everything where the previous release kept it (its keys carried no hash tags and
    # its session hash only `start` and `save`).
    client = redis.Redis.from_url(tls_stack.redis_url, socket_timeout=5)
    try:
        client.rename(f"tpr:tracker:{{{sender}}}:events", f"tpr:tracker:events:{sender}")
        client.rename(f"tpr:tracker:{{{sender}}}:session", f"tpr:tracker:session:{sender}")
        client.hdel(f"tpr:tracker:session:{sender}", "prev_len", "prev_start")
        client.rename(f"tpr:dataset:{{{dataset_id}}}", f"tpr:dataset:{dataset_id}")
        client.rename(f"tpr:dataset:{{{dataset_id}}}:meta", f"tpr:dataset:{dataset_id}:meta")
        assert not client.keys(f"tpr:tracker:{{{sender}}}*")

        finish_and_check(tls_stack, sender, dataset_id, [text for text, _ in ANALYST_STEPS[1:]])

        assert not client.exists(f"tpr:tracker:events:{sender}", f"tpr:tracker:session:{sender}")
        assert client.exists(f"tpr:tracker:{{{sender}}}:events")
        assert client.ttl(f"tpr:tracker:{{{sender}}}:events") > 0
    finally:
        client.close()
