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


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("REDIS_SENTINELS", "127.0.0.1:9", "Sentinel 127.0.0.1:9"),
        ("REDIS_CLUSTER_NODES", "127.0.0.1:9", "Redis Cluster 127.0.0.1:9"),
    ],
)
def test_up_with_sentinel_or_cluster_starts_no_redis_and_fails_when_it_does_not_answer(
    tmp_path: Path, variable: str, value: str, named: str
) -> None:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"")
    result = run_stack(
        "up",
        tmp_path,
        RASA_MODEL=str(model),
        REDIS_URL="redis://:secret-pw@/0",
        **{variable: value},
    )
    assert result.returncode == 1
    assert named in result.stderr and "starts no Redis of its own" in result.stderr
    assert "secret-pw" not in result.stderr + result.stdout
    assert not (tmp_path / "redis").exists(), "a private redis-server was started"
