"""The whole conversation against the running stack (nginx -> Rasa replicas with the Redis
tracker store -> action server), checking the slots through the tracker API after each step."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.integration.stack import (
    RunningStack,
    fallback_problems,
    fetch_tracker,
    save_datasets,
    send,
    uploaded_message,
    wait_until,
)

pytestmark = pytest.mark.integration
FORM_SLOTS = ("state", "confirmed", "facility_level", "age_group")


class Conversation:
    """One analyst's conversation; tracker checks rotate over the replicas."""

    def __init__(self, stack: RunningStack, sender: str) -> None:
        self.stack = stack
        self.sender = sender
        self.turn = 0
        self.transcript: list[dict[str, Any]] = []

    def say(self, message: str) -> list[dict[str, Any]]:
        messages = send(self.stack.web_url, self.sender, message, timeout=300)
        self.transcript += messages
        self.turn += 1
        return messages

    def tracker(self) -> dict[str, Any]:
        replica = self.stack.replica_urls[self.turn % len(self.stack.replica_urls)]
        return fetch_tracker(replica, self.sender)

    def expect(self, loop: str | None, requested: str | None, **slots: Any) -> dict[str, Any]:
        """Wait until a replica's tracker shows these slots, active loop and pending question."""

        def matches() -> dict[str, Any] | None:
            tracker = self.tracker()
            values = tracker.get("slots", {})
            active = (tracker.get("active_loop") or {}).get("name")
            ok = (
                all(values.get(k) == v for k, v in slots.items())
                and active == loop
                and values.get("requested_slot") == requested
            )
            return tracker if ok else None

        try:
            return wait_until(matches, timeout=60, interval=1, what=f"slots {slots}")
        except AssertionError:
            tracker = self.tracker()
            pytest.fail(
                f"after turn {self.turn}: slots {tracker.get('slots')}, active loop "
                f"{tracker.get('active_loop')}; expected {slots}, loop {loop}, asking {requested}"
            )


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def test_analyst_workflow_with_navigation_and_reselection(shared_stack: RunningStack) -> None:
    sender = f"e2e-{uuid.uuid4().hex[:10]}"
    dataset_id = save_datasets(shared_stack.redis_url, [sender])[sender]
    chat = Conversation(shared_stack, sender)

    reply = chat.say(uploaded_message(dataset_id))
    assert "States (2):" in texts(reply)
    assert "Which state would you like to analyze?" in texts(reply)
    chat.expect("tpr_form", "state", dataset_id=dataset_id, state=None)

    chat.say("Adamawa State")
    chat.expect("tpr_form", "confirmed", state="Adamawa", confirmed=None)
    chat.say("proceed with TPR calculation")
    chat.expect("tpr_form", "facility_level", state="Adamawa", confirmed=True)

    chat.say("go back")  # back to the confirmation
    chat.expect("tpr_form", "confirmed", state="Adamawa", confirmed=None)
    chat.say("yes")
    chat.expect("tpr_form", "facility_level", confirmed=True, facility_level=None)

    reply = chat.say("how are you")  # small talk mid-form: short answer, same question
    assert "Which facility level" in texts(reply)
    chat.expect("tpr_form", "facility_level", facility_level=None)

    chat.say("Primary")
    chat.expect("tpr_form", "age_group", facility_level="primary")
    reply = chat.say("where am I")
    assert "Pending question: the age group." in texts(reply)
    chat.expect("tpr_form", "age_group", facility_level="primary", age_group=None)

    reply = chat.say("Under 5")
    chat.expect(
        None, None, state="Adamawa", confirmed=True, facility_level="primary", age_group="u5"
    )
    body = texts(reply)
    assert "Wards with data:" in body and "Top " in body
    image = next(m["image"] for m in reply if m.get("image"))
    links = [w for w in body.split() if w.startswith("/api/download/")]
    assert len(links) == 2
    for link in [image, *links]:
        response = requests.get(shared_stack.web_url + link, timeout=120)
        assert response.status_code == 200, link

    reply = chat.say("now pregnant women")
    chat.expect(None, None, state="Adamawa", facility_level="primary", age_group="pw")
    assert "pregnant women" in texts(reply).lower()

    chat.say("analyze Kwara")
    chat.expect(None, None, state="Kwara", confirmed=True, age_group="pw")

    chat.say("change the age group")
    chat.expect("tpr_form", "age_group", state="Kwara", age_group=None)
    reply = chat.say("cancel")
    assert "start TPR" in texts(reply)
    chat.expect(None, None, dataset_id=dataset_id, state="Kwara", age_group=None)
    chat.say("start TPR")
    chat.expect("tpr_form", "age_group", state="Kwara")
    chat.say("restart")
    chat.expect("tpr_form", "state", dataset_id=dataset_id, **dict.fromkeys(FORM_SLOTS))

    assert fallback_problems(chat.transcript, chat.tracker()) == []


def test_someone_elses_dataset_is_refused_without_saying_it_exists(
    shared_stack: RunningStack,
) -> None:
    owner, intruder = f"owner-{uuid.uuid4().hex[:8]}", f"intruder-{uuid.uuid4().hex[:8]}"
    ids = save_datasets(shared_stack.redis_url, [owner])
    foreign = send(shared_stack.web_url, intruder, uploaded_message(ids[owner]), timeout=300)
    unknown = send(shared_stack.web_url, intruder, uploaded_message("A" * 43), timeout=300)
    assert texts(foreign) == texts(unknown)
    tracker = fetch_tracker(shared_stack.replica_urls[0], intruder)
    assert tracker["slots"].get("dataset_id") is None
    assert (tracker.get("active_loop") or {}).get("name") is None
