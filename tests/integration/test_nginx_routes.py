"""What nginx exposes on the shared stack: the widget (compressed for slow links), the REST
channel and /api; never the Rasa HTTP API, which the replicas themselves do serve."""

from __future__ import annotations

import http.client
import urllib.parse

import pytest

from tests.integration.stack import RunningStack

pytestmark = pytest.mark.integration

RASA_API_PATHS = [
    ("GET", "/conversations/someone/tracker"),
    ("GET", "/status"),
    ("GET", "/version"),
    ("GET", "/domain"),
    ("POST", "/model/parse"),
    ("PUT", "/model"),
]


def request(
    base_url: str, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request (no automatic decompression, unlike most clients)."""
    url = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        body = b"{}" if method in ("POST", "PUT") else None
        connection.request(method, path, body=body, headers=headers or {})
        reply = connection.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        connection.close()


def test_widget_is_served_and_compressed(shared_stack: RunningStack) -> None:
    status, _, page = request(shared_stack.web_url, "GET", "/")
    assert status == 200 and b"<title>TPR assistant</title>" in page

    status, headers, plain = request(shared_stack.web_url, "GET", "/app.js")
    assert status == 200 and headers.get("content-encoding") is None
    status, headers, packed = request(
        shared_stack.web_url, "GET", "/app.js", {"Accept-Encoding": "gzip"}
    )
    assert status == 200 and headers.get("content-encoding") == "gzip"
    assert len(packed) < len(plain) / 2


@pytest.mark.parametrize(("method", "path"), RASA_API_PATHS)
def test_rasa_http_api_is_not_exposed(shared_stack: RunningStack, method: str, path: str) -> None:
    status, _, _ = request(shared_stack.web_url, method, path)
    assert status == 404, f"{method} {path} through nginx answered {status}"


def test_replicas_do_serve_the_api_that_nginx_hides(shared_stack: RunningStack) -> None:
    """Guards the test above: the 404s come from nginx, not from a replica without the API."""
    status, _, _ = request(shared_stack.replica_urls[0], "GET", "/version")
    assert status == 200


def test_action_server_routes_are_proxied(shared_stack: RunningStack) -> None:
    status, _, body = request(shared_stack.web_url, "GET", "/api/health")
    assert status == 200 and b'"ok"' in body
