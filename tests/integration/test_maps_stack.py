"""Maps on the real round-robin stack: a boundary upload through nginx, the match report, and
the map asked through a different replica than the one that took the boundaries."""

from __future__ import annotations

import io
import tempfile
import uuid
from pathlib import Path

import matplotlib.image
import pytest
import requests

from tests.integration.stack import (
    ANALYST_STEPS,
    RunningStack,
    other_replica,
    post_message,
    sample_dataset,
    save_datasets,
    send,
    uploaded_message,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def sample_boundary_file() -> bytes:
    from actions.tpr.sample_boundaries import sample_boundaries, write_boundaries

    dataset, _ = sample_dataset()
    gdf, _ = sample_boundaries(dataset, crs="EPSG:32632")
    with tempfile.TemporaryDirectory() as tmp:
        return write_boundaries(gdf, Path(tmp) / "wards.zip").read_bytes()


def test_boundary_upload_and_map_through_another_replica(shared_stack: RunningStack) -> None:
    sender = f"maps-{uuid.uuid4().hex[:8]}"
    dataset_id = save_datasets(shared_stack.redis_url, [sender])[sender]
    send(shared_stack.web_url, sender, uploaded_message(dataset_id))

    upload = requests.post(
        f"{shared_stack.web_url}/api/upload",
        params={"sender": sender},
        files={"file": ("wards.zip", sample_boundary_file(), "application/zip")},
        timeout=300,
    )
    assert upload.status_code == 200, upload.text
    boundaries_id = upload.json()["boundaries_id"]
    reply = post_message(
        shared_stack.web_url,
        sender,
        '/boundaries_uploaded{"boundaries_id": "' + boundaries_id + '"}',
    )
    assert reply.status == 200
    texts = "\n".join(m.get("text") or "" for m in reply.messages)
    assert "Match with the boundaries:" in texts and "Data wards without a polygon" in texts

    for text, _ in ANALYST_STEPS:
        messages = send(shared_stack.web_url, sender, text)
    assert any("GeoJSON" in (m.get("text") or "") for m in messages)

    replica = other_replica(shared_stack, reply.served_by)
    assert not replica.endswith(reply.served_by)
    response = requests.post(
        f"{replica}/webhooks/rest/webhook",
        json={"sender": sender, "message": "show the map"},
        timeout=300,
    )
    assert response.status_code == 200
    images = [m["image"] for m in response.json() if m.get("image")]
    assert images, response.json()
    png = requests.get(f"{shared_stack.web_url}{images[0]}", timeout=60)
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert matplotlib.image.imread(io.BytesIO(png.content), format="png").shape[:2] == (1350, 1080)
    geojson_links = [
        word.rstrip(".")
        for m in response.json()
        for word in (m.get("text") or "").split()
        if word.startswith("/api/download/")
    ]
    geojson = requests.get(f"{shared_stack.web_url}{geojson_links[-1]}", timeout=60)
    assert geojson.headers["Content-Type"] == "application/geo+json"
    assert geojson.json()["type"] == "FeatureCollection"
