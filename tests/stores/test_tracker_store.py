"""AppendOnlyRedisTrackerStore: Rasa round trip, no lost events, current-session loads,
retention, keys, and creation from endpoints.yml the way Rasa does it."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from rasa.core.tracker_store import (
    AwaitableTrackerStore,
    FailSafeTrackerStore,
    TrackerStore,
    create_tracker_store,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.utils.endpoints import EndpointConfig

from redis_stores.tracker_store import AppendOnlyRedisTrackerStore

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, dataset_uploaded, inform]
entities: [dataset_id]
slots:
  dataset_id:
    type: text
    mappings: [{type: from_entity, entity: dataset_id}]
  state:
    type: text
    mappings: [{type: custom}]
forms:
  tpr_form:
    required_slots: [state]
responses:
  utter_greet: [{text: "Hello"}]
"""
)


def session_start() -> list[Event]:
    return [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
    ]


def turn(i: int) -> list[Event]:
    """One realistic turn: user message with NLU data, form activity, slots, bot reply."""
    return [
        UserUttered(
            f"Adamawa State {i}",
            intent={"name": "inform", "confidence": 0.97},
            entities=[{"entity": "dataset_id", "value": f"ds-{i}", "start": 0, "end": 4}],
            parse_data={
                "intent": {"name": "inform", "confidence": 0.97},
                "entities": [{"entity": "dataset_id", "value": f"ds-{i}", "start": 0, "end": 4}],
                "text": f"Adamawa State {i}",
                "message_id": f"m{i}",
                "metadata": {"client": "widget"},
                "intent_ranking": [{"name": "inform", "confidence": 0.97}],
            },
            input_channel="rest",
            message_id=f"m{i}",
        ),
        SlotSet("dataset_id", f"ds-{i}"),
        ActionExecuted("tpr_form", policy="RulePolicy", confidence=1.0),
        ActiveLoop("tpr_form"),
        SlotSet("state", "Adamawa"),
        SlotSet("requested_slot", "state"),
        BotUttered("Which state?", {"buttons": [{"title": "Adamawa", "payload": "/inform"}]}),
        ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0),
    ]


def make_store(url: str, **kwargs) -> AppendOnlyRedisTrackerStore:
    return AppendOnlyRedisTrackerStore(domain=DOMAIN, host=url, **kwargs)


def as_dicts(tracker: DialogueStateTracker) -> list[dict]:
    return [event.as_dict() for event in tracker.events]


async def test_rasa_events_round_trip(redis_url: str) -> None:
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("alice", append_action_listen=False)
    original = [*session_start(), *turn(1), ActiveLoop(None), SlotSet("requested_slot", None)]
    tracker.update_with_events(original, DOMAIN)
    await store.save(tracker)

    loaded = await make_store(redis_url).retrieve("alice")  # another replica
    assert loaded is not None
    assert as_dicts(loaded) == [event.as_dict() for event in original]
    assert loaded.current_state(EventVerbosity.ALL) == tracker.current_state(EventVerbosity.ALL)
    assert loaded.get_slot("state") == "Adamawa"
    assert loaded.latest_message.intent["name"] == "inform"
    # What is stored is Rasa's own serialisation, readable without our code.
    client = redis.Redis.from_url(redis_url)
    try:
        raw = [json.loads(item) for item in client.lrange("tpr:tracker:{alice}:events", 0, -1)]
    finally:
        client.close()
    assert DialogueStateTracker.from_dict("alice", raw, DOMAIN.slots).current_state(
        EventVerbosity.ALL
    ) == tracker.current_state(EventVerbosity.ALL)


async def test_active_loop_survives_a_reload(redis_url: str) -> None:
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("bob", append_action_listen=False)
    tracker.update_with_events([*session_start(), *turn(1)], DOMAIN)
    await store.save(tracker)
    loaded = await store.retrieve("bob")
    assert loaded.active_loop_name == "tpr_form"
    assert loaded.get_slot("requested_slot") == "state"


async def test_two_replicas_saving_at_once_lose_nothing(redis_url: str) -> None:
    replica_a, replica_b = make_store(redis_url), make_store(redis_url)
    tracker = await replica_a.get_or_create_tracker("carol", append_action_listen=False)
    tracker.update_with_events(session_start(), DOMAIN)
    await replica_a.save(tracker)

    for round_number in range(5):
        # Both replicas load the same state, add different events, save concurrently.
        seen_a, seen_b = await asyncio.gather(
            replica_a.retrieve("carol"), replica_b.retrieve("carol")
        )
        seen_a.update(UserUttered(f"from a {round_number}"))
        seen_b.update(UserUttered(f"from b {round_number}"))
        seen_b.update(BotUttered(f"reply b {round_number}"))
        await asyncio.gather(replica_a.save(seen_a), replica_b.save(seen_b))

    full = await replica_a.retrieve_full_tracker("carol")
    texts = [e.text for e in full.events if isinstance(e, (UserUttered, BotUttered))]
    for round_number in range(5):
        for text in (f"from a {round_number}", f"from b {round_number}", f"reply b {round_number}"):
            assert texts.count(text) == 1
    assert len(full.events) == 3 + 5 * 3


