"""Resumable uploads (tus 1.0.0) against the real stack through nginx, with tuspy, a
third-party tus client: a cut connection, a resume from the server's offset by a fresh
client on a second action server instance, and the protocol's error answers."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis
import requests
from tusclient import client as tus_client

from actions.service.upload_checks import UploadLimits
from actions.tpr.sample import sample_frame, write_sample_file
from tests.helpers import free_port
from tests.integration.slow_link import cut_patch
from tests.integration.stack import REPO_ROOT, RunningStack, wait_until

pytestmark = pytest.mark.integration

CHUNK = 64 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An NMEP workbook of about 0.5 MB: eight chunks of CHUNK bytes."""
    frame = sample_frame("A", states=2, rows_per_state=3500, seed=11)
    path = write_sample_file(frame, tmp_path_factory.mktemp("tus") / "two_states.xlsx", "A")
    assert path.stat().st_size > 6 * CHUNK
    return path


@pytest.fixture(scope="module")
def second_action_server(shared_stack: RunningStack, tmp_path_factory) -> Iterator[str]:
    """Another action server instance on the stack's Redis (not behind nginx), by PID."""
    port = free_port()
    env = dict(shared_stack.env)
    env.update(PYTHONPATH=str(REPO_ROOT), REDIS_URL=shared_stack.redis_url, ACTION_PORT=str(port))
    log = open(tmp_path_factory.mktemp("actions-2") / "actions.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "actions.service.server"],
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(f"{url}/api/health", timeout=2).status_code == 200
        except requests.RequestException:
            return process.poll() is not None and pytest.fail("second action server died")

    try:
        wait_until(answers, timeout=180, what="the second action server")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def metadata(filename: str, sender: str) -> str:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return f"filename {b64(filename)},sender {b64(sender)}"


def create(web_url: str, sender: str, length: int, filename: str = "f.xlsx") -> str:
    reply = requests.post(
        f"{web_url}/api/uploads/",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(filename, sender),
        },
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    assert reply.headers["Tus-Resumable"] == "1.0.0"
    return requests.compat.urljoin(f"{web_url}/api/uploads/", reply.headers["Location"])


def head_offset(url: str) -> int:
    reply = requests.head(url, headers=TUS, timeout=30)
    assert reply.status_code == 200, reply.status_code
    return int(reply.headers["Upload-Offset"])


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


def plain_upload(web_url: str, sender: str, path: Path, data: bytes | None = None) -> tuple:
    reply = requests.post(
        f"{web_url}/api/upload",
        params={"sender": sender},
        files={"file": (path.name, data if data is not None else path.read_bytes())},
        timeout=600,
    )
    return reply.status_code, reply.json()


def stored_dataset_bytes(redis_url: str, sender: str, dataset_id: str) -> bytes:
    from actions.service.dataset_store import DatasetStore

    async def load() -> bytes:
        store = DatasetStore(redis_url=redis_url)
        try:
            return (await store.load(dataset_id, owner=sender)).to_bytes()
        finally:
            await store.close()

    return asyncio.run(load())


def test_a_cut_upload_resumes_on_another_instance_and_equals_a_plain_upload(
    shared_stack: RunningStack, second_action_server: str, workbook: Path
) -> None:
    web, sender = shared_stack.web_url, "tus-resume-1"
    size = workbook.stat().st_size
    data = workbook.read_bytes()

    # tuspy sends three chunks through nginx, then stops.
    first = tus_client.TusClient(f"{web}/api/uploads/")
    uploader = first.uploader(
        str(workbook), chunk_size=CHUNK, metadata={"filename": workbook.name, "sender": sender}
    )
    uploader.upload(stop_at=3 * CHUNK)
    url = uploader.url
    assert urlparse(url).netloc == urlparse(web).netloc
    before_cut = head_offset(url)
    assert before_cut == 3 * CHUNK

    # The next chunk is cut after 50 KB: the link drops mid-PATCH.
    sent_before_cut = 50 * 1024
    cut_patch(url, before_cut, CHUNK, data[before_cut : before_cut + sent_before_cut])
    after_cut = wait_until(
        lambda: (o := head_offset(url)) > before_cut and o, timeout=30, what="the cut bytes"
    )
    resent = (before_cut + sent_before_cut) - after_cut
    assert 0 <= resent <= CHUNK, (before_cut, after_cut)
    assert requests.get(url, timeout=30).status_code == 409

    # A fresh tuspy client, on the second action server instance, resumes at that offset.
    other_url = f"{second_action_server}/api/uploads/{url.rsplit('/', 1)[-1]}"
    second = tus_client.TusClient(f"{second_action_server}/api/uploads/")
    resumed = second.uploader(str(workbook), chunk_size=CHUNK, url=other_url)
    assert resumed.offset == after_cut
    resumed.upload()
    assert head_offset(url) == size

    result = requests.get(url, timeout=600)
    assert result.status_code == 200, result.text
    tus_answer = result.json()
    status, plain_answer = plain_upload(web, sender, workbook)
    assert status == 200
    assert {k: v for k, v in tus_answer.items() if k != "dataset_id"} == {
        k: v for k, v in plain_answer.items() if k != "dataset_id"
    }
    assert tus_answer["rows"] == 7000 and tus_answer["states"] == ["Adamawa", "Kwara"]
    assert stored_dataset_bytes(
        shared_stack.redis_url, sender, tus_answer["dataset_id"]
    ) == stored_dataset_bytes(shared_stack.redis_url, sender, plain_answer["dataset_id"])
    # A second GET answers the same (the file is parsed once), from the other instance too.
    assert requests.get(other_url, timeout=60).json() == tus_answer


def test_wrong_offset_is_409_and_an_unfinished_upload_is_409(shared_stack: RunningStack) -> None:
    web = shared_stack.web_url
    url = create(web, "tus-offsets", 1000)
    assert patch(url, 0, b"a" * 400).status_code == 204
    wrong = patch(url, 100, b"b" * 100)
    assert wrong.status_code == 409
    assert wrong.headers["Upload-Offset"] == "400"
    assert head_offset(url) == 400
    unfinished = requests.get(url, timeout=30)
    assert unfinished.status_code == 409 and "not fully arrived" in unfinished.json()["error"]
    # Too many bytes for the declared length, and a PATCH without the tus content type.
    assert patch(url, 400, b"c" * 601).status_code == 413
    bare = requests.patch(url, data=b"x", headers={**TUS, "Upload-Offset": "400"}, timeout=30)
    assert bare.status_code == 415
    assert head_offset(url) == 400


def test_a_bad_file_via_tus_gets_the_same_4xx_as_a_plain_upload(
    shared_stack: RunningStack,
) -> None:
    web, sender = shared_stack.web_url, "tus-bad-file"
    pdf = b"%PDF-1.4\n" + b"0" * 5000
    status, plain = plain_upload(web, sender, Path("report.xlsx"), pdf)
    assert 400 <= status < 500 and "PDF" in plain["error"]
    url = create(web, sender, len(pdf), "report.xlsx")
    assert patch(url, 0, pdf).status_code == 204
    answer = requests.get(url, timeout=60)
    assert (answer.status_code, answer.json()) == (status, plain)


def test_an_expired_upload_is_404(shared_stack: RunningStack) -> None:
    web = shared_stack.web_url
    url = create(web, "tus-expired", 1000)
    assert patch(url, 0, b"a" * 10).status_code == 204
    upload_id = url.rsplit("/", 1)[-1]
    client = redis.Redis.from_url(shared_stack.redis_url)
    keys = [f"tpr:tus:{{{upload_id}}}:meta", f"tpr:tus:{{{upload_id}}}:data"]
    ttl = client.ttl(keys[0])
    assert 23 * 3600 < ttl <= 24 * 3600  # TUS_UPLOAD_TTL_SECONDS default: one day
    for key in keys:  # what Redis does when the TTL runs out
        client.pexpire(key, 1)
    time.sleep(0.05)
    assert requests.head(url, headers=TUS, timeout=30).status_code == 404
    assert patch(url, 10, b"b").status_code == 404
    gone = requests.get(url, timeout=30)
    assert gone.status_code == 404 and "expired" in gone.json()["error"]


def test_protocol_discovery_limits_and_unknown_routes(shared_stack: RunningStack) -> None:
    web = shared_stack.web_url
    options = requests.options(f"{web}/api/uploads/", timeout=30)
    assert options.status_code == 204
    assert options.headers["Tus-Version"] == "1.0.0"
    assert set(options.headers["Tus-Extension"].split(",")) >= {"creation", "termination"}
    max_size = int(options.headers["Tus-Max-Size"])
    assert max_size == UploadLimits.from_env().any_max_bytes

    too_big = requests.post(
        f"{web}/api/uploads/",
        headers={**TUS, "Upload-Length": str(max_size + 1), "Upload-Metadata": metadata("a", "s")},
        timeout=30,
    )
    assert too_big.status_code == 413 and "MB" in too_big.json()["error"]
    no_sender = requests.post(
        f"{web}/api/uploads/", headers={**TUS, "Upload-Length": "10"}, timeout=30
    )
    assert no_sender.status_code == 400
    old_client = requests.post(
        f"{web}/api/uploads/", headers={"Tus-Resumable": "0.2.2", "Upload-Length": "1"}, timeout=30
    )
    assert old_client.status_code == 412 and old_client.headers["Tus-Version"] == "1.0.0"

    # Open uploads per sender are limited (TUS_MAX_OPEN_PER_SENDER, default 3); a
    # terminated one no longer counts.
    many = f"tus-many-{uuid.uuid4().hex[:8]}"
    urls = [create(web, many, 10) for _ in range(3)]
    refused = requests.post(
        f"{web}/api/uploads/",
        headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata("a", many)},
        timeout=30,
    )
    assert refused.status_code == 429 and "unfinished uploads" in refused.json()["error"]
    assert requests.delete(urls[0], headers=TUS, timeout=30).status_code == 204
    assert requests.head(urls[0], headers=TUS, timeout=30).status_code == 404
    create(web, many, 10)

    # A PATCH bigger than one chunk is stopped by nginx, with a sentence.
    url = create(web, f"tus-big-{uuid.uuid4().hex[:8]}", 20 * 1024 * 1024)
    too_big_patch = patch(url, 0, b"x" * (10 * 1024 * 1024))
    assert too_big_patch.status_code == 413
    assert "pieces of at most 8 MB" in too_big_patch.json()["error"]
    assert head_offset(url) == 0

    unknown = requests.get(f"{web}/api/no-such-route", timeout=30)
    assert unknown.status_code == 404 and "error" in unknown.json()
