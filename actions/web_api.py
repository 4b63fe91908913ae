"""HTTP routes under /api: upload, download and health (the web widget's back end)."""

from __future__ import annotations

from sanic import Blueprint, Request, response
from sanic.response import HTTPResponse

api_blueprint = Blueprint("tpr_api", url_prefix="/api")


@api_blueprint.get("/health")
async def health(_: Request) -> HTTPResponse:
    """Liveness: answers without touching Redis or the engine."""
    return response.json({"status": "ok"})
