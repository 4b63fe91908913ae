"""Per-turn tracker store cost against conversation length: our append-only store vs stock.

A turn is what a Rasa replica does with each message: load the tracker (only the current
session), add the turn's events (user message with NLU data, action, slots, bot reply,
action_listen) and save it. Real Rasa events and serialisation; a private redis-server.

Turns 21-380 are written in one go (the events the store would hold after them): stock's
merge costs seconds per turn once sessions pile up, which would make the bench take hours.
Scenarios (medians over conversations of per-turn medians):
1. 400 turns with a new session every SESSION_TURNS turns (session expiry, as analysts come
   back): turns 1-20 against turns 381-400. Target (ours): ratio <= 1.5.
2. The first turn of a new session after 400 turns of old sessions against the first turn
   of a fresh conversation. Target (ours): ratio ~= 1. (Rasa loads the previous session
   before it sees that it expired, so "~=" means "like any 20-turn session", not 400.)
3. For reference: 400 turns in ONE session. Any store must then load the whole session,
   and Rasa's own replay (`applied_events`) grows quadratically with a session's form
   turns, so this grows for every store, ours included; stock grows with everything.

Run: `make bench` or `PYTHONPATH=. .venv/bin/python bench/history.py [--conversations N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rasa.core.tracker_store import RedisTrackerStore, TrackerStore  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import (  # noqa: E402
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)

from redis_stores.tracker_store import AppendOnlyRedisTrackerStore  # noqa: E402
from tests.helpers import free_port, redis_server_binary  # noqa: E402

SESSION_TURNS = 20
TURNS = 400

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [inform, affirm]
entities: [state]
slots:
  dataset_id: {type: text, mappings: [{type: custom}]}
  state: {type: text, mappings: [{type: from_entity, entity: state}]}
  confirmed: {type: text, mappings: [{type: custom}]}
  facility_level: {type: text, mappings: [{type: custom}]}
  age_group: {type: text, mappings: [{type: custom}]}
forms:
  tpr_form: {required_slots: [state, confirmed, facility_level, age_group]}
responses:
  utter_ask_facility_level: [{text: "Which facility level?"}]
"""
)


def session_events() -> list[Event]:
    return [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        SlotSet("dataset_id", "Zb6wq0n2p4bU1e9aX3yT5kR7mV8cD0fH2jL4nP6rS8u"),
        ActionExecuted("action_listen"),
    ]


FORM_SLOTS = ["state", "confirmed", "facility_level", "age_group"]


def turn_events(turn: int) -> list[Event]:
    """The analysts' workflow, 10 turns: upload, the form's four questions, then five
    follow-ups (top wards, download, ...). Events as Rasa's processor logs them."""
    step = turn % 10
    text = f"message {turn}"
    parse = {
        "text": text,
        "intent": {"name": "inform", "confidence": 0.98},
        "entities": [{"entity": "state", "value": "Adamawa", "start": 0, "end": 7}],
        "intent_ranking": [
            {"name": "inform", "confidence": 0.98},
            {"name": "affirm", "confidence": 0.02},
        ],
        "message_id": f"msg-{turn}",
        "metadata": {},
    }
    user = UserUttered(text, parse["intent"], parse["entities"], parse, input_channel="rest")
    listen = ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0)
    question = BotUttered("Which facility level?", {"buttons": [{"title": "Primary"}]})
    if step == 0:  # dataset uploaded: the form starts
        return [
            user,
            SlotSet("dataset_id", f"ds-{turn}"),
            ActionExecuted("tpr_form", policy="RulePolicy", confidence=1.0),
            ActiveLoop("tpr_form"),
            SlotSet("requested_slot", "state"),
            question,
            listen,
        ]
    if step < 4:
        return [
            user,
            ActionExecuted("tpr_form", policy="RulePolicy", confidence=1.0),
            SlotSet(FORM_SLOTS[step - 1], "Adamawa"),
            SlotSet("requested_slot", FORM_SLOTS[step]),
            question,
            listen,
        ]
    if step == 4:  # last answer: the form ends, results are computed
        return [
            user,
            ActionExecuted("tpr_form", policy="RulePolicy", confidence=1.0),
            SlotSet("age_group", "u5"),
            SlotSet("requested_slot", None),
            ActiveLoop(None),
            ActionExecuted("action_submit_tpr", policy="RulePolicy", confidence=1.0),
            BotUttered("TPR for 226 wards ...", {"custom": {"download": "/api/download/x"}}),
            listen,
        ]
    return [
        user,
        ActionExecuted("action_show_top_wards", policy="TEDPolicy", confidence=0.9),
        BotUttered("Top 10 wards ...", {"buttons": []}),
        listen,
    ]


async def one_turn(store: TrackerStore, sender: str, turn: int, new_session: bool) -> float:
    """Seconds for one replica turn: load, add the turn's events, save."""
    started = time.perf_counter()
    tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
    if new_session:
        tracker.update_with_events(session_events(), None)
    tracker.update_with_events(turn_events(turn), None)
    await store.save(tracker)
    return time.perf_counter() - started


