"""A tracker store whose Redis is gone must stop the turn, not let Rasa's FailSafeTrackerStore
start a new conversation (failed read) or keep the events in memory only (failed save)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered

from redis_stores.tracker_store import AppendOnlyRedisTrackerStore, TrackerStoreUnavailable
from tests.helpers import PrivateRedis


async def test_a_lost_redis_escapes_the_failsafe_wrapper_and_changes_nothing(
    tmp_path: Path,
) -> None:
    server = PrivateRedis(tmp_path / "redis").start()
    store = AppendOnlyRedisTrackerStore(domain=Domain.empty(), host=server.url)
    wrapped = FailSafeTrackerStore(store)  # what rasa.core.agent puts around every store
    try:
        tracker = await wrapped.get_or_create_tracker("analyst")
        tracker.update(UserUttered("hello"))
        await wrapped.save(tracker)
        stored = [e.as_dict() for e in (await wrapped.retrieve("analyst")).events]

        server.kill()
        with pytest.raises(TrackerStoreUnavailable):
            await wrapped.retrieve("analyst")
        with pytest.raises(TrackerStoreUnavailable):
            await wrapped.get_or_create_tracker("analyst")
        tracker.update(UserUttered("lost while Redis is down"))
        with pytest.raises(TrackerStoreUnavailable):
            await wrapped.save(tracker)
        # Nothing went to Rasa's in-memory fallback either.
        assert wrapped._fallback_tracker_store is None

        server.start()  # same port, same AOF
        assert [e.as_dict() for e in (await wrapped.retrieve("analyst")).events] == stored
    finally:
        await store.close()
        server.stop()
