"""Default upload limits fit a three-year national workbook: 75-85 MB, ~0.8 GB of XML (the
tests allow twice that, as other writers' XML is wordier)."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from actions.service.upload_checks import MB, UploadLimits, UploadRejected, sniff
from deploy.stack import client_max_body_size


def workbook_like(size: int, declared_inflated: int) -> bytes:
    """A zip with the parts of an xlsx and one big sheet entry of `size` stored bytes whose
    directory declares `declared_inflated` bytes once inflated (as a deflated sheet would)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", bytes(size))
    data = bytearray(buffer.getvalue())
    entry = data.rfind(b"PK\x01\x02")  # the last central directory entry: the sheet
    assert data[entry + 46 : entry + 46 + 24] == b"xl/worksheets/sheet1.xml"
    struct.pack_into("<I", data, entry + 24, declared_inflated)  # uncompressed size
    return bytes(data)


def test_a_three_year_national_workbook_is_accepted_by_default(monkeypatch) -> None:
    for name in ("UPLOAD_MAX_BYTES", "UPLOAD_MAX_UNCOMPRESSED_BYTES"):
        monkeypatch.delenv(name, raising=False)
    limits = UploadLimits.from_env()
    data = workbook_like(85 * MB, declared_inflated=1900 * MB)
    assert sniff(data, limits).kind == "xlsx"
    with pytest.raises(UploadRejected) as refused:  # well past the limit: still refused
        sniff(data + bytes(40 * MB), limits)
    assert refused.value.status == 413 and "120 MB" in refused.value.message


def test_the_limit_follows_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("UPLOAD_MAX_BYTES", str(50 * MB))
    with pytest.raises(UploadRejected, match="50 MB"):
        sniff(workbook_like(60 * MB, 600 * MB), UploadLimits.from_env())
    monkeypatch.setenv("UPLOAD_MAX_UNCOMPRESSED_BYTES", str(1000 * MB))
    monkeypatch.setenv("UPLOAD_MAX_BYTES", str(200 * MB))
    with pytest.raises(UploadRejected, match="expands to 1900 MB"):
        sniff(workbook_like(85 * MB, 1900 * MB), UploadLimits.from_env())


def test_nginx_body_limit_follows_upload_max_bytes(monkeypatch) -> None:
    monkeypatch.delenv("UPLOAD_MAX_BYTES", raising=False)
    monkeypatch.delenv("BOUNDARY_MAX_BYTES", raising=False)
    assert client_max_body_size() == "124m"  # 120 MB + room for the multipart envelope
    monkeypatch.setenv("UPLOAD_MAX_BYTES", str(200 * MB))
    assert client_max_body_size() == "204m"
