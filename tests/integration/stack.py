"""Real stacks for integration tests, started and stopped exactly as `make up` / `make down` do.

`start_stack` runs `deploy/stack.py up` with free ports and its own STACK_VAR_DIR, so several
stacks (and a developer's `make up`) can run side by side; `RunningStack.down` runs
`deploy/stack.py down`, which stops what was started by its recorded PIDs. The helpers below
talk to a stack the way the widget does (REST channel through nginx) and read trackers through
the replicas' own HTTP API, which nginx does not expose.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import requests

from tests.helpers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK_SCRIPT = REPO_ROOT / "deploy" / "stack.py"
MODEL_PATH = Path(os.environ.get("RASA_MODEL") or REPO_ROOT / "models" / "tpr-assistant.tar.gz")

# What the replaced system said when it lost the analyst's place, and Rasa's own fallbacks.
FALLBACK_TEXTS = (
    "i understand you're asking about",
    "sorry, i didn't get that",
    "i'm sorry, i didn't quite understand",
)
FALLBACK_ACTIONS = ("action_default_fallback", "utter_default", "action_two_stage_fallback")


@functools.cache
def _stack_module() -> ModuleType:
    """deploy/stack.py as a module (deploy/ is not a package): its state and supervisor view."""
    spec = importlib.util.spec_from_file_location("tpr_deploy_stack", STACK_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _free_port_run(count: int) -> int:
    """First of `count` consecutive free ports (replicas listen on RASA_PORT, +1, ...)."""
    stack = _stack_module()
    for _ in range(200):
        base = random.randint(20000, 59000)
        if all(stack.port_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no run of {count} free ports")


@dataclass
class RunningStack:
    """A stack started by `start_stack`; see docs/architecture.md (integration fixtures)."""

    var_dir: Path
    web_url: str
    replica_urls: list[str]
    action_url: str
    redis_url: str
    env: dict[str, str] = field(repr=False)

    def pid_of(self, name: str) -> int | None:
        """Current PID of "rasa-1".., "actions", "nginx", "supervisord", or "redis" (if ours).

        Asked of supervisord each time: a program it restarted has a new PID.
        """
        stack = _stack_module()
        state = stack.StackState.load(self.var_dir)
        if state is None:
            return None
        if name == "redis":
            return state.redis_pid
        if name == "supervisord":
            return state.supervisord_pid
        info = stack.supervised_processes(state).get(name)
        return (info or {}).get("pid") or None

    def log_path(self, name: str) -> Path:
        return self.var_dir / "log" / f"{name}.log"

    def down(self) -> None:
        result = subprocess.run(
            [sys.executable, str(STACK_SCRIPT), "down"],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode != 0:
            raise RuntimeError(f"stack down failed:\n{result.stdout}\n{result.stderr}")


def start_stack(
    var_dir: Path,
    replicas: int = 3,
    redis_url: str | None = None,
    endpoints: Path | None = None,
    model: Path | None = None,
    timeout: float = 900,
    env: dict[str, str] | None = None,
) -> RunningStack:
    """`deploy/stack.py up` on free ports in `var_dir`; returns once every part answers.

    `redis_url` None lets the stack choose (shared Redis or a private one); tests pass the
    session's private Redis. `endpoints` swaps endpoints.yml (benchmarks: stock stores).
    `env` adds variables, e.g. REDIS_SENTINELS + REDIS_SENTINEL_MASTER, REDIS_CLUSTER_NODES
    (the stack then starts no Redis; `RunningStack.redis_url` is the resolved URL, which
    every store and `save_datasets` accept), REDIS_MIN_REPLICAS_ACK, LOCK_LIFETIME_SECONDS.
    """
    var_dir = Path(var_dir)
    extra = dict(env or {})
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_CLUSTER_NODES")
    }
    env.update(
        STACK_VAR_DIR=str(var_dir),
        RASA_REPLICAS=str(replicas),
        RASA_PORT=str(_free_port_run(replicas)),
        ACTION_PORT=str(free_port()),
        WEB_PORT=str(free_port()),
        RASA_MODEL=str(model or MODEL_PATH),
        STACK_START_TIMEOUT=str(int(timeout - 30)),
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    if endpoints:
        env["STACK_ENDPOINTS"] = str(endpoints)
    env.update(extra)
    command = [sys.executable, str(STACK_SCRIPT), "up"]
    try:
        result = subprocess.run(
            command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        subprocess.run([sys.executable, str(STACK_SCRIPT), "down"], env=env, cwd=REPO_ROOT)
        raise
    if result.returncode != 0:
        raise RuntimeError(f"stack up failed:\n{result.stdout}\n{result.stderr}")
    state = _stack_module().StackState.load(var_dir)
    return RunningStack(
        var_dir=var_dir,
        web_url=state.web_url,
        replica_urls=list(state.replica_urls),
        action_url=state.action_url,
        redis_url=state.redis_url,
        env=env,
    )


# --- talking to a stack ------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    messages: list[dict[str, Any]]
    seconds: float
    served_by: str  # "127.0.0.1:<port>" of the replica that answered (nginx's X-Upstream)


def post_message(web_url: str, sender: str, message: str, timeout: float = 180) -> Reply:
    """POST one message to the REST channel through nginx; never raises on HTTP errors."""
    started = time.monotonic()
    response = requests.post(
        f"{web_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": message},
        timeout=timeout,
    )
    try:
        body = response.json()
    except ValueError:
        body = []
    messages = body if isinstance(body, list) else []
    # After a pass-on nginx lists every replica tried; the last one answered.
    served_by = response.headers.get("X-Upstream", "").split(",")[-1].strip()
    return Reply(response.status_code, messages, time.monotonic() - started, served_by)


def send(web_url: str, sender: str, message: str, timeout: float = 180) -> list[dict[str, Any]]:
    """POST one message and return the bot's messages; the answer must be 200."""
    reply = post_message(web_url, sender, message, timeout)
    assert reply.status == 200, f"{sender}: {message!r} -> HTTP {reply.status}"
    return reply.messages


