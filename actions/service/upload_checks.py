"""Checks on an uploaded file before the engine sees it, and the parse step run in a worker.

Why here and not in the engine: the engine trusts its input to be a spreadsheet; these checks
decide that from the bytes (never the extension), refuse zip bombs from the zip directory
alone, and turn every problem into a sentence an analyst understands.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass

MB = 1024 * 1024
# A three-year national workbook (~1M rows) is 75-85 MB as xlsx; 120 MB leaves headroom.
DEFAULT_UPLOAD_MAX_BYTES = 120 * MB
# A national ward boundary file is 30-120 MB (nmep-format.md, "Boundary files").
DEFAULT_BOUNDARY_MAX_BYTES = 120 * MB
# A national one-year workbook (340k rows) is ~27 MB zipped and ~0.26 GB of XML with inline
# strings (xlsxwriter's constant_memory mode); three years (~1M rows, 79 MB) inflate to
# ~0.78 GB. 2 GiB leaves room; the engine reads sheets that big in row blocks.
DEFAULT_MAX_UNCOMPRESSED_BYTES = 2048 * MB
DEFAULT_MAX_ZIP_ENTRIES = 2000
# Spreadsheet XML compresses 5-60x; a deflate bomb reaches ~1000x. Only big entries are judged.
MAX_COMPRESSION_RATIO = 250
RATIO_CHECK_MIN_BYTES = 4 * MB

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
ACCEPTED = "Please upload the NMEP workbook as .xlsx, .xls or .csv."

# Signatures of files people upload by mistake, with a friendly name for the message.
KNOWN_OTHER_TYPES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"{\\rtf", "an RTF document"),
)


class UploadRejected(Exception):
    """A file we will not parse; `message` is shown to the analyst, `status` is the HTTP code."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = DEFAULT_UPLOAD_MAX_BYTES
    boundary_max_bytes: int = DEFAULT_BOUNDARY_MAX_BYTES
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
    max_zip_entries: int = DEFAULT_MAX_ZIP_ENTRIES

    @classmethod
    def from_env(cls) -> UploadLimits:
        return cls(
            max_bytes=int(os.environ.get("UPLOAD_MAX_BYTES", DEFAULT_UPLOAD_MAX_BYTES)),
            boundary_max_bytes=int(
                os.environ.get("BOUNDARY_MAX_BYTES", DEFAULT_BOUNDARY_MAX_BYTES)
            ),
            max_uncompressed_bytes=int(
                os.environ.get("UPLOAD_MAX_UNCOMPRESSED_BYTES", DEFAULT_MAX_UNCOMPRESSED_BYTES)
            ),
            max_zip_entries=int(os.environ.get("UPLOAD_MAX_ZIP_ENTRIES", DEFAULT_MAX_ZIP_ENTRIES)),
        )

    @property
    def any_max_bytes(self) -> int:
        """The largest file of any kind: what the request body may reach before sniffing."""
        return max(self.max_bytes, self.boundary_max_bytes)


@dataclass(frozen=True)
class SniffedFile:
    kind: str  # "xlsx" | "xls" | "csv", or a boundary file: "geojson" | "gpkg" | "shp.zip"
    data: bytes  # for csv: re-encoded as UTF-8

    @property
    def is_boundaries(self) -> bool:
        return self.kind in BOUNDARY_KINDS


BOUNDARY_KINDS = ("geojson", "gpkg", "shp.zip")
BOUNDARIES_ACCEPTED = (
    "Please upload ward boundaries as GeoJSON, a zipped shapefile or a GeoPackage."
)


def human_size(n: int) -> str:
    return f"{n / MB:.0f} MB" if n >= MB else f"{max(n, 1) / 1024:.0f} KB"


def too_large_message(limit: int) -> str:
    return (
        f"The file is larger than the {human_size(limit)} limit. "
        "Please upload a smaller export (for example one state or fewer months)."
    )


def boundaries_too_large_message(limit: int) -> str:
    return (
        f"The boundary file is larger than the {human_size(limit)} limit. Please upload the "
        "wards of fewer states, or a zipped shapefile or GeoPackage (smaller than GeoJSON)."
    )


