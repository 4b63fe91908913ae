"""Action server: one Sanic app serving the rasa-sdk action endpoint and our /api routes.

Run with `python -m actions.service.server`; the port comes from ACTION_PORT (default 5055).
"""

from __future__ import annotations

import logging
import os

from rasa_sdk.endpoint import create_app
from sanic import Sanic

from actions.service.web_api import api_blueprint, configure_app

DEFAULT_ACTION_PORT = 5055


def create_action_server_app() -> Sanic:
    """rasa-sdk's app (loads every action in the `actions` package) plus the /api blueprint."""
    app = create_app("actions", cors_origins="*")
    app.blueprint(api_blueprint)
    configure_app(app)
    return app


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