async def test_saving_the_same_tracker_twice_appends_nothing_twice(redis_url: str) -> None:
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("dan", append_action_listen=False)
    tracker.update_with_events([*session_start(), *turn(1)], DOMAIN)
    await store.save(tracker)
    await store.save(tracker)
    tracker.update(UserUttered("again"))
    await store.save(tracker)
    await store.save(tracker)
    full = await store.retrieve_full_tracker("dan")
    assert as_dicts(full) == as_dicts(tracker)


async def test_retrieve_loads_only_the_current_session(redis_url: str) -> None:
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("erin", append_action_listen=False)
    for session in range(40):
        # A replica loads, adds one session (as after session expiry), saves.
        tracker = await store.retrieve("erin") or tracker
        tracker.update_with_events([*session_start(), *turn(session)], DOMAIN)
        await store.save(tracker)
        current = await store.retrieve("erin")
        assert len(current.events) == 3 + 8
    assert current.events[0].as_dict()["name"] == "action_session_start"
    assert current.latest_message.text == "Adamawa State 39"
    full = await store.retrieve_full_tracker("erin")
    assert len(full.events) == 40 * 11
    assert full.events[3].text == "Adamawa State 0"


async def test_a_new_session_mid_save_moves_the_index(redis_url: str) -> None:
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("fay", append_action_listen=False)
    tracker.update_with_events([*session_start(), *turn(1)], DOMAIN)
    await store.save(tracker)
    loaded = await store.retrieve("fay")
    # One save holding the end of the old session and the start of a new one.
    loaded.update_with_events([UserUttered("late"), *session_start(), *turn(2)], DOMAIN)
    await store.save(loaded)
    current = await store.retrieve("fay")
    assert [e.as_dict() for e in current.events] == [e.as_dict() for e in list(loaded.events)[-11:]]


