"""Rasa's REST channel, except that a message Rasa could not process answers 503, not 200 [].

Stock `RestInput` catches every exception of `on_new_message` (Redis down, lock wait timed out)
and answers `200 []`: the widget cannot tell "the bot had nothing to say" from "your message was
lost". Rasa's FailSafeTrackerStore also swallows a failed tracker save (Redis gone mid-turn,
or replicas not confirming it under REDIS_MIN_REPLICAS_ACK) and keeps the turn in memory
only, a failed load makes Rasa treat the conversation as new, and a failed custom action
(the action server could not reach Redis) loses the action's events while the turn is still
answered. Our tracker store reports all three (`watching_store_errors`) and then refuses to
save that turn, so they answer 503 too and the stored conversation stays as it was.
Here the same failure is a `503 {"error": ...}` that the widget turns into a clear
"temporarily unavailable" message and that a client may retry. The URL stays
/webhooks/rest/webhook (the channel is still named "rest"). credentials.yml selects it with
`deploy.rest_channel.FailFastRestInput:` (PYTHONPATH is the repository root).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from redis_stores.tracker_store import watch_failed_actions, watching_store_errors

logger = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = "The assistant is temporarily unavailable. Please try again in a moment."


class FailFastRestInput(RestInput):
    """REST channel that reports processing failures as HTTP 503."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        watch_failed_actions()

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            sender_id = await self._extract_sender(request)
            text = self._extract_message(request)
            collector = CollectingOutputChannel()
            message = UserMessage(
                text,
                collector,
                sender_id,
                input_channel=self._extract_input_channel(request),
                metadata=self.get_metadata(request),
            )
            with watching_store_errors() as store_errors:
                try:
                    await on_new_message(message)
                except (Exception, asyncio.CancelledError):
                    logger.exception("message of %s could not be processed", sender_id)
                    return response.json({"error": UNAVAILABLE_MESSAGE}, status=503)
            if store_errors:
                first = store_errors[0]
                logger.error(
                    "turn of %s not stored (%s failed: %s)", sender_id, first.operation, first.error
                )
                return response.json({"error": UNAVAILABLE_MESSAGE}, status=503)
            return response.json(collector.messages)

        return webhook
