"""The /api routes over real HTTP against a real action server process and a private Redis.

Every bad file must give a 4xx with a sentence for the analyst, store nothing and leave the
process running; good files are stored for their sender only.
"""

from __future__ import annotations

import asyncio
import io
import secrets
import socket
import statistics
import struct
import threading
import time
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
import xlsxwriter

from actions.service.dataset_store import DatasetNotFound, DatasetStore, ResultFileStore
from actions.tpr.sample import indicator_headers, sample_frame, write_sample_file
from tests.web.conftest import TEST_UPLOAD_MAX_BYTES, ActionServer

TIMEOUT = 300  # a loaded 2-core CI machine parses slowly; never a reason to fail


def post_file(
    server: ActionServer, data: bytes, filename: str = "upload.xlsx", sender: str | None = "s1"
) -> requests.Response:
    params = {"sender": sender} if sender is not None else {}
    return requests.post(
        f"{server.url}/api/upload",
        params=params,
        files={"file": (filename, data, "application/octet-stream")},
        timeout=TIMEOUT,
    )


def assert_refused(
    response: requests.Response, server: ActionServer, status: int | None = None
) -> str:
    """4xx with a readable sentence, nothing stored, server still up."""
    assert 400 <= response.status_code < 500, response.text
    if status is not None:
        assert response.status_code == status, response.text
    message = response.json()["error"]
    assert isinstance(message, str) and len(message) > 20 and message.endswith(".")
    assert "Traceback" not in message and "Exception" not in message
    assert server.dataset_keys() == []
    assert server.alive()
    assert requests.get(f"{server.url}/api/health", timeout=30).status_code == 200
    return message


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Sample workbooks written once per module by the engine's generator."""
    folder = tmp_path_factory.mktemp("uploads")
    made: dict[str, Path] = {}
    frame_a = sample_frame("A", states=2, rows_per_state=120, seed=3)
    made["xlsx"] = write_sample_file(frame_a, folder / "two_states.xlsx", "A")
    frame_c = sample_frame("C", states=1, rows_per_state=80, seed=4)
    frame_c["WardName"] = frame_c["WardName"].where(frame_c.index % 9 != 0, "Garkida Café")
    made["cp1252"] = write_sample_file(frame_c, folder / "kwara_cp1252.csv", "C", encoding="cp1252")
    # Enough rows that parsing takes a while, to probe the event loop during it.
    frame_big = sample_frame("B", states=37, rows_per_state=900, seed=5)
    made["big"] = write_sample_file(frame_big, folder / "national.xlsx", "B")
    return made


# --- good files and sender scoping -----------------------------------------------------------


def test_xlsx_upload_is_stored_for_its_sender_only(
    action_server: ActionServer, redis_url: str, files: dict[str, Path]
) -> None:
    response = post_file(action_server, files["xlsx"].read_bytes(), "two_states.xlsx", "alice")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["states"] == ["Adamawa", "Kwara"]
    assert body["rows"] > 200 and body["layout"] == "A"
    dataset_id = body["dataset_id"]
    assert len(dataset_id) >= 20

    async def check() -> None:
        store = DatasetStore(redis_url=redis_url)
        try:
            summary = await store.load_summary(dataset_id, owner="alice")
            assert summary["states"] == ["Adamawa", "Kwara"]
            with pytest.raises(DatasetNotFound):
                await store.load_summary(dataset_id, owner="mallory")
        finally:
            await store.close()

    asyncio.run(check())


def test_type_comes_from_content_not_extension(
    action_server: ActionServer, redis_url: str, files: dict[str, Path]
) -> None:
    response = post_file(action_server, files["xlsx"].read_bytes(), "misnamed.csv")
    assert response.status_code == 200, response.text
    assert response.json()["source"].endswith(".xlsx")


def test_cp1252_csv_is_accepted(
    action_server: ActionServer, redis_url: str, files: dict[str, Path]
) -> None:
    data = files["cp1252"].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the file really is Windows-1252
    response = post_file(action_server, data, "kwara.csv")
    assert response.status_code == 200, response.text
    assert response.json()["states"] == ["Adamawa"]