async def test_retention_is_applied_and_configurable(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        for retention, expected in ((3600, (3590, 3600)), (0, (-1, -1))):
            store = make_store(redis_url, retention_seconds=retention)
            tracker = await store.get_or_create_tracker(f"r{retention}", append_action_listen=False)
            tracker.update_with_events(session_start(), DOMAIN)
            await store.save(tracker)
            for key in (
                f"tpr:tracker:{{r{retention}}}:events",
                f"tpr:tracker:{{r{retention}}}:session",
            ):
                assert expected[0] <= client.ttl(key) <= expected[1], key
    finally:
        client.close()


def test_retention_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_RETENTION_SECONDS", "120")
    assert make_store("redis://127.0.0.1:1/0").retention_seconds == 120
    monkeypatch.delenv("TRACKER_RETENTION_SECONDS")
    assert make_store("redis://127.0.0.1:1/0").retention_seconds == 30 * 24 * 3600


async def test_expired_conversation_starts_afresh(redis_url: str) -> None:
    store = make_store(redis_url, retention_seconds=1)
    tracker = await store.get_or_create_tracker("gus", append_action_listen=False)
    tracker.update_with_events(session_start(), DOMAIN)
    await store.save(tracker)
    for _ in range(150):
        if not await store.exists("gus"):
            break
        await asyncio.sleep(0.1)
    assert await store.retrieve("gus") is None


async def test_keys_and_exists(redis_url: str) -> None:
    store = make_store(redis_url)
    for sender in ("a", "b:with:colons", "c"):
        tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
        tracker.update_with_events(session_start(), DOMAIN)
        await store.save(tracker)
    assert sorted(await store.keys()) == ["a", "b:with:colons", "c"]
    assert await store.exists("b:with:colons")
    assert not await store.exists("nobody")
    assert await store.retrieve("nobody") is None


async def test_a_tracker_built_elsewhere_is_merged_never_wiping_history(redis_url: str) -> None:
    """Trackers the store did not load (PUT .../tracker/events, tools) add what is new."""
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("hal", append_action_listen=False)
    tracker.update_with_events([*session_start(), *turn(1)], DOMAIN)
    await store.save(tracker)
    stored = as_dicts(tracker)
    extra = UserUttered("one more")
    rebuilt = DialogueStateTracker.from_dict("hal", [*stored, extra.as_dict()], DOMAIN.slots)
    await store.save(rebuilt)
    await store.save(DialogueStateTracker.from_dict("hal", stored[:3], DOMAIN.slots))
    assert as_dicts(await store.retrieve_full_tracker("hal")) == [*stored, extra.as_dict()]


async def test_rasa_failsafe_wrapper_cannot_wipe_a_conversation(redis_url: str) -> None:
    """Rasa wraps every tracker store in FailSafeTrackerStore: when a retrieve fails it
    creates and saves a new, empty tracker. That must not erase the stored conversation."""
    store = make_store(redis_url)
    tracker = await store.get_or_create_tracker("ida", append_action_listen=False)
    tracker.update_with_events([*session_start(), *turn(1)], DOMAIN)
    await store.save(tracker)
    wrapped = FailSafeTrackerStore(store)
    for append_action_listen in (False, True):
        await wrapped.create_tracker("ida", append_action_listen=append_action_listen)
    full = await store.retrieve_full_tracker("ida")
    assert as_dicts(full)[: len(tracker.events)] == as_dicts(tracker)
    assert full.get_slot("dataset_id") == "ds-1"


async def test_a_retried_save_appends_once(redis_url: str) -> None:
    """A save retried after a dropped connection (same token) must not duplicate events."""
    store = make_store(redis_url)
    keys = ["tpr:tracker:{jo}:events", "tpr:tracker:{jo}:session"]
    event = json.dumps(UserUttered("hi").as_dict())
    for _ in range(2):
        assert await store._redis.run("append", keys, [60, "token-1", -1, event]) == 1
    assert await store._redis.run("append", keys, [60, "token-2", -1, event]) == 2


async def test_rasa_builds_it_from_endpoints_yml(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.core.utils import AvailableEndpoints

    from tests.conftest import REPO_ROOT

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://127.0.0.1:5055/webhook")
    endpoints = AvailableEndpoints.read_endpoints(str(REPO_ROOT / "endpoints.yml"))
    store = create_tracker_store(endpoints.tracker_store, DOMAIN)
    # Not silently the in-memory fallback, and async (not wrapped as deprecated sync).
    assert isinstance(store, AppendOnlyRedisTrackerStore)
    assert not isinstance(store, AwaitableTrackerStore)
    assert store.url == redis_url
    assert TrackerStore.create(store) is store
    tracker = await store.get_or_create_tracker("ivy")
    tracker.update(UserUttered("hello"))
    await store.save(tracker)
    assert (await store.retrieve("ivy")).latest_message.text == "hello"


def test_endpoint_config_keys_are_honoured() -> None:
    config = EndpointConfig(
        url="redis://127.0.0.1:1/3",
        type="redis_stores.tracker_store.AppendOnlyRedisTrackerStore",
        retention_seconds=99,
    )
    store = create_tracker_store(config, DOMAIN)
    assert isinstance(store, AppendOnlyRedisTrackerStore)
    assert (store.url, store.retention_seconds) == ("redis://127.0.0.1:1/3", 99)


def test_fast_event_decoding_matches_rasa_for_every_event_type() -> None:
    from datetime import datetime

    from rasa.shared.core import events as rasa_events

    from redis_stores.tracker_store import _event_from_json

    samples = [
        rasa_events.UserUttered("hi", {"name": "greet", "confidence": 1.0}),
        rasa_events.BotUttered("hello", {"buttons": []}, {"utter_action": "utter_greet"}),
        rasa_events.SlotSet("state", "Adamawa"),
        rasa_events.Restarted(),
        rasa_events.UserUtteranceReverted(),
        rasa_events.AllSlotsReset(),
        rasa_events.ReminderScheduled("remind", datetime(2030, 1, 1), name="r1"),
        rasa_events.ReminderCancelled(name="r1"),
        rasa_events.ActionReverted(),
        rasa_events.StoryExported(),
        rasa_events.FollowupAction("action_listen"),
        rasa_events.ConversationPaused(),
        rasa_events.ConversationResumed(),
        rasa_events.ActionExecuted("tpr_form", policy="RulePolicy", confidence=1.0),
        rasa_events.AgentUttered("agent", {"x": 1}),
        rasa_events.ActiveLoop("tpr_form"),
        rasa_events.LegacyForm("tpr_form"),
        rasa_events.LoopInterrupted(True),
        rasa_events.LegacyFormValidation(False),
        rasa_events.ActionExecutionRejected("tpr_form"),
        rasa_events.SessionStarted(),
        rasa_events.EntitiesAdded([{"entity": "state", "value": "Kwara"}]),
        rasa_events.DefinePrevUserUtteredFeaturization(True),
    ]
    for event in samples:
        data = event.as_dict()
        ours = _event_from_json(json.dumps(data).encode())
        rasa = Event.from_parameters(data)
        assert type(ours) is type(rasa), data["event"]
        assert ours.as_dict() == rasa.as_dict()
    # Unknown names keep Rasa's behaviour.
    with pytest.raises(ValueError):
        _event_from_json(b'{"event": "no_such_event"}')


def test_replica_processes_saving_without_a_lock_lose_nothing(redis_url: str) -> None:
    """Stock RedisTrackerStore loses events here (read-merge-rewrite race between processes);
    appends cannot overwrite each other."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    names = ["p0", "p1", "p2"]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.stores.tracker_worker",
                redis_url,
                "kim",
                name,
                "15",
                str(len(names)),
            ],
            cwd=REPO_ROOT,
            env=env,
        )  # fmt: skip
        for name in names
    ]
    try:
        for process in processes:
            assert process.wait(timeout=180) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    full = asyncio.run(make_store(redis_url).retrieve_full_tracker("kim"))
    texts = [e.text for e in full.events if isinstance(e, (UserUttered, BotUttered))]
    expected = [f"{name}-{turn}" for name in names for turn in range(15)]
    assert sorted(t for t in texts if not t.startswith("reply")) == sorted(expected)
    assert sorted(t for t in texts if t.startswith("reply")) == sorted(
        f"reply {t}" for t in expected
    )
