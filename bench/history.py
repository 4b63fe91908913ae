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
   of a fresh conversation and against a new session after one 20-turn session. Target
   (ours): ~= fresh. Rasa loads the previous session before it sees that it expired, so at
   store level the honest comparison is "after 20 turns": it must not grow with history.
3. For reference: 400 turns in ONE session. Any store must then load the whole session,
   and Rasa's own replay (`applied_events`) grows quadratically with a session's form
   turns, so this grows for every store, ours included; stock grows with everything.

Then the same through a real `rasa run` replica (REST messages; a tiny assistant of its own,
trained once under var/bench/): ours vs stock Redis stores.

Run: `make bench`, or `PYTHONPATH=. .venv/bin/python bench/history.py [--conversations N]
[--no-replica]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
    """Median ms of turns 1-20 and of turns 381-400 (turns 21-380 prefilled). Turns 1-20 are
    those of a twin conversation, measured alternately with turns 381-400 so that the load
    of this shared machine weighs on both alike."""
    await measured_turns(store, sender, range(0, 20), session_turns)
    await prefill(store, sender, range(20, TURNS - 20), session_turns)
    early, late = [], []
    for turn in range(20):
        early += await measured_turns(store, f"{sender}-twin", range(turn, turn + 1), session_turns)
        late_turn = TURNS - 20 + turn
        late += await measured_turns(store, sender, range(late_turn, late_turn + 1), session_turns)
    return median_ms(early), median_ms(late)


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def run(stores: dict[str, Callable[[], TrackerStore]], conversations: dict[str, int]) -> None:
    print(f"tracker store cost per turn (median ms; conversations: {conversations})\n")
    results: dict[str, dict[str, float]] = {}
    for name, make in stores.items():
        store = make()
        early, late, single_early, single_late, fresh, resumed = [], [], [], [], [], []
        after_one: list[float] = []
        for c in range(conversations[name]):
            sender = f"{name}-sessions-{c}"
            first, last = await long_conversation(store, sender, SESSION_TURNS)
            early.append(first)
            late.append(last)
            # First turn of a new session after those 400 turns, and after the twin's single
            # 20-turn session (history length should not matter), in alternating order.
            pair = [(sender, TURNS, resumed), (f"{sender}-twin", SESSION_TURNS, after_one)]
            for conversation_id, turn, timings in pair if c % 2 == 0 else pair[::-1]:
                timings.append(await one_turn(store, conversation_id, turn, True) * 1000)
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
            "after_one": statistics.median(after_one),
            "single_early": statistics.median(single_early),
            "single_late": statistics.median(single_late),
        }

    heading = f"{'':<8}{'turns 1-20':>12}{'381-400':>12}{'ratio':>9}"
    print(f"{heading}   (sessions of {SESSION_TURNS} turns)")
    for name, r in results.items():
        print(f"{name:<8}{r['early']:>10.2f}ms{r['late']:>10.2f}ms{r['late'] / r['early']:>8.2f}x")
    print(f"\n{'':<8}{'fresh':>12}{'new session after 20 turns':>30}{'after 400 turns':>18}")
    for name, r in results.items():
        print(
            f"{name:<8}{r['fresh']:>10.2f}ms{r['after_one']:>28.2f}ms{r['resumed']:>16.2f}ms"
            f"   ({r['resumed'] / r['fresh']:.2f}x fresh, {r['resumed'] / r['after_one']:.2f}x"
            " after 20 turns)"
        )
    print(f"\n{heading}   (ONE session of 400 turns)")
    for name, r in results.items():
        print(
            f"{name:<8}{r['single_early']:>10.2f}ms{r['single_late']:>10.2f}ms"
            f"{r['single_late'] / r['single_early']:>8.2f}x"
        )
    ours, stock = results["ours"], results["stock"]
    print(
        f"\nsessions of {SESSION_TURNS} turns: ours {ours['late'] / ours['early']:.2f}x "
        f"(target <= 1.5x), stock {stock['late'] / stock['early']:.2f}x; "
        f"at turns 381-400 ours is {stock['late'] / ours['late']:.0f}x faster than stock"
    )
    print(
        f"new session after 400 turns: ours {ours['resumed']:.1f} ms = "
        f"{ours['resumed'] / ours['after_one']:.2f}x the same after 20 turns "
        f"({ours['resumed'] / ours['fresh']:.1f}x a fresh conversation, which loads nothing); "
        f"stock {stock['resumed']:.0f} ms"
    )


# --- through a real `rasa run` replica (skip: --no-replica) ---------------------------------
# A tiny assistant of its own (greet/bye rules, no action server) keeps this independent of
# the project's model; it is trained once into var/bench/history-model/.

TINY = {
    "config.yml": """recipe: default.v1
assistant_id: bench-history
language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: LogisticRegressionClassifier
policies:
  - name: RulePolicy
""",
    "domain.yml": """version: "3.1"
intents: [greet, bye]
responses:
  utter_greet: [{text: "Hello there"}]
  utter_bye: [{text: "Goodbye"}]
session_config:
  session_expiration_time: 60
  carry_over_slots_to_new_session: true
""",
    "data/nlu.yml": """version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello
    - hey there
    - good morning
- intent: bye
  examples: |
    - bye
    - goodbye
    - see you
    - later
""",
    "data/rules.yml": """version: "3.1"
rules:
- rule: greet
  steps: [{intent: greet}, {action: utter_greet}]
- rule: bye
  steps: [{intent: bye}, {action: utter_bye}]
""",
    "credentials.yml": "rest:\n",
}
STOCK_ENDPOINTS = """tracker_store:
  type: redis
  url: 127.0.0.1
  port: {port}
  db: 0
  key_prefix: stock
lock_store:
  type: redis
  url: 127.0.0.1
  port: {port}
  db: 0
"""
REPO_ROOT = Path(__file__).resolve().parent.parent


def tiny_model() -> tuple[Path, Path]:
    """(project dir, model) of the tiny assistant, trained when missing."""
    home = REPO_ROOT / "var" / "bench" / "history-model"
    model = home / "models" / "tiny.tar.gz"
    for name, text in TINY.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text)
    if not model.exists():
        print("training the tiny assistant for the replica bench ...", flush=True)
        subprocess.run(
            [str(Path(sys.executable).parent / "rasa"), "train", "--fixed-model-name", "tiny",
             "--out", "models", "--quiet"],
            cwd=home, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    return home, model


def tiny_turn(turn: int) -> list[Event]:
    intent, action, text = (
        ("greet", "utter_greet", "Hello there")
        if turn % 2 == 0
        else ("bye", "utter_bye", "Goodbye")
    )
    parse = {"text": f"{intent} {turn}", "intent": {"name": intent, "confidence": 0.99},
             "entities": [], "intent_ranking": [{"name": intent, "confidence": 0.99}]}  # fmt: skip
    return [
        UserUttered(parse["text"], parse["intent"], [], parse, input_channel="rest"),
        ActionExecuted(action, policy="RulePolicy", confidence=1.0),
        BotUttered(text, {}),
        ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0),
    ]


def tiny_session() -> list[Event]:
    return [ActionExecuted("action_session_start"), SessionStarted(),
            ActionExecuted("action_listen")]  # fmt: skip


def start_replica(
    home: Path, model: Path, endpoints: Path, port: int, url: str
) -> subprocess.Popen:
    env = {**os.environ, "REDIS_URL": url, "PYTHONPATH": str(REPO_ROOT),
           "ACTION_ENDPOINT_URL": "http://127.0.0.1:9/webhook",
           "RASA_TELEMETRY_ENABLED": "false"}  # fmt: skip
    with open(home / f"rasa-{endpoints.stem}.log", "w") as log:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "rasa"), "run", "--enable-api", "-i",
             "127.0.0.1", "--port", str(port), "--model", str(model),
             "--endpoints", str(endpoints), "--credentials", "credentials.yml"],
            cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def replica_bench(url: str, port: int, conversations: int) -> None:
    """Per-message latency through one real replica on our stores vs the stock ones."""
    import aiohttp

    home, model = tiny_model()
    endpoints = {
        "ours": REPO_ROOT / "endpoints.yml",
        "stock": home / "stock-endpoints.yml",
    }
    endpoints["stock"].write_text(STOCK_ENDPOINTS.format(port=port))
    stores = {
        "ours": AppendOnlyRedisTrackerStore(domain=Domain.empty(), host=url),
        "stock": RedisTrackerStore(
            domain=Domain.empty(), host="127.0.0.1", port=port, db=0, key_prefix="stock"
        ),
    }
    print("\nthrough a real `rasa run` replica (median ms per REST message; tiny assistant)")
    print(
        f"{'store':<8}{'turns 1-20':>12}{'381-400':>11}{'ratio':>8}{'fresh':>10}{'new sess.':>11}"
    )
    for name in ("ours", "stock"):
        rasa_port = free_port()
        replica = start_replica(home, model, endpoints[name], rasa_port, url)
        try:
            async with aiohttp.ClientSession() as http:
                base = f"http://127.0.0.1:{rasa_port}"
                deadline = time.monotonic() + 300
                while True:
                    try:
                        async with http.get(f"{base}/status") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    if time.monotonic() > deadline or replica.poll() is not None:
                        raise SystemExit(f"replica did not start; see {home}/rasa-*.log")
                    await asyncio.sleep(1)

                async def message(sender: str, turn: int, base: str = base) -> float:
                    text = "hello" if turn % 2 == 0 else "bye"
                    started = time.perf_counter()
                    async with http.post(
                        f"{base}/webhooks/rest/webhook",
                        json={"sender": sender, "message": text},
                        timeout=aiohttp.ClientTimeout(total=600),
                    ) as response:
                        await response.read()
                        assert response.status == 200, response.status
                    return (time.perf_counter() - started) * 1000

                early, late, fresh, resumed = [], [], [], []
                for c in range(conversations):
                    sender = f"replica-{name}-{c}"
                    early.append(statistics.median([await message(sender, t) for t in range(20)]))
                    # Turns 21-380 in sessions of 20, written straight to the store; the
                    # last session is left open so the next messages continue it.
                    tracker = await stores[name].retrieve_full_tracker(sender)
                    for turn in range(20, TURNS - 20):
                        if turn % SESSION_TURNS == 0:
                            tracker.update_with_events(tiny_session(), None)
                        tracker.update_with_events(tiny_turn(turn), None)
                    if name == "stock":  # one plain write, as in the store-level bench
                        stores[name].red.delete(f"stock:tracker:{sender}")
                    await stores[name].save(tracker)
                    late.append(
                        statistics.median([await message(sender, t) for t in range(380, 400)])
                    )
                    # A new session after those 400 turns (via the API, as expiry would).
                    async with http.post(
                        f"{base}/conversations/{sender}/tracker/events",
                        json=[e.as_dict() for e in tiny_session()],
                    ) as response:
                        assert response.status == 200
                    resumed.append(await message(sender, 400))
                    fresh.append(statistics.median(
                        [await message(f"replica-{name}-fresh-{c}-{i}", 0) for i in range(5)]
                    ))  # fmt: skip
            e, la = statistics.median(early), statistics.median(late)
            f, r = statistics.median(fresh), statistics.median(resumed)
            print(f"{name:<8}{e:>10.1f}ms{la:>9.1f}ms{la / e:>7.2f}x{f:>8.1f}ms{r:>9.1f}ms")
        finally:
            replica.terminate()
            try:
                replica.wait(timeout=30)
            except subprocess.TimeoutExpired:
                replica.kill()


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
    parser.add_argument(
        "--no-replica", action="store_true", help="skip the real `rasa run` replica part"
    )
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
        if not args.no_replica:
            asyncio.run(replica_bench(url, port, conversations=1))
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