def safe_source_name(filename: str | None, kind: str) -> str:
    """A display name from the user's file name: base name only, harmless characters, our
    extension. It is shown in summaries and never used as a path."""
    base = re.split(r"[\\/]", filename or "")[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = re.sub(r"[^A-Za-z0-9 _().-]+", "_", stem).strip(" ._")[:80] or "upload"
    return f"{stem}.{kind}"


def sniff(data: bytes, limits: UploadLimits) -> SniffedFile:
    """Decide the type from the content and refuse what we cannot safely parse."""
    if not data or not data.strip():
        raise UploadRejected("The file is empty. " + ACCEPTED, 400)
    boundary_kind = sniff_boundaries(data)
    if boundary_kind:
        if len(data) > limits.boundary_max_bytes:
            raise UploadRejected(boundaries_too_large_message(limits.boundary_max_bytes), 413)
        if boundary_kind == "shp.zip":
            check_zip_directory(data, limits, "boundary file")
        return SniffedFile(boundary_kind, data)
    if len(data) > limits.max_bytes:
        raise UploadRejected(too_large_message(limits.max_bytes), 413)
    if data.startswith(ZIP_MAGICS):
        check_xlsx_zip(data, limits)
        return SniffedFile("xlsx", data)
    if data.startswith(OLE_MAGIC):
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise UploadRejected(
                "The workbook is password-protected. Please remove the password in Excel "
                "(File > Info > Protect Workbook), save it and upload it again.",
                422,
            )
        return SniffedFile("xls", data)
    for magic, name in KNOWN_OTHER_TYPES:
        if data.startswith(magic):
            raise UploadRejected(f"This file is {name}, not a spreadsheet. {ACCEPTED}", 415)
    return SniffedFile("csv", decode_csv_text(data))


def sniff_boundaries(data: bytes) -> str | None:
    """`geojson`, `gpkg` or `shp.zip` when the content is a ward boundary file, else None
    (the engine's rule, `actions.tpr.boundaries.boundary_kind`)."""
    from actions.tpr.boundaries import boundary_kind

    return boundary_kind(data)


def check_zip_directory(data: bytes, limits: UploadLimits, noun: str = "workbook") -> None:
    """The zip-bomb checks of the central directory, shared by workbooks and shapefiles."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise UploadRejected(
            f"The {noun} is damaged or incomplete (the upload may have been cut off). "
            "Please zip it again and re-upload.",
            400,
        ) from exc
    with archive:
        _check_entries(archive.infolist(), limits, noun)


def _check_entries(entries: list[zipfile.ZipInfo], limits: UploadLimits, noun: str) -> None:
    if len(entries) > limits.max_zip_entries:
        raise UploadRejected(
            f"The {noun} contains {len(entries):,} internal parts, more than it ever needs, "
            "so it was not opened.",
            422,
        )
    total = 0
    for entry in entries:
        total += entry.file_size
        if (
            entry.file_size > RATIO_CHECK_MIN_BYTES
            and entry.file_size > MAX_COMPRESSION_RATIO * max(entry.compress_size, 1)
        ):
            raise UploadRejected(
                f"The {noun} expands to an implausible size when opened (it may be a "
                "'zip bomb'), so it was not opened. Please export the data again.",
                422,
            )
    if total > limits.max_uncompressed_bytes:
        raise UploadRejected(
            f"The {noun} expands to {human_size(total)} when opened, more than the "
            f"{human_size(limits.max_uncompressed_bytes)} we can process. Please split "
            "it (for example by state) and upload the parts.",
            422,
        )


def check_xlsx_zip(data: bytes, limits: UploadLimits) -> None:
    """Zip checks from the central directory only, before anything is decompressed.

    zipfile never inflates more than an entry's declared size, so bounding the declared sizes
    bounds the work the engine (openpyxl / calamine) can be made to do.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise UploadRejected(
            "The file looks like an Excel workbook but it is damaged or incomplete "
            "(the upload may have been cut off). Please open it in Excel, save it again "
            "and re-upload.",
            400,
        ) from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > limits.max_zip_entries:
            raise UploadRejected(
                f"The workbook contains {len(entries):,} internal parts, more than a "
                "spreadsheet ever needs, so it was not opened. " + ACCEPTED,
                422,
            )
        _check_entries(entries, limits, "workbook")
        names = {entry.filename for entry in entries}
        if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
            kind = "a Word document" if "word/document.xml" in names else "a ZIP archive"
            raise UploadRejected(
                f"This file is {kind}, not an Excel workbook or a zipped shapefile. " + ACCEPTED,
                415,
            )


def decode_csv_text(data: bytes) -> bytes:
    """Accept UTF-8 (with or without BOM) and Windows-1252 (Excel's 'CSV' on Windows);
    refuse binary data. Returns UTF-8 so the engine sees one encoding."""
    head = data[: 64 * 1024]
    if b"\x00" in head:
        raise UploadRejected("This file is not a spreadsheet or a text CSV. " + ACCEPTED, 415)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise UploadRejected(
                "The CSV file's characters could not be read. Please save it from Excel "
                "as 'CSV UTF-8' and upload it again.",
                422,
            ) from exc
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    if controls > max(3, len(sample) // 200):
        raise UploadRejected(
            "This file is not readable text, so it is not a CSV we can use. " + ACCEPTED, 415
        )
    first_line = sample.split("\n", 1)[0]
    if not any(sep in first_line for sep in (",", ";", "\t")) and "\n" not in sample.strip():
        raise UploadRejected(
            "This text file has no columns, so it is not an NMEP export. " + ACCEPTED, 422
        )
    return text.encode("utf-8")


def verify_inflated_sizes(data: bytes, noun: str = "workbook") -> None:
    """Inflate every entry (bounded) to prove it is no bigger than the directory declares.

    The directory check alone trusts declared sizes; a crafted zip can declare small sizes
    while its deflate streams expand ~1000x, and the engine's reader (calamine) need not stop
    at the declared size. Runs in the worker; costs about a second for a national workbook.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for entry in archive.infolist():
            start = entry.header_offset
            if data[start : start + 4] != b"PK\x03\x04":
                raise UploadRejected(f"The {noun} is damaged. Please save it again.", 400)
            name_len, extra_len = struct.unpack("<HH", data[start + 26 : start + 30])
            begin = start + 30 + name_len + extra_len
            stream = memoryview(data)[begin : begin + entry.compress_size]
            if entry.compress_type == zipfile.ZIP_STORED:
                continue
            if entry.compress_type != zipfile.ZIP_DEFLATED:
                raise UploadRejected(
                    f"The {noun} uses an unusual compression. Please save it again (a "
                    "workbook as .xlsx from Excel, a shapefile zipped with ordinary ZIP) and "
                    "upload it again.",
                    422,
                )
            inflater = zlib.decompressobj(-15)
            produced = 0
            for offset in range(0, len(stream), 1 << 20):
                chunk = stream[offset : offset + (1 << 20)]
                while chunk:
                    out = inflater.decompress(chunk, 1 << 22)
                    produced += len(out)
                    if produced > entry.file_size:
                        raise UploadRejected(
                            f"The {noun} expands to far more than it declares (it may be a "
                            "'zip bomb'), so it was not opened. Please export the data again.",
                            422,
                        )
                    chunk = inflater.unconsumed_tail
                if inflater.eof:
                    break


def parse_boundaries(data: bytes, filename: str) -> tuple[str, bytes | str, dict | None]:
    """In the worker: read, reproject, repair and simplify a boundary file.

    Returns ("ok", stored bytes, summary with "kind": "boundaries") or ("error", message, None).
    """
    from actions.tpr.boundaries import BoundaryFileError, read_boundaries

    try:
        boundaries = read_boundaries(data, filename)
    except BoundaryFileError as exc:
        return "error", str(exc), None
    return "ok", boundaries.to_bytes(), boundaries.summary()


def parse_upload(data: bytes, filename: str) -> tuple[str, bytes | str, dict | None]:
    """Runs in a worker process: engine parse and summary.

    Returns ("ok", arrow_bytes, summary) or ("error", message, None); exceptions never cross
    the process boundary, so an odd exception class cannot break unpickling.
    """
    from actions.tpr import TPRDataError, load_dataset, summarise

    boundaries = filename.endswith(tuple("." + kind for kind in BOUNDARY_KINDS))
    try:
        if data.startswith(ZIP_MAGICS):
            verify_inflated_sizes(data, "boundary file" if boundaries else "workbook")
        if boundaries:
            return parse_boundaries(data, filename)
        dataset = load_dataset(data, filename=filename)
        summary = summarise(dataset)
        return "ok", dataset.to_bytes(), summary
    except UploadRejected as exc:
        return "error", exc.message, None
    except zipfile.BadZipFile:
        return "error", "The workbook is damaged or incomplete. Please save it again.", None
    except TPRDataError as exc:
        return "error", str(exc), None
    except MemoryError:
        return "error", "The file is too large to process here. Please split it by state.", None
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file for the analyst
        import logging

        logging.getLogger(__name__).exception("upload parse failed: %s", type(exc).__name__)
        if boundaries:
            return "error", "We could not read this boundary file. " + BOUNDARIES_ACCEPTED, None
        return (
            "error",
            "We could not read this file as an NMEP workbook. Please check that it is the "
            "health-facility export (xlsx, xls or csv) and upload it again.",
            None,
        )
