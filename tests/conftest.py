"""Fixtures shared by every suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PrivateCluster, PrivateRedis, PrivateSentinel, PrivateTlsRedis

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A private redis-server for the whole session: tests never touch the shared one."""
    server = PrivateRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture()
def redis_url(redis_server: PrivateRedis) -> Iterator[str]:
    """URL of the session's private Redis, flushed before each test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture(scope="session")
def sentinel_group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateSentinel]:
    """A private primary + replica under three sentinels (tests that kill nothing)."""
    group = PrivateSentinel(tmp_path_factory.mktemp("sentinel")).start()
    yield group
    group.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateCluster]:
    """A private 3-primary cluster with one replica each (tests that kill nothing)."""
    cluster = PrivateCluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateTlsRedis]:
    """A private TLS-only, password-protected redis-server with a throw-away CA."""
    server = PrivateTlsRedis(tmp_path_factory.mktemp("tls")).start()
    yield server
    server.stop()


@pytest.fixture(params=["single", "tls", "sentinel", "cluster"])
def any_redis_url(request: pytest.FixtureRequest) -> str:
    """The URL of a private Redis in each mode the factory serves (not flushed: tests use
    their own conversation ids)."""
    mode = request.param
    if mode == "single":
        return request.getfixturevalue("redis_server").url
    if mode == "tls":
        return request.getfixturevalue("tls_redis").url
    if mode == "sentinel":
        return request.getfixturevalue("sentinel_group").url
    return request.getfixturevalue("redis_cluster").url
