"""The REST channel answers 503 when the turn's tracker save or load failed, although
Rasa's FailSafeTrackerStore swallows both (a failed save keeps the turn in memory only; a
failed load makes the conversation look new). Real failures: a save not confirmed by a
replica (REDIS_MIN_REPLICAS_ACK=1 on a server without one), a load timing out while Redis
is busy. A real Sanic server with our channel's blueprint, on a free port."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
import redis
from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.events import UserUttered
from sanic import Sanic

from deploy.rest_channel import UNAVAILABLE_MESSAGE, FailFastRestInput
from redis_stores.tracker_store import AppendOnlyRedisTrackerStore
from tests.helpers import free_port
from tests.stores.test_tracker_store import DOMAIN, as_dicts


class Channel:
    """Our REST channel on a real Sanic server; `handler` plays Rasa's processor."""

    def __init__(self) -> None:
        self.handler: Callable[[UserMessage], Awaitable[None]] | None = None
        self.port = free_port()

    async def __aenter__(self) -> Channel:
        async def on_new_message(message: UserMessage) -> None:
            assert self.handler is not None
            await self.handler(message)

        app = Sanic(f"channel-{uuid.uuid4().hex[:8]}")
        app.blueprint(FailFastRestInput().blueprint(on_new_message), url_prefix="/webhooks/rest")
        self.server = await app.create_server(
            host="127.0.0.1", port=self.port, return_asyncio_server=True, access_log=False
        )
        await self.server.startup()
        return self

    async def __aexit__(self, *_: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def post(self, sender: str, text: str = "Adamawa State") -> tuple[int, object]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{self.port}/webhooks/rest/webhook",
                json={"sender": sender, "message": text},
            ) as response,
        ):
            return response.status, await response.json()


async def test_failed_loads_and_saves_answer_503_and_store_nothing(redis_url: str) -> None:
    """One Sanic server for three turns (Sanic 21 cannot start a second app per process):
    a load that times out, a save no replica confirms, then a confirmed save (200)."""
    async with Channel() as channel:
        await a_failed_load_answers_503_and_the_turn_is_not_saved(channel, redis_url)
        await an_unconfirmed_save_answers_503_and_a_confirmed_one_200(channel, redis_url)
        await a_failed_custom_action_answers_503_and_the_turn_is_not_saved(channel, redis_url)


async def a_failed_custom_action_answers_503_and_the_turn_is_not_saved(
    channel: Channel, redis_url: str
) -> None:
    """The action server could not reach Redis: Rasa's processor logs the failure and goes
    on without the action's events (here, as Rasa 3.6 does, after a real failed call)."""
    store = AppendOnlyRedisTrackerStore(url=redis_url, domain=DOMAIN)
    wrapped = FailSafeTrackerStore(store)
    processor_log = logging.getLogger("rasa.core.processor")

    async def rasa_processor(message: UserMessage) -> None:
        tracker = await wrapped.get_or_create_tracker(message.sender_id)
        tracker.update(UserUttered(message.text))
        try:  # the custom action's own call to a Redis that is gone
            redis.Redis(port=free_port(), socket_connect_timeout=1).ping()
        except redis.exceptions.ConnectionError:
            processor_log.exception(
                "Encountered an exception while running action 'tpr_form'.Bot will continue, "
                "but the actions events are lost."
            )
        await wrapped.save(tracker)
        await message.output_channel.send_text_message(message.sender_id, "Which state?")

    channel.handler = rasa_processor
    tracker = await store.get_or_create_tracker("ch-4")
    tracker.update(UserUttered("Adamawa State"))
    await store.save(tracker)
    before = as_dicts(await store.retrieve_full_tracker("ch-4"))
    try:
        assert await channel.post("ch-4", "yes") == (503, {"error": UNAVAILABLE_MESSAGE})
        assert as_dicts(await store.retrieve_full_tracker("ch-4")) == before
        processor_log.error("Encountered an exception while running action (no turn): ignored")
    finally:
        await store.close()


async def a_failed_load_answers_503_and_the_turn_is_not_saved(
    channel: Channel, redis_url: str
) -> None:
    """Redis busy (a 1.2 s script) while the turn loads: the load times out, Rasa goes on
    with an empty tracker; none of that may reach the stored conversation."""
    store = AppendOnlyRedisTrackerStore(url=redis_url, domain=DOMAIN, socket_timeout=0.3)
    wrapped = FailSafeTrackerStore(store)
    tracker = await store.get_or_create_tracker("ch-3")
    tracker.update(UserUttered("Adamawa State"))
    await store.save(tracker)
    before = as_dicts(await store.retrieve_full_tracker("ch-3"))

    def keep_redis_busy() -> None:
        client = redis.Redis.from_url(redis_url)
        busy = "local s = redis.call('TIME')[1] while redis.call('TIME')[1] - s < 2 do end"
        client.eval(busy, 0)
        client.close()

    async def rasa_processor(message: UserMessage) -> None:
        blocker = threading.Thread(target=keep_redis_busy)
        blocker.start()
        await asyncio.sleep(0.2)
        tracker = await wrapped.get_or_create_tracker(message.sender_id)  # load times out
        assert len(tracker.events) <= 1, "Rasa should see a new conversation here"
        await asyncio.get_running_loop().run_in_executor(None, blocker.join)
        tracker.update(UserUttered(message.text))
        await wrapped.save(tracker)  # Redis answers again: refused all the same
        await message.output_channel.send_text_message(message.sender_id, "Which state?")

    try:
        channel.handler = rasa_processor
        started = time.monotonic()
        assert await channel.post("ch-3", "yes") == (503, {"error": UNAVAILABLE_MESSAGE})
        assert time.monotonic() - started < 10
        assert as_dicts(await store.retrieve_full_tracker("ch-3")) == before
    finally:
        await store.close()


async def an_unconfirmed_save_answers_503_and_a_confirmed_one_200(
    channel: Channel, redis_url: str
) -> None:
    store = AppendOnlyRedisTrackerStore(url=redis_url, domain=DOMAIN)
    wrapped = FailSafeTrackerStore(store)  # as Rasa wraps every tracker store

    async def rasa_processor(message: UserMessage) -> None:
        tracker = await wrapped.get_or_create_tracker(message.sender_id)
        tracker.update(UserUttered(message.text))
        await wrapped.save(tracker)
        await message.output_channel.send_text_message(message.sender_id, "Which state?")

    channel.handler = rasa_processor
    try:
        store._redis.min_replicas_ack, store._redis.wait_ms = 1, 100  # no replica exists
        assert await channel.post("ch-1") == (503, {"error": UNAVAILABLE_MESSAGE})
        assert await store.retrieve("ch-1") is None  # nothing half-stored

        store._redis.min_replicas_ack = 0
        assert await channel.post("ch-2") == (
            200,
            [{"recipient_id": "ch-2", "text": "Which state?"}],
        )
        tracker = await store.retrieve("ch-2")
        assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["Adamawa State"]
    finally:
        await store.close()
