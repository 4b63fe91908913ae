"""Boundary files on POST /api/upload against a real action server and a private Redis:
detected from their content, parsed in the upload worker, stored for their sender under
cluster-safe keys; every bad file gets a 4xx sentence and nothing is stored."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import redis
import requests
from shapely.geometry import box

from actions.service.dataset_store import BoundariesNotFound, BoundaryStore
from actions.tpr.sample_boundaries import shapefile_zip_bytes
from tests.web.conftest import TEST_UPLOAD_MAX_BYTES, ActionServer
from tests.web.test_upload_service import post_file

WARDS = [("Adamawa", "Fufore", "Bille"), ("Adamawa", "Fufore", "Yelwa"),
         ("Adamawa", "Song", "Yelwa")]  # fmt: skip


def frame(x0: float = 12.0, crs: int = 4326, **names: str) -> gpd.GeoDataFrame:
    columns = {"state": "statename", "lga": "lganame", "ward": "wardname", **names}
    gdf = gpd.GeoDataFrame(
        {columns[k]: [w[i] for w in WARDS] for i, k in enumerate(("state", "lga", "ward"))},
        geometry=[box(x0 + i * 0.1, 9.0, x0 + i * 0.1 + 0.09, 9.09) for i in range(len(WARDS))],
        crs=4326,
    )
    return gdf.to_crs(crs) if crs != 4326 else gdf


def boundary_keys(server: ActionServer) -> list[bytes]:
    client = redis.Redis.from_url(server.redis_url)
    try:
        return sorted(client.scan_iter("tpr:boundaries:*"))
    finally:
        client.close()


def assert_refused(response: requests.Response, server: ActionServer, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert isinstance(message, str) and len(message) > 20 and message.endswith(".")
    assert "Traceback" not in message
    assert boundary_keys(server) == [] and server.dataset_keys() == []
    assert server.alive()
    return message


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["geojson", "shapefile", "geopackage"])
def test_boundary_file_is_stored_for_its_sender(
    action_server: ActionServer, redis_url: str, kind: str, tmp_path: Path
) -> None:
    if kind == "geojson":
        data = frame().to_json().encode()
    elif kind == "shapefile":
        data = shapefile_zip_bytes(frame(crs=32632))  # projected: reprojected on upload
    else:
        path = tmp_path / "w.gpkg"
        frame(state="STATE", lga="LGA", ward="WARD").to_file(path, driver="GPKG")
        data = path.read_bytes()
    response = post_file(action_server, data, "anything.bin", sender="s1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["wards"] == 3 and body["lgas"] == 2 and body["states"] == ["Adamawa"]
    boundaries_id = body["boundaries_id"]
    assert len(boundaries_id) >= 40
    keys = boundary_keys(action_server)
    client = redis.Redis.from_url(redis_url)
    assert all(0 < client.ttl(key) <= 7 * 24 * 3600 for key in keys)  # both keys expire
    client.close()
    assert keys == sorted([f"tpr:boundaries:{{{boundaries_id}}}".encode(),
                           f"tpr:boundaries:{{{boundaries_id}}}:meta".encode()])  # fmt: skip

    async def check() -> None:
        store = BoundaryStore(redis_url=redis_url)
        loaded = await store.load(boundaries_id, owner="s1")
        assert list(loaded.wards["ward"]) == ["Bille", "Yelwa", "Yelwa"]
        xmin, _, xmax, _ = loaded.wards.total_bounds
        assert xmin == pytest.approx(12.0, abs=1e-5) and xmax == pytest.approx(12.29, abs=1e-5)
        for owner, wanted in (("s2", boundaries_id), ("s1", "x" * 43)):
            with pytest.raises(BoundariesNotFound) as error:
                await store.load(wanted, owner=owner)
            assert "upload the boundary file again" in str(error.value)
        await store.close()

    import asyncio

    asyncio.run(check())


def test_geojson_download_type_is_geo_json(action_server: ActionServer, redis_url: str) -> None:
    import asyncio

    from actions.service.dataset_store import ResultFileStore

    async def save() -> str:
        store = ResultFileStore(redis_url=redis_url)
        token = await store.save("s1", "tpr_map_adamawa.geojson", "application/geo+json", b"{}")
        await store.close()
        return token

    token = asyncio.run(save())
    response = requests.get(f"{action_server.url}/api/download/{token}", timeout=30)
    assert response.headers["Content-Type"] == "application/geo+json"
    assert 'filename="tpr_map_adamawa.geojson"' in response.headers["Content-Disposition"]


POINTS = gpd.GeoDataFrame({"statename": ["Adamawa"], "lganame": ["Fufore"],
                           "wardname": ["Bille"]}, geometry=gpd.points_from_xy([12], [9]),
                          crs=4326)  # fmt: skip


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: zipped({"wards.shp": b"\0" * 100, "wards.shx": b"\0" * 100}), ".dbf"),
        (lambda: zipped({"wards.dbf": b"\0" * 100, "wards.prj": b"GEOGCS"}), ".shp"),
        (lambda: json.dumps({"type": "Polygon", "coordinates": []}).encode(),
         "not a FeatureCollection"),
        (lambda: POINTS.to_json().encode(), "not ward polygons"),
        (lambda: frame(lga="district", ward="unit").rename(
            columns={"district": "d", "unit": "u"}).to_json().encode(), "name field"),
        (lambda: frame(x0=30.0).to_json().encode(), "outside Nigeria"),
        (lambda: b'{"type": "FeatureCollection", "features": [', "could not be read"),
    ],
    ids=["zip-without-dbf", "zip-without-shp", "geometry-not-collection", "points",
         "no-name-fields", "outside-nigeria", "truncated-json"],
)  # fmt: skip
def test_bad_boundary_files_are_refused(
    action_server: ActionServer, redis_url: str, make, words: str
) -> None:
    message = assert_refused(post_file(action_server, make(), "wards.geojson"), action_server, 422)
    assert words in message


def test_shapefile_zip_bomb_is_refused(action_server: ActionServer, redis_url: str) -> None:
    bomb = zipped({"wards.shp": b"\0" * (60 * 1024 * 1024), "wards.dbf": b"\0" * 100})
    assert len(bomb) < 1024 * 1024
    message = assert_refused(post_file(action_server, bomb, "wards.zip"), action_server, 422)
    assert "zip bomb" in message and "boundary file" in message


def test_boundary_file_over_the_limit_is_refused(
    action_server: ActionServer, redis_url: str
) -> None:
    padding = b" " * (TEST_UPLOAD_MAX_BYTES + 1000)
    data = frame().to_json().encode()[:-1] + padding + b"}"
    message = assert_refused(post_file(action_server, data, "wards.geojson"), action_server, 413)
    assert "limit" in message
