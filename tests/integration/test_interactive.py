"""`make interactive` under a pseudo-terminal: one user turn, the prediction prompts, then
Export & Quit, which writes the new story where the trainer says (never into data/)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "tpr-assistant.tar.gz"
SLOW = 420  # seconds: loading the model on a loaded 2-core CI machine is slow
ERASE = "\x7f" * 80  # clears a questionary default value
DOWN = "\x1b[B"
UP = "\x1b[A"

pytestmark = pytest.mark.integration


def confirm(child: pexpect.spawn, action: str) -> None:
    """Accept the bot's predicted next action."""
    child.expect(rf"wants to run '{action}', correct\?", timeout=SLOW)
    time.sleep(0.5)
    child.send("y")


def answer_text(child: pexpect.spawn, prompt: str, value: str) -> None:
    child.expect(prompt, timeout=SLOW)
    time.sleep(0.5)
    child.send(ERASE + value)
    time.sleep(0.3)
    child.send("\r")


def test_interactive_one_turn_then_export_and_quit(redis_url: str, tmp_path: Path) -> None:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    watched = [ROOT / "domain.yml", *sorted((ROOT / "data").rglob("*.yml"))]
    before = {path: path.stat().st_mtime_ns for path in watched}
    env = dict(
        os.environ,
        REDIS_URL=redis_url,
        ACTION_PORT=str(free_port()),
        RASA_INTERACTIVE_PORT=str(free_port()),
        PYTHONWARNINGS="ignore",
        TF_CPP_MIN_LOG_LEVEL="3",
        TERM="xterm",
    )
    child = pexpect.spawn(
        sys.executable,
        ["deploy/interactive.py", "--sample"],
        cwd=str(ROOT),
        env=env,
        encoding="utf-8",
        timeout=SLOW,
        dimensions=(50, 200),
    )
    child.logfile_read = open(tmp_path / "session.log", "w")  # noqa: SIM115
    try:
        child.expect(r"Type this first:\r?\n(/dataset_uploaded\{[^\r\n]*\})", timeout=SLOW)
        upload_message = child.match.group(1)
        child.expect("Your input ->", timeout=SLOW)
        time.sleep(1)
        child.send(upload_message)
        time.sleep(0.5)
        child.send("\r")

        confirm(child, "action_dataset_uploaded")
        confirm(child, "tpr_form")
        confirm(child, "action_listen")
        # The question has buttons, so rasa offers them as a list; its last entry (one Up from
        # the first, the list wraps) is "Type out your own message...", whose prompt takes Ctrl-C
        # (Ctrl-C on the button list itself crashes rasa 3.6's interactive mode).
        if child.expect(["Use arrow keys", "Your input ->"], timeout=SLOW) == 0:
            time.sleep(1)
            child.send(UP + "\r")
            child.expect("Your input ->", timeout=SLOW)
        time.sleep(1)
        child.send("\x03")  # Ctrl-C opens the exit menu
        child.expect("Do you want to stop", timeout=SLOW)
        time.sleep(0.5)
        child.send(DOWN * 4 + "\r")  # Export & Quit
        stories, nlu, domain = (
            tmp_path / "stories.yml",
            tmp_path / "nlu.yml",
            tmp_path / "domain.yml",
        )
        answer_text(child, "Export stories to", str(stories))
        answer_text(child, "Export NLU data to", str(nlu))
        answer_text(child, "Export domain file to", str(domain))
        child.expect(pexpect.EOF, timeout=SLOW)
        child.close()
    finally:
        if child.isalive():
            child.kill(signal.SIGTERM)  # deploy/interactive.py then stops its action server
            child.expect(pexpect.EOF, timeout=60)
        if child.isalive():
            child.terminate(force=True)
        child.logfile_read.close()

    assert child.exitstatus == 0, (tmp_path / "session.log").read_text()[-3000:]
    exported = stories.read_text()
    assert "action_dataset_uploaded" in exported
    assert "tpr_form" in exported
    assert {path: path.stat().st_mtime_ns for path in watched} == before
