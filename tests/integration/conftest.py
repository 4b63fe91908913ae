"""Integration fixtures: real stacks (Redis, Rasa replicas, action server, nginx)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import PrivateCluster, PrivateRedis
from tests.integration.stack import MODEL_PATH, RunningStack, start_stack


def require_model() -> None:
    """The replicas need the trained model; `make test` trains it before pytest runs."""
    if not MODEL_PATH.exists():
        pytest.skip(f"no trained model at {MODEL_PATH} (run `make train`)")


@pytest.fixture(scope="session")
def shared_stack(
    redis_server: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    """3 replicas behind nginx on the session's private Redis, for tests that kill nothing."""
    require_model()
    stack = start_stack(
        tmp_path_factory.mktemp("shared-stack"), replicas=3, redis_url=redis_server.url
    )
    yield stack
    stack.down()


@pytest.fixture(scope="session")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """3 replicas on a private Redis Cluster (3 primaries, one replica each), every
    conversation write confirmed by a replica (WAIT 1). A test that kills a cluster node
    restarts it and waits until the cluster is whole again before it returns."""
    require_model()
    cluster = PrivateCluster(tmp_path_factory.mktemp("stack-cluster")).start()
    env = {**cluster.env, "REDIS_MIN_REPLICAS_ACK": "1", "REDIS_WAIT_MS": "1000"}
    try:
        stack = start_stack(tmp_path_factory.mktemp("cluster-stack"), replicas=3, env=env)
    except BaseException:
        cluster.stop()
        raise
    stack.cluster = cluster  # type: ignore[attr-defined]
    yield stack
    try:
        stack.down()
    finally:
        cluster.stop()


@pytest.fixture(params=["single", "cluster"])
def stack_in_each_redis_mode(request: pytest.FixtureRequest) -> RunningStack:
    """The same scenario on one Redis server and on a Redis Cluster."""
    return request.getfixturevalue("shared_stack" if request.param == "single" else "cluster_stack")
