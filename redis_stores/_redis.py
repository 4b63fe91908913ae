"""The one Redis connection factory: every store, the action server and the stack's health
checks connect through here, to one server, a Sentinel-managed primary, or a Redis Cluster.

Where to connect is one string (`redis_url_from`, see docs/stores.md):
- `redis://[:password@]host:port/db`, `rediss://...` (TLS; `?ssl_ca_certs=/path/ca.pem`);
- `redis+sentinel://[:password@]host:port,host:port/<master>/<db>`: built from
  REDIS_SENTINELS + REDIS_SENTINEL_MASTER (REDIS_URL then gives only password, db and TLS);
  redis-py's Sentinel client finds the primary, follows a failover and never writes to a
  replica (a demoted primary's READONLY reply drops the connection and rediscovers);
- `redis+cluster://[:password@]host:port,host:port`: built from REDIS_CLUSTER_NODES;
  redis-py's RedisCluster routes each key to its primary.

Behaviour shared by every mode: fail fast (bounded connect and reply timeouts, no retry
loops) and recover by itself (a later command opens a fresh connection).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.cluster
import redis.retry
import redis.sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
# A replica must answer 5xx within a few seconds when Redis is gone, never hang: every
# connect and every reply is bounded, and nothing retries in a loop. A later command opens a
# new connection, so the stores recover as soon as Redis is back. A connection error (not a
# timeout) is retried once on a fresh connection: after a Redis restart (or a failover) the
# pooled connections are dead, and without it the first command on each would fail (and
# Rasa's FailSafeTrackerStore would then treat the conversation as new). Every script is
# idempotent under that retry.
CONNECT_TIMEOUT_SECONDS = 2.0
SOCKET_TIMEOUT_SECONDS = 2.0
DEFAULT_WAIT_MS = 1000
# TLS options a URL may carry as query parameters (redis-py's own names).
_TLS_OPTIONS = ("ssl_ca_certs", "ssl_cert_reqs", "ssl_certfile", "ssl_keyfile")


class NotReplicated(RedisError):
    """A write reached the primary but fewer replicas than REDIS_MIN_REPLICAS_ACK confirmed
    it within REDIS_WAIT_MS: it may be lost in a failover, so it is not acknowledged."""

    def __init__(self, acked: int, wanted: int, wait_ms: int, result: Any = None) -> None:
        super().__init__(
            f"only {acked} of {wanted} replicas confirmed the write within {wait_ms} ms"
        )
        self.acked = acked
        self.wanted = wanted
        self.result = result


def _nodes(text: str) -> tuple[tuple[str, int], ...]:
    nodes = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {item!r}")
        nodes.append((host.strip("[]"), int(port)))
    if not nodes:
        raise ValueError("no host:port given")
    return tuple(nodes)


def _join(nodes: Sequence[tuple[str, int]]) -> str:
    return ",".join(f"{host}:{port}" for host, port in nodes)


@dataclass(frozen=True)
class RedisTarget:
    """Where Redis is, parsed from a `redis_url_from` string."""

    mode: str  # "single" | "sentinel" | "cluster"
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    master: str = ""
    username: str | None = None
    password: str | None = None
    db: int = 0
    tls: bool = False
    tls_options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str) -> RedisTarget:
        scheme = url.split("://", 1)[0].lower()
        if scheme.rstrip("s") not in (SENTINEL_SCHEME, CLUSTER_SCHEME):
            return cls("single", url)
        rest = url.split("://", 1)[1]
        query = ""
        if "?" in rest:
            rest, query = rest.split("?", 1)
        credentials, _, location = rest.rpartition("@")
        hosts, _, path = location.partition("/")
        username = password = None
        if credentials:
            user, _, secret = credentials.partition(":")
            username = unquote(user) or None
            password = unquote(secret) or None
        parts = [p for p in path.split("/") if p]
        options = dict(parse_qsl(query))
        tls = scheme.endswith("s") or options.pop("ssl", "") in ("1", "true")
        tls_options = {k: v for k, v in options.items() if k in _TLS_OPTIONS}
        if scheme.startswith(SENTINEL_SCHEME):
            if not parts:
                raise ValueError(f"{SENTINEL_SCHEME} URL needs the primary's name: {url}")
            db = int(parts[1]) if len(parts) > 1 else 0
            return cls(
                "sentinel",
                url,
                _nodes(hosts),
                unquote(parts[0]),
                username,
                password,
                db,
                tls,
                tls_options,
            )
        return cls("cluster", url, _nodes(hosts), "", username, password, 0, tls, tls_options)

    def describe(self) -> str:
        """For logs and error messages: no password."""
        if self.mode == "single":
            parts = urlsplit(self.url)
            netloc = parts.netloc.rpartition("@")[2]
            return f"{parts.scheme}://{netloc}{parts.path}"
        if self.mode == "sentinel":
            return f"Sentinel {_join(self.nodes)} (primary '{self.master}', db {self.db})"
        return f"Redis Cluster {_join(self.nodes)}"


def _compose(scheme: str, base_url: str | None, hosts: str, path: str) -> str:
    """A sentinel/cluster URL carrying the password, db and TLS choice of `base_url`."""
    credentials, tls, query = "", False, ""
    if base_url:
        parts = urlsplit(base_url)
        tls = parts.scheme == "rediss"
        if parts.password or parts.username:
            user, secret = unquote(parts.username or ""), unquote(parts.password or "")
            credentials = f"{quote(user, safe='')}:{quote(secret, safe='')}@"
        db = (parts.path or "/0").strip("/") or "0"
        path = f"{path}/{db}" if scheme == SENTINEL_SCHEME else path
        query = f"?{parts.query}" if parts.query else ""
    elif scheme == SENTINEL_SCHEME:
        path = f"{path}/0"
    _nodes(hosts)  # refuse a malformed list at start-up, not at the first command
    return f"{scheme}{'s' if tls else ''}://{credentials}{hosts}/{path}{query}".rstrip("/")


def redis_url_from(url: str | None, env: Mapping[str, str] | None = None) -> str:
    """Where to connect: an explicit sentinel/cluster URL as given; else REDIS_SENTINELS
    (+ REDIS_SENTINEL_MASTER) or REDIS_CLUSTER_NODES, with password and db from `url` or
    REDIS_URL; else the configured URL (endpoints.yml `url`), REDIS_URL, the local default."""
    env = os.environ if env is None else env
    if url and url.startswith("${"):
        url = None
    if url and "://" not in url:  # Rasa's stock stores take a bare host name
        url = f"redis://{url}:6379/0"
    base = url or env.get("REDIS_URL") or None
    if base and base.split("://", 1)[0].lower().startswith(("redis+sentinel", "redis+cluster")):
        return base  # already resolved (e.g. the stack hands it to its processes)
    sentinels = env.get("REDIS_SENTINELS", "").strip()
    if sentinels:
        master = env.get("REDIS_SENTINEL_MASTER", "").strip() or "mymaster"
        return _compose(SENTINEL_SCHEME, base, sentinels, quote(master))
    cluster = env.get("REDIS_CLUSTER_NODES", "").strip()
    if cluster:
        return _compose(CLUSTER_SCHEME, base, cluster, "")
    return base or DEFAULT_REDIS_URL


def durability_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(REDIS_MIN_REPLICAS_ACK, REDIS_WAIT_MS): replicas that must confirm a conversation
    write, and how long to wait for them. (0, _) = acknowledge once the primary has it."""
    env = os.environ if env is None else env
    replicas = int(env.get("REDIS_MIN_REPLICAS_ACK", "").strip() or 0)
    wait_ms = int(env.get("REDIS_WAIT_MS", "").strip() or DEFAULT_WAIT_MS)
    return max(0, replicas), max(1, wait_ms)


