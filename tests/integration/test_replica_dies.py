"""A replica dies (SIGKILL) mid-conversation: every conversation completes on the others.

nginx passes a request it could not deliver (connection refused) on to the next replica, and
the conversation's state is in Redis, so the surviving replica continues each workflow where
it stands. supervisord restarts the dead replica; it rejoins once its model is loaded.
"""

from __future__ import annotations

import os
import signal
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import PrivateRedis
from tests.integration.conftest import require_model
from tests.integration.stack import (
    ANALYST_STEPS,
    RunningStack,
    fallback_problems,
    fetch_tracker,
    post_message,
    save_datasets,
    start_stack,
    uploaded_message,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

CONVERSATIONS = 12


@pytest.fixture()
def own_stack(redis_server: PrivateRedis, tmp_path: Path) -> Iterator[RunningStack]:
    """2 replicas of our own: this test kills one, so it never uses `shared_stack`."""
    require_model()
    stack = start_stack(tmp_path / "stack", replicas=2, redis_url=redis_server.url)
    yield stack
    stack.down()


def replica_gone(pid: int, url: str) -> bool:
    """The killed replica's process is reaped and its port refuses connections.

    A SIGKILLed Rasa's main thread turns zombie at once, but its many threads close the
    listening socket a moment later; a request connecting in between is accepted and then
    reset, and nginx rightly does not replay a POST that may have reached Rasa.
    """
    if Path(f"/proc/{pid}").exists():
        return False
    host, port = url.rsplit("/", 1)[-1].split(":")
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, int(port))) != 0


def step(stack: RunningStack, sender: str, text: str) -> str:
    reply = post_message(stack.web_url, sender, text)
    assert reply.status == 200, f"{sender}: {text!r} -> HTTP {reply.status}"
    assert reply.messages, f"{sender}: {text!r} got no answer"
    problems = fallback_problems(reply.messages)
    assert not problems, f"{sender}: {text!r} -> {problems}"
    return reply.served_by


def test_conversations_complete_after_a_replica_is_killed(own_stack: RunningStack) -> None:
    senders = [f"kill-{uuid.uuid4().hex[:8]}-{i}" for i in range(CONVERSATIONS)]
    dataset_ids = save_datasets(own_stack.redis_url, senders)
    first, rest = ANALYST_STEPS[:1], ANALYST_STEPS[1:]

    def begin(sender: str) -> set[str]:
        served = {step(own_stack, sender, uploaded_message(dataset_ids[sender]))}
        for text, _ in first:
            served.add(step(own_stack, sender, text))
        return served

    with ThreadPoolExecutor(4) as pool:
        served_before = set().union(*pool.map(begin, senders))
    assert len(served_before) == 2, f"both replicas should have answered: {served_before}"

    victim = own_stack.pid_of("rasa-1")
    assert victim
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: replica_gone(victim, own_stack.replica_urls[0]),
        timeout=30,
        interval=0.05,
        what="rasa-1 to be gone",
    )

    def finish(sender: str) -> set[str]:
        return {step(own_stack, sender, text) for text, _ in rest}

    with ThreadPoolExecutor(4) as pool:
        served_after = set().union(*pool.map(finish, senders))

    survivor = own_stack.replica_urls[1]
    for sender in senders:
        tracker = fetch_tracker(survivor, sender)
        slots = {name: tracker["slots"].get(name) for name in ("state", "confirmed")}
        slots.update({n: tracker["slots"].get(n) for n in ("facility_level", "age_group")})
        assert slots == {
            "state": "Adamawa",
            "confirmed": True,
            "facility_level": "primary",
            "age_group": "u5",
        }, f"{sender}: {slots}"
        assert tracker["slots"].get("dataset_id") == dataset_ids[sender]
        assert not fallback_problems([], tracker), sender
    # Until supervisord's restarted replica has loaded its model, only the survivor answers.
    assert survivor.rsplit("/", 1)[-1] in served_after
    assert own_stack.pid_of("rasa-1") != victim