def other_replica(stack: RunningStack, served_by: str, turn: int = 0) -> str:
    """A replica URL other than the one that answered (rotating with `turn`)."""
    others = [url for url in stack.replica_urls if not url.endswith(served_by)] or [
        *stack.replica_urls
    ]
    return others[turn % len(others)]


def fetch_tracker(replica_url: str, sender: str, timeout: float = 60) -> dict[str, Any]:
    """The tracker as one replica's Rasa HTTP API reads it from the shared tracker store."""
    response = requests.get(
        f"{replica_url}/conversations/{sender}/tracker",
        params={"include_events": "ALL"},
        timeout=timeout,
    )
    response.raise_for_status()
    return response.json()


def fallback_problems(messages: list[dict[str, Any]], tracker: dict | None = None) -> list[str]:
    """Generic-fallback answers in bot messages (and fallback actions in the tracker)."""
    problems = [
        f"fallback text: {m.get('text')!r}"
        for m in messages
        if any(marker in (m.get("text") or "").lower() for marker in FALLBACK_TEXTS)
    ]
    for event in (tracker or {}).get("events", []):
        if event.get("event") == "action" and event.get("name") in FALLBACK_ACTIONS:
            problems.append(f"fallback action {event['name']}")
    return problems


def user_texts(tracker: dict[str, Any]) -> list[str]:
    return [e.get("text") for e in tracker.get("events", []) if e.get("event") == "user"]


# --- datasets ------------------------------------------------------------------------------------


@functools.cache
def sample_dataset() -> tuple[Any, dict[str, Any]]:
    """An engine Dataset (Adamawa and Kwara, layout A) and its summary, built once."""
    from actions.tpr import load_dataset, summarise  # noqa: PLC0415 - heavy imports
    from actions.tpr.sample import sample_frame, write_sample_file  # noqa: PLC0415

    frame = sample_frame("A", states=2, rows_per_state=120, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_sample_file(frame, Path(tmp) / "nmep_sample.xlsx", layout="A")
        dataset = load_dataset(path)
    return dataset, summarise(dataset)


def save_datasets(redis_url: str, owners: list[str]) -> dict[str, str]:
    """One dataset per owner in the stack's Redis, as an upload would leave it: owner -> id."""
    from actions.service.dataset_store import DatasetStore  # noqa: PLC0415

    dataset, summary = sample_dataset()

    async def save_all() -> dict[str, str]:
        store = DatasetStore(redis_url=redis_url)
        try:
            return {o: await store.save(owner=o, dataset=dataset, summary=summary) for o in owners}
        finally:
            await store.close()

    return asyncio.run(save_all())


def uploaded_message(dataset_id: str) -> str:
    """What the widget sends after an upload."""
    return '/dataset_uploaded{"dataset_id": "' + dataset_id + '"}'


# The analysts' own test script, with the slots each step must leave set (cumulative).
ANALYST_STEPS: list[tuple[str, dict[str, Any]]] = [
    ("Adamawa State", {"state": "Adamawa"}),
    ("yes", {"confirmed": True}),
    ("Primary", {"facility_level": "primary"}),
    ("Under 5", {"age_group": "u5"}),
]


def wait_until(predicate: Any, timeout: float, interval: float = 0.5, what: str = "") -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        time.sleep(interval)


# --- alternative endpoints (benchmarks) ------------------------------------------------------


def stock_endpoints(directory: Path, redis_url: str) -> Path:
    """endpoints.yml for stock Rasa `RedisTrackerStore` + `RedisLockStore` on `redis_url`.

    The stock stores take host/port/db rather than a URL.
    """
    from urllib.parse import urlparse  # noqa: PLC0415

    parsed = urlparse(redis_url)
    db = (parsed.path or "/0").lstrip("/") or "0"
    store = f'  url: "{parsed.hostname}"\n  port: {parsed.port or 6379}\n  db: {db}\n'
    path = Path(directory) / "endpoints-stock.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "action_endpoint:\n  url: ${ACTION_ENDPOINT_URL}\n"
        f"tracker_store:\n  type: redis\n{store}  key_prefix: stock\n"
        f"lock_store:\n  type: redis\n{store}  key_prefix: stock\n"
    )
    return path


def in_memory_endpoints(directory: Path) -> Path:
    """endpoints.yml with Rasa's in-memory stores (one replica only)."""
    path = Path(directory) / "endpoints-memory.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("action_endpoint:\n  url: ${ACTION_ENDPOINT_URL}\n")
    return path