def _client_options(
    target: RedisTarget, asynchronous: bool, socket_timeout: float, connect_timeout: float
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": socket_timeout,
    }
    if target.mode != "cluster":  # RedisCluster has its own bounded retries per node
        retry_class = redis.asyncio.retry.Retry if asynchronous else redis.retry.Retry
        options.update(
            retry_on_timeout=False,
            retry_on_error=[RedisConnectionError],
            retry=retry_class(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            health_check_interval=30,
        )
    if target.mode != "single":
        if target.username:
            options["username"] = target.username
        if target.password:
            options["password"] = target.password
        if target.tls:
            options["ssl"] = True
            options.update(target.tls_options)
    return options


def _sentinel_options(target: RedisTarget, socket_timeout: float, connect_timeout: float) -> dict:
    """Options for the connections to the sentinels themselves (bounded too)."""
    options: dict[str, Any] = {
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": socket_timeout,
    }
    sentinel_password = os.environ.get("REDIS_SENTINEL_PASSWORD", "").strip()
    if sentinel_password:
        options["password"] = sentinel_password
    if target.tls:
        options["ssl"] = True
        options.update(target.tls_options)
    return options


def create_async_client(
    target: RedisTarget,
    socket_timeout: float = SOCKET_TIMEOUT_SECONDS,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> Any:
    """A redis.asyncio client for `target` (Redis, a Sentinel-managed primary, or cluster)."""
    options = _client_options(target, True, socket_timeout, connect_timeout)
    if target.mode == "single":
        return aioredis.Redis.from_url(target.url, **options)
    if target.mode == "sentinel":
        sentinel = redis.asyncio.sentinel.Sentinel(
            list(target.nodes),
            sentinel_kwargs=_sentinel_options(target, socket_timeout, connect_timeout),
            **options,
        )
        return sentinel.master_for(target.master, db=target.db)
    return redis.asyncio.cluster.RedisCluster(
        startup_nodes=[redis.asyncio.cluster.ClusterNode(h, p) for h, p in target.nodes],
        **options,
    )


def create_sync_client(
    target: RedisTarget,
    socket_timeout: float = SOCKET_TIMEOUT_SECONDS,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> Any:
    """A blocking client for `target` (Rasa's synchronous APIs, tools, health checks)."""
    options = _client_options(target, False, socket_timeout, connect_timeout)
    if target.mode == "single":
        return redis.Redis.from_url(target.url, **options)
    if target.mode == "sentinel":
        sentinel = redis.sentinel.Sentinel(
            list(target.nodes),
            sentinel_kwargs=_sentinel_options(target, socket_timeout, connect_timeout),
            **options,
        )
        return sentinel.master_for(target.master, db=target.db)
    return redis.cluster.RedisCluster(
        startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in target.nodes], **options
    )


def redis_answers(url: str, timeout: float = 2.0) -> bool:
    """Whether the configured Redis (any mode) takes commands now: the stack's health check.
    For Sentinel that means a primary was found and answered; for a cluster, that the slot
    map was read and every primary answered PING."""
    failures = (RedisError, RedisClusterException, OSError, ValueError, IndexError)
    try:
        client = create_sync_client(RedisTarget.parse(url), timeout, timeout)
    except failures:
        return False
    try:
        return bool(client.ping())
    except failures:
        return False
    finally:
        client.close()


class RedisConnector:
    """Per-event-loop redis.asyncio clients (a connection belongs to the loop that opened
    it), a lazily created blocking client for Rasa's synchronous APIs, and named Lua scripts
    run with EVALSHA (EVAL when the server does not know them yet, e.g. after a restart or a
    failover). Scripts touch only the keys passed in KEYS, so they run on a cluster too.

    `url` is anything `redis_url_from` returns; `durable` writes (`run_durable`) wait for
    REDIS_MIN_REPLICAS_ACK replicas (or `min_replicas_ack`) on the same connection.
    """

    def __init__(
        self,
        url: str,
        scripts: dict[str, str] | None = None,
        socket_timeout: float = SOCKET_TIMEOUT_SECONDS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        min_replicas_ack: int | None = None,
        wait_ms: int | None = None,
    ) -> None:
        self.url = url
        self.target = RedisTarget.parse(url)
        self.socket_timeout = socket_timeout
        self.connect_timeout = connect_timeout
        env_replicas, env_wait_ms = durability_from_env()
        self.min_replicas_ack = env_replicas if min_replicas_ack is None else min_replicas_ack
        self.wait_ms = env_wait_ms if wait_ms is None else wait_ms
        self._sources = dict(scripts or {})
        self._shas = {
            name: hashlib.sha1(src.encode()).hexdigest() for name, src in self._sources.items()
        }
        self._loops: dict[int, tuple[asyncio.AbstractEventLoop, Any]] = {}
        self._sync: Any = None

    @property
    def is_cluster(self) -> bool:
        return self.target.mode == "cluster"

    def client(self) -> Any:
        """This event loop's client (redis.asyncio.Redis, or RedisCluster in cluster mode)."""
        loop = asyncio.get_running_loop()
        entry = self._loops.get(id(loop))
        if entry is None or entry[0] is not loop:
            self._loops = {k: v for k, v in self._loops.items() if not v[0].is_closed()}
            client = create_async_client(self.target, self.socket_timeout, self.connect_timeout)
            entry = (loop, client)
            self._loops[id(loop)] = entry
        return entry[1]

    async def run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a named script: EVALSHA, and EVAL (which also caches it) if unknown."""
        client = self.client()
        try:
            return await client.evalsha(self._shas[script], len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self._sources[script], len(keys), *keys, *args)

    async def run_durable(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """`run`, then (when replicas must confirm) WAIT on the same connection; raises
        NotReplicated (with the script's result) when too few replicas confirmed in time."""
        if self.min_replicas_ack <= 0:
            return await self.run(script, keys, args)
        client = self.client()
        if self.is_cluster:
            await client.initialize()  # the slot map, to send WAIT where the key lives

        def queue(pipe: Any) -> None:
            pipe.execute_command("EVAL", self._sources[script], len(keys), *keys, *args)
            wait = ("WAIT", self.min_replicas_ack, self.wait_ms)
            if self.is_cluster:  # WAIT on the node that took the write
                pipe.execute_command(*wait, target_nodes=client.get_node_from_key(keys[0]))
            else:
                pipe.execute_command(*wait)

        result, acked = await self.pipeline(queue)
        if int(acked) < self.min_replicas_ack:
            raise NotReplicated(int(acked), self.min_replicas_ack, self.wait_ms, result)
        return result

    async def pipeline(self, queue: Callable[[Any], object]) -> list[Any]:
        """Run a (non-transactional) pipeline that `queue` fills, retrying once after a
        connection error: redis-py retries single commands but never a pipeline, so the
        first pipeline after a restart or failover would fail on a stale pooled connection.
        Callers make every pipeline idempotent (atomic steps are Lua scripts)."""
        client = self.client()
        for attempt in (1, 2):
            try:
                pipe = client.pipeline(transaction=False)
                queue(pipe)
                return await pipe.execute()
            except RedisConnectionError:
                if attempt == 2:
                    raise
                if not self.is_cluster:  # the cluster client reconnects by itself
                    await client.connection_pool.disconnect(inuse_connections=False)
        raise AssertionError("unreachable")

    def sync_client(self) -> Any:
        if self._sync is None:
            self._sync = create_sync_client(self.target, self.socket_timeout, self.connect_timeout)
        return self._sync

    def run_sync(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        client = self.sync_client()
        try:
            return client.evalsha(self._shas[script], len(keys), *keys, *args)
        except NoScriptError:
            return client.eval(self._sources[script], len(keys), *keys, *args)

    async def close(self) -> None:
        """Close the current loop's client (tests and tools; Rasa never closes stores)."""
        entry = self._loops.pop(id(asyncio.get_running_loop()), None)
        if entry is not None:
            if self.is_cluster:
                await entry[1].close()
            else:
                await entry[1].close(close_connection_pool=True)
        if self._sync is not None:
            self._sync.close()
            self._sync = None