def test_formula_cells_are_read_as_their_saved_values(
    action_server: ActionServer, redis_url: str, tmp_path: Path
) -> None:
    """Formulas never run and never become names: the saved (cached) values are used."""
    frame = sample_frame("A", states=1, rows_per_state=30, seed=6)
    tested = indicator_headers("A")["rdt_tested_u5"]
    path = tmp_path / "formulas.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("raw")
    sheet.write_row(0, 0, list(frame.columns))
    for row, values in enumerate(frame.astype(object).itertuples(index=False), start=1):
        for col, value in enumerate(values):
            name = frame.columns[col]
            if name == tested:
                sheet.write_formula(row, col, "=999+1", None, 1000)
            elif name == "State":
                sheet.write_formula(row, col, '=CONCATENATE("ad ","Adamawa State")', None, value)
            elif isinstance(value, str):
                sheet.write_string(row, col, value)
            elif value == value and value is not None:
                sheet.write_number(row, col, float(value))
    book.close()
    response = post_file(action_server, path.read_bytes(), "formulas.xlsx")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["states"] == ["Adamawa"]
    assert body["by_state"]["Adamawa"]["age_groups"]["u5"]["rdt_tests"] == 1000 * body["rows"]


# --- bad files ---------------------------------------------------------------------------------


def test_wrong_types_are_refused(action_server: ActionServer, redis_url: str) -> None:
    pdf = assert_refused(post_file(action_server, b"%PDF-1.7\n" + b"x" * 500), action_server, 415)
    assert "PDF" in pdf
    png = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(300)
    assert_refused(post_file(action_server, png, "chart.xlsx"), action_server, 415)
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    message = assert_refused(post_file(action_server, docx.getvalue()), action_server, 415)
    assert "Word" in message


def test_binary_garbage_and_undecodable_text_are_refused(
    action_server: ActionServer, redis_url: str
) -> None:
    garbage = secrets.token_bytes(4096)
    assert_refused(post_file(action_server, garbage, "data.csv"), action_server)
    control_text = b"State,LGA\r\n" + bytes(range(1, 9)) * 400
    message = assert_refused(post_file(action_server, control_text, "data.csv"), action_server)
    assert "CSV" in message or "spreadsheet" in message


