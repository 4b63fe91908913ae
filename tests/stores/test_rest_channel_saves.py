"""The REST channel answers 503 when the turn's tracker save failed, although Rasa's
FailSafeTrackerStore swallows that failure (and keeps the turn in memory only): here the
save is not confirmed by a replica (REDIS_MIN_REPLICAS_ACK=1 on a server without one).
A real Sanic server with our channel's blueprint, on a free port."""

from __future__ import annotations

import uuid

import aiohttp
from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.events import UserUttered
from sanic import Sanic

from deploy.rest_channel import UNAVAILABLE_MESSAGE, FailFastRestInput
from redis_stores.tracker_store import AppendOnlyRedisTrackerStore
from tests.helpers import free_port
from tests.stores.test_tracker_store import DOMAIN


async def test_an_unconfirmed_save_answers_503_and_a_confirmed_one_200(redis_url: str) -> None:
    store = AppendOnlyRedisTrackerStore(url=redis_url, domain=DOMAIN)
    wrapped = FailSafeTrackerStore(store)  # as Rasa wraps every tracker store

    async def on_new_message(message: UserMessage) -> None:  # what Rasa's processor does
        tracker = await wrapped.get_or_create_tracker(message.sender_id)
        tracker.update(UserUttered(message.text))
        await wrapped.save(tracker)
        await message.output_channel.send_text_message(message.sender_id, "Which state?")

    app = Sanic(f"channel-{uuid.uuid4().hex[:8]}")
    app.blueprint(FailFastRestInput().blueprint(on_new_message), url_prefix="/webhooks/rest")
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    await server.startup()

    async def post(sender: str) -> tuple[int, object]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{port}/webhooks/rest/webhook",
                json={"sender": sender, "message": "Adamawa State"},
            ) as response,
        ):
            return response.status, await response.json()

    try:
        store._redis.min_replicas_ack, store._redis.wait_ms = 1, 100  # no replica exists
        assert await post("ch-1") == (503, {"error": UNAVAILABLE_MESSAGE})
        assert await store.retrieve("ch-1") is None  # nothing half-stored

        store._redis.min_replicas_ack = 0
        assert await post("ch-2") == (200, [{"recipient_id": "ch-2", "text": "Which state?"}])
        tracker = await store.retrieve("ch-2")
        assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["Adamawa State"]
    finally:
        server.close()
        await server.wait_closed()
        await store.close()