def events_for(turn: int, session_turns: int | None) -> list[Event]:
    new_session = turn == 0 or bool(session_turns and turn % session_turns == 0)
    return [*(session_events() if new_session else []), *turn_events(turn)]


async def measured_turns(
    store: TrackerStore, sender: str, turns: range, session_turns: int | None
) -> list[float]:
    timings = []
    for turn in turns:
        new_session = turn == 0 or bool(session_turns and turn % session_turns == 0)
        timings.append(await one_turn(store, sender, turn, new_session))
    return timings


async def prefill(
    store: TrackerStore, sender: str, turns: range, session_turns: int | None
) -> None:
    """Store the events of `turns` in one write: exactly what the store would hold after
    those turns (stock's merge makes each of them cost seconds once sessions pile up)."""
    tracker = await store.retrieve_full_tracker(sender)
    assert tracker is not None
    for turn in turns:
        tracker.update_with_events(events_for(turn, session_turns), None)
    if isinstance(store, RedisTrackerStore):
        store.red.delete(store.key_prefix + sender)  # a plain write, no merge
    await store.save(tracker)


async def long_conversation(
    store: TrackerStore, sender: str, session_turns: int | None
) -> tuple[float, float]:
    """Median ms of turns 1-20 and of turns 381-400 (turns 21-380 prefilled)."""
    early = await measured_turns(store, sender, range(0, 20), session_turns)
    await prefill(store, sender, range(20, TURNS - 20), session_turns)
    late = await measured_turns(store, sender, range(TURNS - 20, TURNS), session_turns)
    return median_ms(early), median_ms(late)


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def run(stores: dict[str, Callable[[], TrackerStore]], conversations: dict[str, int]) -> None:
    print(f"tracker store cost per turn (median ms; conversations: {conversations})\n")
    results: dict[str, dict[str, float]] = {}
    for name, make in stores.items():
        store = make()
        early, late, single_early, single_late, fresh, resumed = [], [], [], [], [], []
        for c in range(conversations[name]):
            sender = f"{name}-sessions-{c}"
            first, last = await long_conversation(store, sender, SESSION_TURNS)
            early.append(first)
            late.append(last)
            # First turn of a new session after those 400 turns, vs a fresh conversation.
            resumed.append(await one_turn(store, sender, TURNS, True) * 1000)
            fresh.extend(
                [await one_turn(store, f"{name}-fresh-{c}-{i}", 0, True) * 1000 for i in range(5)]
            )
            first, last = await long_conversation(store, f"{name}-single-{c}", None)
            single_early.append(first)
            single_late.append(last)
        results[name] = {
            "early": statistics.median(early),
            "late": statistics.median(late),
            "fresh": statistics.median(fresh),
            "resumed": statistics.median(resumed),
            "single_early": statistics.median(single_early),
            "single_late": statistics.median(single_late),
        }

    header = f"{'store':<8}{'turns 1-20':>12}{'381-400':>11}{'ratio':>8}"
    header += f"{'fresh':>10}{'new sess.':>11}{'ratio':>8}   one session: 1-20 / 381-400"
    print(header)
    for name, r in results.items():
        print(
            f"{name:<8}{r['early']:>10.2f}ms{r['late']:>9.2f}ms{r['late'] / r['early']:>7.2f}x"
            f"{r['fresh']:>8.2f}ms{r['resumed']:>9.2f}ms{r['resumed'] / r['fresh']:>7.2f}x"
            f"   {r['single_early']:.2f}ms / {r['single_late']:.2f}ms"
            f" ({r['single_late'] / r['single_early']:.1f}x)"
        )
    ours, stock = results["ours"], results["stock"]
    print(
        f"\nsessions of {SESSION_TURNS} turns: ours {ours['late'] / ours['early']:.2f}x "
        f"(target <= 1.5x), stock {stock['late'] / stock['early']:.2f}x; "
        f"at turns 381-400 ours is {stock['late'] / ours['late']:.0f}x faster than stock"
    )
    print(
        f"new session after 400 turns vs fresh: ours {ours['resumed'] / ours['fresh']:.2f}x "
        f"(target ~1x), stock {stock['resumed'] / stock['fresh']:.2f}x"
    )


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    """A private redis-server with AOF (everysec, as a deployment would run it)."""
    port = free_port()
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            client.ping()
            return process, f"redis://127.0.0.1:{port}/0"
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("private redis-server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=3, help="for our store")
    parser.add_argument("--stock-conversations", type=int, default=1, help="stock is slow")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-history-"))
    process, url = start_redis(workdir)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        asyncio.run(
            run(
                {
                    "ours": lambda: AppendOnlyRedisTrackerStore(domain=DOMAIN, host=url),
                    "stock": lambda: RedisTrackerStore(
                        domain=DOMAIN, host="127.0.0.1", port=port, db=0, key_prefix="stock"
                    ),
                },
                {"ours": args.conversations, "stock": args.stock_conversations},
            )
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
