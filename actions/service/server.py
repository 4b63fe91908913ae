"""Action server: one Sanic app serving the rasa-sdk action endpoint and our /api routes.

Run with `python -m actions.service.server`; the port comes from ACTION_PORT (default 5055).
"""

from __future__ import annotations

import logging
import os

from rasa_sdk.endpoint import create_app
from sanic import Request, Sanic, response
from sanic.exceptions import MethodNotSupported, NotFound
from sanic.response import HTTPResponse

from actions.service.tus import answer_tus_options, tus_blueprint
from actions.service.web_api import api_blueprint, configure_app

DEFAULT_ACTION_PORT = 5055


def create_action_server_app() -> Sanic:
    """rasa-sdk's app (loads every action in the `actions` package) plus the /api blueprint."""
    app = create_app("actions", cors_origins="*")
    app.blueprint(api_blueprint)
    app.blueprint(tus_blueprint)
    app.listener("before_server_start")(put_tus_options_first)
    app.error_handler.add(NotFound, route_not_found)
    app.error_handler.add(MethodNotSupported, method_not_allowed)
    configure_app(app)
    return app


async def put_tus_options_first(app: Sanic, *_: object) -> None:
    """Sanic-CORS puts its middleware first at server start and answers every OPTIONS with
    an empty 200; tus clients read OPTIONS headers, so ours goes before it (this listener is
    registered after Sanic-CORS's)."""
    app.request_middleware.appendleft(answer_tus_options)


def route_not_found(request: Request, _: Exception) -> HTTPResponse:
    """rasa-sdk's catch-all handler answers an unknown route with 500; it is a 404."""
    return response.json({"error": f"There is nothing at {request.path}."}, status=404)


def method_not_allowed(request: Request, _: Exception) -> HTTPResponse:
    return response.json(
        {"error": f"{request.method} is not accepted at {request.path}."}, status=405
    )


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    port = int(os.environ.get("ACTION_PORT", DEFAULT_ACTION_PORT))
    host = os.environ.get("ACTION_HOST", "127.0.0.1")
    app = create_action_server_app()
    app.run(host=host, port=port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
