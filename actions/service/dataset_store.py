"""Uploaded datasets and result files in Redis, so any action server process can serve any
conversation (see docs/architecture.md and docs/stores.md).

Keys (`{...}` is a hash tag: the keys of one id share one cluster slot):
`tpr:dataset:{<id>}` (Arrow bytes), `tpr:dataset:{<id>}:meta` (hash: owner, summary,
created, digest), `tpr:boundaries:{<id>}` (boundary GeoParquet bytes) and
`tpr:boundaries:{<id>}:meta`, `tpr:result:{<token>}` (hash). Ids and tokens are
`secrets.token_urlsafe`. Saves are one Lua script each (atomic in every Redis mode: a
cluster has no MULTI across commands in redis-py), confirmed by REDIS_MIN_REPLICAS_ACK
replicas when that is set. Keys saved before the hash tags (`tpr:dataset:<id>`,
`tpr:result:<token>`) are still read on one server or Sentinel until they expire.
Connections come from the one factory, `redis_stores._redis`. No Rasa import: the action
server imports this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis_stores._redis import (
    CONNECT_TIMEOUT_SECONDS,  # noqa: F401 - re-exported, as before
    DEFAULT_REDIS_URL,
    NotReplicated,
    RedisConnector,
    redis_url_from,
)

DEFAULT_DATASET_TTL_SECONDS = 7 * 24 * 3600
DEFAULT_RESULT_TTL_SECONDS = 24 * 3600
DEFAULT_CACHE_SIZE = 4
# Fail fast when Redis is down; payloads are at most tens of MB over a local socket.
SOCKET_TIMEOUT_SECONDS = 10.0

# KEYS: data, meta. ARGV: ttl_seconds, data, then meta field/value pairs.
_SAVE_DATASET = """
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""
# KEYS: result hash. ARGV: ttl_seconds, then field/value pairs.
_SAVE_RESULT = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
_SCRIPTS = {"save_dataset": _SAVE_DATASET, "save_result": _SAVE_RESULT}

# token_urlsafe(32) gives 43 characters; anything else is rejected before touching Redis.
_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")

DATASET_NOT_FOUND_MESSAGE = (
    "This dataset is not available (it may have expired). Please upload the file again."
)
RESULT_NOT_FOUND_MESSAGE = "This download link has expired or does not exist."


class DatasetNotFound(Exception):
    """A dataset id that is unknown, expired or owned by someone else (indistinguishable)."""

    def __init__(self, message: str = DATASET_NOT_FOUND_MESSAGE) -> None:
        super().__init__(message)


BOUNDARIES_NOT_FOUND_MESSAGE = (
    "These ward boundaries are not available (they may have expired). Please upload the "
    "boundary file again."
)


class BoundariesNotFound(DatasetNotFound):
    """A boundaries id that is unknown, expired or owned by someone else (indistinguishable)."""

    def __init__(self, message: str = BOUNDARIES_NOT_FOUND_MESSAGE) -> None:
        super().__init__(message)


class ResultNotFound(Exception):
    """A result file token that is unknown or expired."""

    def __init__(self, message: str = RESULT_NOT_FOUND_MESSAGE) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class StoredFile:
    filename: str
    content_type: str
    data: bytes
    owner: str


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


class _LoopClients(RedisConnector):
    """The stores' connector: the shared factory's per-event-loop clients (any Redis mode),
    under the names this module used before (`get()`, `pipeline(queue, transaction=)`)."""

    def __init__(self, url: str, socket_timeout: float) -> None:
        super().__init__(redis_url_from(url), _SCRIPTS, socket_timeout=socket_timeout)

    def get(self) -> Any:
        return self.client()

    async def pipeline(  # type: ignore[override]
        self, queue: Callable[[Any], object], *, transaction: bool = False
    ) -> list[Any]:
        """A pipeline retried once after a connection error. `transaction` is accepted for
        old callers but ignored: atomic steps here are Lua scripts (a cluster has no MULTI)."""
        return await super().pipeline(queue)


def _decode_dataset(data: bytes) -> Any:
    from actions.tpr import Dataset  # noqa: PLC0415 - keeps this module light to import

    return Dataset.from_bytes(data)


