"""`make interactive` / `make shell`: rasa interactive (or rasa shell) against our action server.

Starts `python -m actions.service.server`, waits until it answers, optionally loads a dataset for
the conversation (so the trainer can walk the real form), runs rasa in the foreground, and stops
the action server by its PID afterwards, whatever happens.

    python deploy/interactive.py [--shell] [--dataset FILE | --sample] [--boundaries FILE]
        [--conversation-id ID]

Environment: REDIS_URL (default redis://127.0.0.1:6379/0), ACTION_PORT (default 5055, or a free
port when 5055 is busy), RASA_INTERACTIVE_PORT (default: a free port, so a running stack's
replicas on 5005... are not disturbed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "tpr-assistant.tar.gz"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_ACTION_PORT = 5055
STARTUP_TIMEOUT_SECONDS = 300


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def choose_action_port() -> int:
    if os.environ.get("ACTION_PORT"):
        return int(os.environ["ACTION_PORT"])
    return DEFAULT_ACTION_PORT if port_is_free(DEFAULT_ACTION_PORT) else free_port()


def wait_for_health(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Poll the action server until it answers; generous because CI machines are loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the action server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the action server did not answer {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """Stop the action server we started (by PID): SIGTERM, then SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def load_dataset_for(conversation_id: str, path: Path | None, sample: bool) -> str:
    """Save a dataset owned by this conversation; returns the message that announces it."""
    sys.path.insert(0, str(ROOT))
    from actions.service.dataset_store import DatasetStore
    from actions.tpr import load_dataset, summarise

    if sample:
        from actions.tpr.sample import sample_frame, write_sample_file

        path = write_sample_file(
            sample_frame(layout="A", states=2), Path(tempfile.mkdtemp()) / "sample.xlsx"
        )
    assert path is not None
    dataset = load_dataset(path)

    async def save() -> str:
        store = DatasetStore.from_env()
        try:
            return await store.save(
                owner=conversation_id, dataset=dataset, summary=summarise(dataset)
            )
        finally:
            await store.close()

    dataset_id = asyncio.run(save())
    return f'/dataset_uploaded{{"dataset_id": "{dataset_id}"}}'


def load_boundaries_for(conversation_id: str, path: Path) -> str:
    """Parse a ward boundary file as the upload does and save it for this conversation;
    returns the message that announces it (what the widget sends after the upload)."""
    sys.path.insert(0, str(ROOT))
    from actions.service.dataset_store import BoundaryStore
    from actions.service.upload_checks import parse_boundaries

    outcome, payload, summary = parse_boundaries(path.read_bytes(), path.name)
    if outcome != "ok":
        raise SystemExit(f"{path}: {payload}")

    async def save() -> str:
        store = BoundaryStore.from_env()
        try:
            return await store.save_bytes(conversation_id, payload, summary)
        finally:
            await store.close()

    return f'/boundaries_uploaded{{"boundaries_id": "{asyncio.run(save())}"}}'


def exit_on_signal(signum: int, _frame: object) -> None:
    """SIGTERM/SIGHUP (terminal closed) must still run the clean-up that stops the server."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shell", action="store_true", help="rasa shell instead of interactive")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", type=Path, help="an NMEP workbook to load for the session")
    source.add_argument("--sample", action="store_true", help="load a generated sample workbook")
    parser.add_argument(
        "--boundaries", type=Path, help="a ward boundary file (GeoJSON, zipped shapefile, GPKG)"
    )
    parser.add_argument("--conversation-id", default=None)
    args = parser.parse_args(argv)

    if not MODEL.exists():
        print(f"{MODEL} is missing: run `make train` first", file=sys.stderr)
        return 2
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    action_port = choose_action_port()
    env = dict(
        os.environ,
        ACTION_PORT=str(action_port),
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        PYTHONPATH=str(ROOT),
        RASA_TELEMETRY_ENABLED="false",
    )
    os.environ.update(env)
    conversation_id = args.conversation_id or f"trainer-{uuid.uuid4().hex[:12]}"

    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGHUP, exit_on_signal)
    log_dir = ROOT / "var"
    log_dir.mkdir(exist_ok=True)
    log = open(log_dir / "interactive-actions.log", "ab")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [sys.executable, "-m", "actions.service.server"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_health(f"http://127.0.0.1:{action_port}/health", server, STARTUP_TIMEOUT_SECONDS)
        print(f"Action server running on port {action_port} (PID {server.pid}).")
        if args.dataset or args.sample:
            announce = load_dataset_for(conversation_id, args.dataset, args.sample)
            print(
                f"Dataset loaded for conversation {conversation_id}. Type this first:\n{announce}"
            )
        if args.boundaries:
            announce = load_boundaries_for(conversation_id, args.boundaries)
            print(f"Ward boundaries loaded for conversation {conversation_id}. Type:\n{announce}")
        rasa = str(Path(sys.executable).with_name("rasa"))
        command = [
            rasa,
            "shell" if args.shell else "interactive",
            "--model",
            str(MODEL),
            "--endpoints",
            "endpoints.yml",
            "--conversation-id",
            conversation_id,
            "--port",
            os.environ.get("RASA_INTERACTIVE_PORT") or str(free_port()),
        ]
        if not args.shell:
            command.append("--skip-visualization")
        return subprocess.call(command, cwd=ROOT, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        stop(server)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
