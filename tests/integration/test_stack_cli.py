"""deploy/stack.py refuses to start what cannot work, says why, and leaves nothing behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.stack import REPO_ROOT, STACK_SCRIPT

pytestmark = pytest.mark.integration


def run_stack(command: str, var_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "STACK_VAR_DIR": str(var_dir), **env}
    return subprocess.run(
        [sys.executable, str(STACK_SCRIPT), command],
        env=full_env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_up_without_a_model_fails_clearly(tmp_path: Path, redis_url: str) -> None:
    result = run_stack(
        "up", tmp_path, RASA_MODEL=str(tmp_path / "missing.tar.gz"), REDIS_URL=redis_url
    )
    assert result.returncode == 1
    assert "no trained model" in result.stderr
    assert not (tmp_path / "run" / "stack.json").exists()


def test_up_refuses_a_taken_port(tmp_path: Path, redis_url: str) -> None:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_stack(
            "up", tmp_path, RASA_MODEL=str(model), WEB_PORT=str(port), REDIS_URL=redis_url
        )
    assert result.returncode == 1
    assert f"WEB_PORT {port}" in result.stderr


def test_down_and_status_without_a_stack(tmp_path: Path) -> None:
    down = run_stack("down", tmp_path)
    assert down.returncode == 0 and "nothing to stop" in down.stdout
    status = run_stack("status", tmp_path)
    assert status.returncode == 3 and "not running" in status.stdout
