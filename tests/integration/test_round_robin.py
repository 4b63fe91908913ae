"""Round-robin without stickiness: the analyst's place survives whichever replica answers.

The system this replaces lost the workflow whenever a request reached another worker and then
replied with a generic "I understand you're asking about…". Here every step of 30 full
conversations goes through nginx's round-robin, and after every step the tracker is read
through a *different* replica than the one that answered.
"""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.integration.stack import (
    ANALYST_STEPS,
    RunningStack,
    fallback_problems,
    fetch_tracker,
    other_replica,
    post_message,
    save_datasets,
    uploaded_message,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

CONVERSATIONS = 30
CONCURRENT_CONVERSATIONS = 6


def run_workflow(stack: RunningStack, sender: str, dataset_id: str) -> list[str]:
    """The analysts' script, checking slots through another replica after each step.

    Returns the replicas that answered (for the round-robin check).
    """
    expected: dict[str, Any] = {"dataset_id": dataset_id}
    served: list[str] = []
    steps = [(uploaded_message(dataset_id), {}), *ANALYST_STEPS]
    for turn, (text, slots) in enumerate(steps):
        reply = post_message(stack.web_url, sender, text)
        assert reply.status == 200, f"{sender} step {text!r}: HTTP {reply.status}"
        assert reply.messages, f"{sender} step {text!r}: the bot said nothing"
        assert reply.served_by, "nginx did not name the replica (X-Upstream)"
        served.append(reply.served_by)
        expected.update(slots)
        reader = other_replica(stack, reply.served_by, turn)
        tracker = fetch_tracker(reader, sender)
        actual = {name: tracker["slots"].get(name) for name in expected}
        assert actual == expected, (
            f"{sender} after {text!r} (answered by {reply.served_by}, read via {reader}): "
            f"slots {actual}, expected {expected}"
        )
        problems = fallback_problems(reply.messages, tracker)
        assert not problems, f"{sender} after {text!r}: generic fallback {problems}"
    return served


def test_full_workflow_on_any_replica(stack_in_each_redis_mode: RunningStack) -> None:
    shared_stack = stack_in_each_redis_mode
    senders = [f"rr-{uuid.uuid4().hex[:8]}-{i}" for i in range(CONVERSATIONS)]
    dataset_ids = save_datasets(shared_stack.redis_url, senders)

    with ThreadPoolExecutor(CONCURRENT_CONVERSATIONS) as pool:
        served = list(pool.map(lambda s: run_workflow(shared_stack, s, dataset_ids[s]), senders))

    per_replica = Counter(replica for conversation in served for replica in conversation)
    assert len(per_replica) == len(shared_stack.replica_urls), (
        f"round-robin should reach every replica: {dict(per_replica)}"
    )
    switched = sum(1 for conversation in served if len(set(conversation)) > 1)
    assert switched >= CONVERSATIONS * 0.8, (
        f"only {switched}/{CONVERSATIONS} conversations were answered by more than one replica"
    )
