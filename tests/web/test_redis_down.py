"""With Redis unreachable the upload and download routes answer 503 with a sentence, and the
process keeps serving /api/health."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from actions.tpr.sample import sample_frame, write_sample_file
from tests.helpers import free_port
from tests.web.conftest import ActionServer, run_action_server


@pytest.fixture(scope="module")
def server_without_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActionServer]:
    yield from run_action_server(f"redis://127.0.0.1:{free_port()}/0", tmp_path_factory)


def test_upload_and_download_report_unavailable(
    server_without_redis: ActionServer, tmp_path: Path
) -> None:
    good = write_sample_file(sample_frame("C", states=1, rows_per_state=20), tmp_path / "a.csv")
    upload = requests.post(
        f"{server_without_redis.url}/api/upload",
        params={"sender": "s1"},
        files={"file": ("a.csv", good.read_bytes())},
        timeout=300,
    )
    assert upload.status_code == 503, upload.text
    assert "temporarily unavailable" in upload.json()["error"]
    download = requests.get(f"{server_without_redis.url}/api/download/{'A' * 43}", timeout=60)
    assert download.status_code == 503
    assert "temporarily unavailable" in download.json()["error"]
    assert requests.get(f"{server_without_redis.url}/api/health", timeout=30).status_code == 200
    assert server_without_redis.alive()


def test_boundary_upload_reports_unavailable(server_without_redis: ActionServer) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    wards = gpd.GeoDataFrame(
        {"statename": ["Adamawa"], "lganame": ["Fufore"], "wardname": ["Bille"]},
        geometry=[box(12.0, 9.0, 12.1, 9.1)],
        crs=4326,
    )
    upload = requests.post(
        f"{server_without_redis.url}/api/upload",
        params={"sender": "s1"},
        files={"file": ("wards.geojson", wards.to_json().encode())},
        timeout=300,
    )
    assert upload.status_code == 503, upload.text
    assert "temporarily unavailable" in upload.json()["error"]
    assert server_without_redis.alive()