def test_corrupt_zip_is_refused(
    action_server: ActionServer, redis_url: str, files: dict[str, Path]
) -> None:
    data = files["xlsx"].read_bytes()
    message = assert_refused(post_file(action_server, data[: len(data) // 2]), action_server, 400)
    assert "damaged" in message


def test_empty_files_are_refused(action_server: ActionServer, redis_url: str) -> None:
    assert "empty" in assert_refused(post_file(action_server, b""), action_server, 400)
    assert "empty" in assert_refused(post_file(action_server, b" \r\n\t"), action_server, 400)


def test_file_without_indicator_columns_is_refused(
    action_server: ActionServer, redis_url: str
) -> None:
    csv = b"State,LGA,Ward,Facility\r\nAdamawa,Fufore,Bille,Bille PHC\r\n" * 3
    message = assert_refused(post_file(action_server, csv, "no_tests.csv"), action_server, 422)
    assert "column" in message


def zip_with(entries: dict[str, bytes], level: int = 6) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def workbook_parts(sheet: bytes = b"<worksheet/>") -> dict[str, bytes]:
    return {
        "[Content_Types].xml": b"<Types/>",
        "xl/workbook.xml": b"<workbook/>",
        "xl/worksheets/sheet1.xml": sheet,
    }


def test_zip_bomb_by_ratio_is_refused(action_server: ActionServer, redis_url: str) -> None:
    bomb = zip_with(workbook_parts(b"\0" * (60 * 1024 * 1024)), level=9)
    assert len(bomb) < 1024 * 1024
    message = assert_refused(post_file(action_server, bomb), action_server, 422)
    assert "zip bomb" in message


def test_zip_bomb_by_declared_size_is_refused(action_server: ActionServer, redis_url: str) -> None:
    """Sizes patched in the directory: refused before anything is inflated."""
    data = bytearray(zip_with(workbook_parts(b"<worksheet>" + b"<row/>" * 1000 + b"</worksheet>")))
    position = data.find(b"PK\x01\x02")
    while position != -1:
        data[position + 24 : position + 28] = struct.pack("<I", 0xFFFF0000)
        position = data.find(b"PK\x01\x02", position + 4)
    message = assert_refused(post_file(action_server, bytes(data)), action_server, 422)
    assert "expands" in message


def test_zip_entry_that_inflates_beyond_its_declared_size_is_refused(
    action_server: ActionServer, redis_url: str
) -> None:
    """A directory that under-declares: the worker inflates (bounded) and refuses."""
    data = bytearray(zip_with(workbook_parts(b"<worksheet>" + b"<row/>" * 200_000 + b"</w>")))
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        position = data.find(signature)
        while position != -1:
            declared = struct.unpack("<I", data[position + offset : position + offset + 4])[0]
            if declared > 100_000:
                data[position + offset : position + offset + 4] = struct.pack("<I", 1000)
            position = data.find(signature, position + 4)
    message = assert_refused(post_file(action_server, bytes(data)), action_server, 422)
    assert "zip bomb" in message


def test_zip_with_too_many_entries_is_refused(action_server: ActionServer, redis_url: str) -> None:
    entries = workbook_parts()
    entries.update({f"xl/media/{i}.bin": b"" for i in range(2500)})
    message = assert_refused(post_file(action_server, zip_with(entries)), action_server, 422)
    assert "parts" in message


def test_oversize_body_is_refused_with_413(action_server: ActionServer, redis_url: str) -> None:
    big = b"State,LGA,Ward\r\n" + b"a,b,c\r\n" * (TEST_UPLOAD_MAX_BYTES // 7 + 10)
    message = assert_refused(post_file(action_server, big, "big.csv"), action_server, 413)
    assert "limit" in message


def test_oversize_is_refused_from_content_length_before_the_body(
    action_server: ActionServer, redis_url: str
) -> None:
    """The 413 arrives although not one body byte was sent (slow links must not wait)."""
    address = urlparse(action_server.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as conn:
        conn.sendall(
            b"POST /api/upload?sender=s1 HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=zz\r\n"
            b"Content-Length: 900000000\r\n\r\n"
        )
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert action_server.alive()


def test_chunked_oversize_is_refused(action_server: ActionServer, redis_url: str) -> None:
    boundary = "b0undary"

    def body() -> object:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n'
        ).encode()
        for _ in range(TEST_UPLOAD_MAX_BYTES // (1 << 20) + 3):
            yield b"a,b\r\n" * (1 << 18)
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        response = requests.post(
            f"{action_server.url}/api/upload",
            params={"sender": "s1"},
            data=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=TIMEOUT,
        )
    except requests.ConnectionError:
        # The server may cut the stream before the client reads its 413: still a refusal,
        # so the same guarantees hold (nothing stored, server up and answering).
        assert action_server.dataset_keys() == []
        assert action_server.alive()
        assert requests.get(f"{action_server.url}/api/health", timeout=30).status_code == 200
        return
    assert_refused(response, action_server, 413)


def test_missing_or_invalid_sender_is_refused(
    action_server: ActionServer, redis_url: str, files: dict[str, Path]
) -> None:
    data = files["xlsx"].read_bytes()
    missing = post_file(action_server, data, sender=None)
    assert "sender" in assert_refused(missing, action_server, 400)
    assert_refused(post_file(action_server, data, sender="../../etc"), action_server, 400)
    assert_refused(post_file(action_server, data, sender="x" * 300), action_server, 400)


def test_request_without_file_field_is_refused(action_server: ActionServer, redis_url: str) -> None:
    response = requests.post(
        f"{action_server.url}/api/upload",
        params={"sender": "s1"},
        files={"other": ("a.csv", b"x,y\r\n1,2\r\n")},
        timeout=TIMEOUT,
    )
    assert_refused(response, action_server, 400)


# --- health during a parse ---------------------------------------------------------------------


def test_health_answers_promptly_while_an_upload_is_parsed(
    action_server: ActionServer, redis_url: str, files: dict[str, Path]
) -> None:
    data = files["big"].read_bytes()
    outcome: dict[str, requests.Response] = {}

    def upload() -> None:
        outcome["response"] = post_file(action_server, data, "national.xlsx")

    worker = threading.Thread(target=upload)
    worker.start()
    latencies: list[float] = []
    while worker.is_alive():
        started = time.monotonic()
        assert requests.get(f"{action_server.url}/api/health", timeout=30).status_code == 200
        latencies.append(time.monotonic() - started)
        worker.join(timeout=0.1)
    worker.join()
    response = outcome["response"]
    assert response.status_code == 200, response.text
    assert len(response.json()["states"]) == 37
    assert len(latencies) >= 3, "the upload finished too fast to probe the event loop"
    # The parse happens in another process: health never waits for it (typically a few ms).
    # Bounds generous enough for a loaded 2-core CI machine.
    assert statistics.median(latencies) < 0.5, latencies
    assert max(latencies) < 3.0, latencies


# --- downloads ---------------------------------------------------------------------------------


def save_result(redis_url: str, filename: str, content_type: str, data: bytes, ttl: int) -> str:
    async def save() -> str:
        store = ResultFileStore(redis_url=redis_url, ttl_seconds=ttl)
        try:
            return await store.save(
                owner="alice", filename=filename, content_type=content_type, data=data
            )
        finally:
            await store.close()

    return asyncio.run(save())


def test_download_serves_the_file_with_a_safe_name(
    action_server: ActionServer, redis_url: str
) -> None:
    csv = b"state,lga,ward,tpr\r\nAdamawa,Fufore,Bille,41.5\r\n"
    token = save_result(redis_url, '../../etc/"tpr"\r\n adamawa.csv', "text/csv", csv, 600)
    response = requests.get(f"{action_server.url}/api/download/{token}", timeout=30)
    assert response.status_code == 200
    assert response.content == csv
    assert response.headers["Content-Type"].startswith("text/csv")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    name = disposition.split("filename=", 1)[1].strip('"')
    assert name.endswith(".csv") and "/" not in name and ".." not in name and '"' not in name
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    token = save_result(redis_url, "chart.png", "image/png", png, 600)
    response = requests.get(f"{action_server.url}/api/download/{token}", timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline;")


def test_unknown_malformed_and_guessed_tokens_are_404(
    action_server: ActionServer, redis_url: str
) -> None:
    real = save_result(redis_url, "a.csv", "text/csv", b"x\r\n", 600)
    assert len(real) >= 43  # 256 bits from secrets.token_urlsafe
    guesses = [secrets.token_urlsafe(32) for _ in range(20)]
    guesses += [real[:-1] + ("A" if real[-1] != "A" else "B"), "..%2F..%2Fetc%2Fpasswd", "x"]
    for guess in guesses:
        response = requests.get(f"{action_server.url}/api/download/{guess}", timeout=30)
        assert response.status_code == 404
        assert "expired or does not exist" in response.json()["error"]


def test_expired_token_is_404(action_server: ActionServer, redis_url: str) -> None:
    token = save_result(redis_url, "a.csv", "text/csv", b"x\r\n", ttl=1)
    url = f"{action_server.url}/api/download/{token}"
    assert requests.get(url, timeout=30).status_code == 200
    deadline = time.monotonic() + 30
    status = 200
    while time.monotonic() < deadline and status == 200:
        time.sleep(0.2)
        status = requests.get(url, timeout=30).status_code
    assert status == 404
