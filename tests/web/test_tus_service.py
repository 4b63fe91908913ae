"""tus uploads against a real action server process: racing PATCHes never interleave bytes,
a partial upload outlives the process that received it, and the file is parsed once."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import pytest
import redis
import requests

from actions.tpr.sample import sample_frame, write_sample_file
from tests.web.conftest import ActionServer, run_action_server

TUS = {"Tus-Resumable": "1.0.0"}


def create(server: ActionServer, sender: str, length: int) -> str:
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in (("filename", "w.xlsx"), ("sender", sender))
    )
    reply = requests.post(
        f"{server.url}/api/uploads/",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": meta},
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    return server.url + reply.headers["Location"]


def patch(url: str, offset: int, data: bytes) -> requests.Response:
    return requests.patch(
        url,
        data=data,
        headers={
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
        timeout=300,
    )


def test_racing_patches_at_one_offset_never_interleave(
    action_server: ActionServer, redis_url: str
) -> None:
    size = 3 * 1024 * 1024
    url = create(action_server, "racer", size)
    bodies = [bytes([65 + i]) * (size // 2) for i in range(2)]
    answers: list[int] = [0, 0]

    def send(index: int) -> None:
        answers[index] = patch(url, 0, bodies[index]).status_code

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [204, 409], answers
    upload_id = url.rsplit("/", 1)[-1]
    stored = redis.Redis.from_url(redis_url).get(f"tpr:tus:{{{upload_id}}}:data")
    assert stored == bodies[answers.index(204)]
    head = requests.head(url, headers=TUS, timeout=30)
    assert head.headers["Upload-Offset"] == str(size // 2)


def test_a_partial_upload_outlives_its_action_server(
    action_server: ActionServer,
    redis_url: str,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    workbook = write_sample_file(
        sample_frame("A", states=1, rows_per_state=400, seed=3), tmp_path / "w.xlsx", "A"
    )
    data = workbook.read_bytes()
    half = len(data) // 2
    first = run_action_server(redis_url, tmp_path_factory)
    server = next(first)
    url = create(server, "survivor", len(data))
    assert patch(url, 0, data[:half]).status_code == 204
    first.close()  # the process that took the first half is stopped (by PID)
    assert not server.alive()

    other = url.replace(server.url, action_server.url)
    assert requests.head(other, headers=TUS, timeout=30).headers["Upload-Offset"] == str(half)
    assert patch(other, half, data[half:]).status_code == 204
    answers = [requests.get(other, timeout=300) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["rows"] == 400
    # Parsed once: one dataset stored, and the upload's bytes are gone from Redis.
    assert len([k for k in action_server.dataset_keys() if not k.endswith(b":meta")]) == 1
    upload_id = url.rsplit("/", 1)[-1]
    assert not redis.Redis.from_url(redis_url).exists(f"tpr:tus:{{{upload_id}}}:data")
