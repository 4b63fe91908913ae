"""A real action server (`python -m actions.service.server`) on a free port, private Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

from tests.helpers import PrivateRedis, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
# Small enough that the oversize test sends little, big enough for the workbooks we upload.
TEST_UPLOAD_MAX_BYTES = 20_000_000


@dataclass
class ActionServer:
    url: str
    redis_url: str
    process: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def dataset_keys(self) -> list[bytes]:
        client = redis.Redis.from_url(self.redis_url)
        try:
            return list(client.scan_iter("tpr:dataset:*"))
        finally:
            client.close()


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"action server exited with {process.returncode}")
        try:
            if requests.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("action server did not answer /api/health in time")


@pytest.fixture(scope="module")
def action_server(
    redis_server: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ActionServer]:
    """Started once per module; stopped by PID."""
    yield from run_action_server(redis_server.url, tmp_path_factory)


def run_action_server(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ActionServer]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("action-server") / "server.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "REDIS_URL": redis_url,
        "ACTION_PORT": str(port),
        "UPLOAD_MAX_BYTES": str(TEST_UPLOAD_MAX_BYTES),
        "BOUNDARY_MAX_BYTES": str(TEST_UPLOAD_MAX_BYTES),
        "LOG_LEVEL": "WARNING",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "actions.service.server"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ActionServer(f"http://127.0.0.1:{port}", redis_url, process, log_path)
    try:
        wait_until_healthy(server.url, process)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