class DatasetStore:
    """Datasets as the engine's Arrow bytes with a TTL, owned by one sender.

    Decoded datasets are kept in a small in-process LRU cache keyed by id and content
    digest. Every load first asks Redis (one round trip, no payload) whether the dataset
    still exists, who owns it and its digest, so a deleted or expired dataset is never
    served from the cache.
    """

    not_found: type[DatasetNotFound] = DatasetNotFound
    # Datasets saved before the hash tags are read under their old names (not on a cluster).
    has_legacy_keys = True

    def __init__(
        self,
        redis_url: str = DEFAULT_REDIS_URL,
        ttl_seconds: int = DEFAULT_DATASET_TTL_SECONDS,
        cache_size: int = DEFAULT_CACHE_SIZE,
        decode: Callable[[bytes], Any] = _decode_dataset,
        key_prefix: str = "tpr:dataset:",
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.cache_size = cache_size
        self.key_prefix = key_prefix
        self._decode = decode
        self._clients = _LoopClients(redis_url, SOCKET_TIMEOUT_SECONDS)
        self._cache: OrderedDict[str, tuple[str, Any]] = OrderedDict()

    @classmethod
    def from_env(cls) -> DatasetStore:
        return cls(
            redis_url=redis_url_from(None),
            ttl_seconds=_env_int("DATASET_TTL_SECONDS", DEFAULT_DATASET_TTL_SECONDS),
            cache_size=_env_int("DATASET_CACHE_SIZE", DEFAULT_CACHE_SIZE),
        )

    def _data_key(self, dataset_id: str, legacy: bool = False) -> str:
        return f"{self.key_prefix}{dataset_id if legacy else '{' + dataset_id + '}'}"

    def _meta_key(self, dataset_id: str, legacy: bool = False) -> str:
        return f"{self._data_key(dataset_id, legacy)}:meta"

    async def save(self, owner: str, dataset: Any, summary: dict[str, Any]) -> str:
        """Store the dataset for `owner`; returns a fresh unguessable id."""
        return await self.save_bytes(owner, dataset.to_bytes(), summary, decoded=dataset)

    async def save_bytes(
        self, owner: str, data: bytes, summary: dict[str, Any], decoded: Any = None
    ) -> str:
        """Store already-encoded bytes (e.g. from the parse worker); `decoded`, when given,
        is cached as their decoded form."""
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        dataset_id = secrets.token_urlsafe(32)
        meta = {
            "owner": owner,
            "summary": json.dumps(summary),
            "created": f"{time.time():.3f}",
            "digest": digest,
            "size": str(len(data)),
        }

        keys = [self._data_key(dataset_id), self._meta_key(dataset_id)]
        fields = [item for pair in meta.items() for item in pair]
        try:
            await self._clients.run_durable("save_dataset", keys, [self.ttl_seconds, data, *fields])
        except NotReplicated:  # not acknowledged: leave nothing behind
            await self._clients.get().delete(*keys)
            raise
        if decoded is not None:
            self._remember(dataset_id, digest, decoded)
        return dataset_id

    async def _check(self, dataset_id: str, owner: str) -> tuple[str, bytes | None]:
        """(digest, summary JSON) when `dataset_id` exists, is complete and belongs to
        `owner`; DatasetNotFound otherwise, with one message for every case."""
        digest, summary, _ = await self._check_keys(dataset_id, owner)
        return digest, summary

    async def _check_keys(self, dataset_id: str, owner: str) -> tuple[str, bytes | None, bool]:
        """`_check`, plus whether the dataset is under the legacy (untagged) key names."""
        if not isinstance(dataset_id, str) or not _TOKEN_PATTERN.match(dataset_id):
            raise self.not_found()
        variants = (
            [False, True] if self.has_legacy_keys and not self._clients.is_cluster else [False]
        )

        def queue(pipe: Any) -> None:
            for legacy in variants:
                pipe.hmget(self._meta_key(dataset_id, legacy), ["owner", "digest", "summary"])
                pipe.exists(self._data_key(dataset_id, legacy))

        replies = await self._clients.pipeline(queue)
        legacy = len(replies) > 2 and replies[0][0] is None and replies[2][0] is not None
        (stored_owner, digest, summary), data_exists = replies[2:4] if legacy else replies[:2]
        if (
            stored_owner is None
            or digest is None
            or not data_exists
            or not secrets.compare_digest(stored_owner, owner.encode())
        ):
            self._cache.pop(dataset_id, None)
            raise self.not_found()
        return digest.decode(), summary, legacy

    async def load(self, dataset_id: str, owner: str) -> Any:
        """The decoded dataset; served from the cache when Redis still holds the same bytes."""
        digest, _, legacy = await self._check_keys(dataset_id, owner)
        cached = self._cache.get(dataset_id)
        if cached is not None and cached[0] == digest:
            self._cache.move_to_end(dataset_id)
            return cached[1]
        data = await self._clients.get().get(self._data_key(dataset_id, legacy))
        if data is None:  # expired between the check and the read
            self._cache.pop(dataset_id, None)
            raise self.not_found()
        # Hashing and decoding a national dataset (~23 MB) takes tens of ms: off the event loop.
        dataset = await asyncio.get_running_loop().run_in_executor(
            None, self._verify_and_decode, data, digest
        )
        self._remember(dataset_id, digest, dataset)
        return dataset

    def _verify_and_decode(self, data: bytes, digest: str) -> Any:
        """The decoded dataset, if `data` still has the digest its metadata names."""
        if hashlib.blake2b(data, digest_size=16).hexdigest() != digest:
            raise self.not_found()
        return self._decode(data)

    async def load_summary(self, dataset_id: str, owner: str) -> dict[str, Any]:
        """The summary stored with the dataset (no payload transfer)."""
        _, summary = await self._check(dataset_id, owner)
        return json.loads(summary) if summary else {}

    async def delete(self, dataset_id: str, owner: str) -> None:
        """Remove the dataset (only its owner may)."""
        _, _, legacy = await self._check_keys(dataset_id, owner)
        client = self._clients.get()
        await client.delete(self._data_key(dataset_id, legacy), self._meta_key(dataset_id, legacy))
        self._cache.pop(dataset_id, None)

    def _remember(self, dataset_id: str, digest: str, dataset: Any) -> None:
        if self.cache_size <= 0:
            return
        self._cache[dataset_id] = (digest, dataset)
        self._cache.move_to_end(dataset_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    async def close(self) -> None:
        await self._clients.close()


def _decode_boundaries(data: bytes) -> Any:
    from actions.tpr.boundaries import Boundaries  # noqa: PLC0415 - geopandas only when used

    return Boundaries.from_bytes(data)


class BoundaryStore(DatasetStore):
    """Ward boundaries, stored exactly like datasets (owner-scoped, unguessable id, TTL, one
    "not found" for unknown and foreign ids, cache checked against Redis on every load), under
    cluster-safe keys `tpr:boundaries:{<id>}` and `tpr:boundaries:{<id>}:meta`."""

    not_found = BoundariesNotFound
    has_legacy_keys = False

    def __init__(
        self,
        redis_url: str = DEFAULT_REDIS_URL,
        ttl_seconds: int = DEFAULT_DATASET_TTL_SECONDS,
        cache_size: int = 2,
        decode: Callable[[bytes], Any] = _decode_boundaries,
        key_prefix: str = "tpr:boundaries:",
    ) -> None:
        super().__init__(redis_url, ttl_seconds, cache_size, decode, key_prefix)

    @classmethod
    def from_env(cls) -> BoundaryStore:
        return cls(
            redis_url=redis_url_from(None),
            ttl_seconds=_env_int("DATASET_TTL_SECONDS", DEFAULT_DATASET_TTL_SECONDS),
            cache_size=_env_int("BOUNDARY_CACHE_SIZE", 2),
        )

    # Boundaries were always stored under hash-tagged keys: `legacy` (untagged names kept for
    # datasets saved before the tags) names the same keys.
    def _data_key(self, dataset_id: str, legacy: bool = False) -> str:
        return f"{self.key_prefix}{{{dataset_id}}}"

    def _meta_key(self, dataset_id: str, legacy: bool = False) -> str:
        return f"{self.key_prefix}{{{dataset_id}}}:meta"


class ResultFileStore:
    """Result files (CSV/XLSX) behind unguessable download tokens, with a TTL."""

    def __init__(
        self,
        redis_url: str = DEFAULT_REDIS_URL,
        ttl_seconds: int = DEFAULT_RESULT_TTL_SECONDS,
        key_prefix: str = "tpr:result:",
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.key_prefix = key_prefix
        self._clients = _LoopClients(redis_url, SOCKET_TIMEOUT_SECONDS)

    @classmethod
    def from_env(cls) -> ResultFileStore:
        return cls(
            redis_url=redis_url_from(None),
            ttl_seconds=_env_int("RESULT_TTL_SECONDS", DEFAULT_RESULT_TTL_SECONDS),
        )

    async def save(self, owner: str, filename: str, content_type: str, data: bytes) -> str:
        """Store one file; returns its download token."""
        token = secrets.token_urlsafe(32)
        key = f"{self.key_prefix}{{{token}}}"
        mapping = {
            "filename": filename,
            "content_type": content_type,
            "data": data,
            "owner": owner,
            "created": f"{time.time():.3f}",
        }

        fields = [item for pair in mapping.items() for item in pair]
        try:
            await self._clients.run_durable("save_result", [key], [self.ttl_seconds, *fields])
        except NotReplicated:  # not acknowledged: leave nothing behind
            await self._clients.get().delete(key)
            raise
        return token

    async def load(self, token: str) -> StoredFile:
        """The stored file; ResultNotFound for an unknown, malformed or expired token."""
        if not isinstance(token, str) or not _TOKEN_PATTERN.match(token):
            raise ResultNotFound()
        client = self._clients.get()
        fields = await client.hgetall(f"{self.key_prefix}{{{token}}}")
        if not fields and not self._clients.is_cluster:  # saved before the hash tags
            fields = await client.hgetall(f"{self.key_prefix}{token}")
        if not fields or b"data" not in fields:
            raise ResultNotFound()
        return StoredFile(
            filename=fields[b"filename"].decode(),
            content_type=fields[b"content_type"].decode(),
            data=fields[b"data"],
            owner=fields[b"owner"].decode(),
        )

    async def close(self) -> None:
        await self._clients.close()
