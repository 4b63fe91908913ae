"""Integration fixtures: real stacks (Redis, Rasa replicas, action server, nginx)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import PrivateRedis
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
