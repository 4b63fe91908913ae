"""Reading: bytes of an .xlsx/.xls/.csv file -> the raw table of the columns we need.

fastexcel (Rust calamine) reads workbooks; openpyxl/xlrd are only the fallback when calamine
refuses a file. Every failure becomes a TPRDataError with a sentence an analyst understands.
"""

from __future__ import annotations

import csv
import io
import logging
import posixpath
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree

import pandas as pd

from actions.tpr.columns import (
    ColumnMatch,
    header_score,
    match_columns,
    missing_groups_sentence,
    normalise_header,
)
from actions.tpr.errors import TPRDataError

# calamine warns (on stderr, via logging) about every all-blank column it types as text; blank
# indicator columns are normal in NMEP files and handled here, so those warnings are noise.
logging.getLogger("fastexcel").setLevel(logging.ERROR)

PREVIEW_ROWS = 30
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_MARKERS = ("EncryptedPackage".encode("utf-16-le"), b"EncryptionInfo")
TEXT_COLUMNS = ("state", "lga", "ward", "facility", "level", "period", "country")

NOT_A_SPREADSHEET = (
    "This file is not a spreadsheet. Please upload the NMEP data as an Excel workbook "
    "(.xlsx or .xls) or a CSV file."
)
CORRUPT = (
    "This workbook could not be opened: it looks damaged or incomplete. Open it in Excel, "
    "save it again as .xlsx and upload the new copy."
)
ENCRYPTED = (
    "This workbook is password-protected, so it cannot be read. Remove the password in Excel "
    "(File > Info > Protect Workbook), save it and upload it again."
)
EMPTY = "This file is empty: it has no rows of data."


@dataclass
class RawTable:
    """The needed columns of the data sheet, by canonical field name.

    Text columns may stay Arrow arrays (cleaned through their distinct values only);
    the others are pandas Series.
    """

    columns: dict[str, object]
    n_rows: int
    match: ColumnMatch
    sheet: str | None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, match: ColumnMatch, sheet: str | None) -> RawTable:
        frame = frame.reset_index(drop=True)
        return cls({c: frame[c] for c in frame.columns}, len(frame), match, sheet)


def read_source(source: str | Path | bytes | BinaryIO, filename: str | None) -> tuple[bytes, str]:
    """Bytes and a display name from a path, bytes or binary file object."""
    try:
        if isinstance(source, bytes | bytearray | memoryview):
            return bytes(source), filename or "upload"
        if isinstance(source, str | Path):
            path = Path(source)
            return path.read_bytes(), filename or path.name
        data = source.read()
        name = filename or Path(str(getattr(source, "name", "upload"))).name
        return bytes(data), name
    except FileNotFoundError as error:
        raise TPRDataError(f"The file {source} does not exist.") from error
    except IsADirectoryError as error:
        raise TPRDataError(f"{source} is a folder, not a file.") from error
    except OSError as error:
        raise TPRDataError(f"The file could not be read ({error.strerror}).") from error


def read_table(data: bytes, filename: str) -> RawTable:
    """Find the data sheet, its header row and the needed columns; never raises anything else."""
    if not data.strip():
        raise TPRDataError(EMPTY)
    if data.startswith(_OLE_MAGIC) and any(m in data for m in _ENCRYPTED_MARKERS):
        raise TPRDataError(ENCRYPTED)
    if data.startswith(_ZIP_MAGIC) or data.startswith(_OLE_MAGIC):
        return _read_workbook(data)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" export
        return _read_csv(data.decode("utf-16", errors="replace"))
    if _looks_binary(data):
        raise TPRDataError(NOT_A_SPREADSHEET)
    return _read_csv(decode_text(data))


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return controls > len(head) // 100


# --- workbooks -------------------------------------------------------------------------------


def _read_workbook(data: bytes) -> RawTable:
    try:
        return _read_with_calamine(data)
    except TPRDataError:
        raise
    except Exception as calamine_error:  # noqa: BLE001 - any reader failure -> fallback
        try:
            return _read_with_python_readers(data)
        except TPRDataError:
            raise
        except Exception as error:  # noqa: BLE001 - a broken file must never crash the caller
            text = f"{calamine_error} {error}".casefold()
            if "encrypt" in text or "password" in text:
                raise TPRDataError(ENCRYPTED) from error
            raise TPRDataError(CORRUPT) from error


def _best_header(rows: list[list[object]]) -> tuple[int, int]:
    """(score, index) of the row that looks most like the header among preview rows."""
    best = (0, -1)
    for index, row in enumerate(rows):
        score = header_score(list(row))
        if score > best[0]:
            best = (score, index)
    return best


def _openpyxl_previews(data: bytes) -> list[tuple[str, list[list[object]]]] | None:
    """First rows of every sheet, with absolute row numbers, without parsing whole sheets.

    calamine parses a whole sheet per call, so previews come from openpyxl's streaming
    reader; None when openpyxl cannot open the file (calamine previews are used instead).
    """
    try:
        import openpyxl

        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        previews = [
            (
                sheet.title,
                [list(r) for r in sheet.iter_rows(max_row=PREVIEW_ROWS, values_only=True)],
            )
            for sheet in workbook.worksheets
        ]
        workbook.close()
        return previews
    except Exception:  # noqa: BLE001 - only a faster path; calamine previews follow
        return None


_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CELL_REF = re.compile(r"([A-Z]+)")


def _column_index(reference: str) -> int:
    """`A1` -> 0, `AD7` -> 29."""
    letters = _CELL_REF.match(reference)
    index = 0
    for letter in letters.group(1) if letters else "":
        index = index * 26 + ord(letter) - 64
    return index - 1


def _xlsx_previews(data: bytes) -> list[tuple[str, list[list[object]]]] | None:
    """First PREVIEW_ROWS rows of every sheet, read straight from the workbook's XML.

    Only the top of each sheet is inflated, and only the shared strings those rows use are
    read (Excel and DHIS2 store header texts first), where openpyxl loads the whole shared-
    strings table (seconds on a national file). Row numbers are absolute, as calamine's
    `header_row`. None when the package is unusual; the caller then asks openpyxl.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts, shared_part = _sheet_parts(archive)
            sheets = [(name, _preview_cells(archive, part)) for name, part in parts]
            needed = max(
                (v[1] for _, rows in sheets for row in rows for v in row if isinstance(v, tuple)),
                default=-1,
            )
            strings = _shared_strings(archive, shared_part, needed) if needed >= 0 else []
    except (KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError):
        return None
    resolved = []
    for name, rows in sheets:
        resolved.append(
            (name, [[strings[v[1]] if isinstance(v, tuple) else v for v in row] for row in rows])
        )
    return resolved


def _sheet_parts(archive: zipfile.ZipFile) -> tuple[list[tuple[str, str]], str | None]:
    """[(sheet name, part path)] in workbook order, and the shared-strings part if any."""
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets: dict[str, str] = {}
    shared = None
    for rel in rels.iter(f"{_PKG_REL_NS}Relationship"):
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
        targets[rel.get("Id", "")] = posixpath.normpath(path)
        if rel.get("Type", "").endswith("/sharedStrings"):
            shared = posixpath.normpath(path)
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    parts = [
        (sheet.get("name", ""), targets[sheet.get(f"{_REL_NS}id", "")])
        for sheet in workbook.iter(f"{_MAIN_NS}sheet")
    ]
    return parts, shared


def _preview_cells(archive: zipfile.ZipFile, part: str) -> list[list[object]]:
    """Rows 1..PREVIEW_ROWS of one sheet; shared-string cells as ("s", index) for now."""
    rows: list[list[object]] = []
    with archive.open(part) as stream:
        for _, element in ElementTree.iterparse(stream, events=("end",)):
            if element.tag != f"{_MAIN_NS}row":
                continue
            number = int(element.get("r") or len(rows) + 1)
            if number > PREVIEW_ROWS:
                break
            cells: list[object] = []
            for cell in element.iter(f"{_MAIN_NS}c"):
                reference = cell.get("r")
                position = _column_index(reference) if reference else len(cells)
                cells.extend([None] * (position + 1 - len(cells)))
                cells[position] = _cell_value(cell)
            rows.extend([] for _ in range(number - 1 - len(rows)))
            rows.append(cells)
            element.clear()
    width = max((len(row) for row in rows), default=0)
    return [row + [None] * (width - len(row)) for row in rows]


def _cell_value(cell: ElementTree.Element) -> object:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(f"{_MAIN_NS}t"))
    value = cell.findtext(f"{_MAIN_NS}v")
    if value is None:
        return None
    if kind == "s":
        return ("s", int(value))
    if kind in ("str", "e"):
        return value
    if kind == "b":
        return value == "1"
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


def _shared_strings(archive: zipfile.ZipFile, part: str | None, needed: int) -> list[str]:
    """Shared strings 0..needed (streamed; the rest of the table is never parsed)."""
    if part is None:
        raise KeyError("shared strings used but no sharedStrings part")
    strings: list[str] = []
    with archive.open(part) as stream:
        for _, element in ElementTree.iterparse(stream, events=("end",)):
            if element.tag != f"{_MAIN_NS}si":
                continue
            # Phonetic runs (rPh) are reading aids, not part of the text.
            phonetic = {id(t) for r in element.iter(f"{_MAIN_NS}rPh") for t in r.iter()}
            strings.append(
                "".join(t.text or "" for t in element.iter(f"{_MAIN_NS}t") if id(t) not in phonetic)
            )
            element.clear()
            if len(strings) > needed:
                break
    if len(strings) <= needed:
        raise KeyError("shared string index beyond the table")
    return strings


def _calamine_previews(reader) -> list[tuple[str, list[list[object]]]]:
    previews = []
    for sheet_index, name in enumerate(reader.sheet_names):
        preview = reader.load_sheet(
            sheet_index, header_row=None, n_rows=PREVIEW_ROWS, dtypes="string"
        ).to_pandas()
        previews.append((name, preview.astype(object).where(preview.notna(), None).values.tolist()))
    return previews


def _choose_sheet(previews: list[tuple[str, list[list[object]]]]) -> tuple[int, int]:
    """(sheet position, header row index) of the sheet holding the indicator columns."""
    best = (0, -1, -1)
    for position, (_, rows) in enumerate(previews):
        score, header_index = _best_header(rows)
        if score > best[0]:
            best = (score, position, header_index)
    return best[1], best[2]


def _read_with_calamine(data: bytes) -> RawTable:
    import fastexcel

    reader = None  # opened only when needed: opening parses the whole shared-strings table
    previews = None
    if data.startswith(_ZIP_MAGIC):
        previews = _xlsx_previews(data) or _openpyxl_previews(data)
    absolute_rows = previews is not None
    if previews is None:
        reader = fastexcel.read_excel(data)
        previews = _calamine_previews(reader)
    position, header_index = _choose_sheet(previews)
    if position < 0:
        _raise_no_table(
            reader_has_rows=any(any(c not in (None, "") for c in r) for _, p in previews for r in p)
        )
    sheet_name, rows = previews[position]
    header_cells = rows[header_index]
    match = match_columns(header_cells)
    _check_match(match)
    wanted = _wanted_positions(match)
    positions = sorted(wanted)
    text_positions = [p for f, p in match.locations.items() if f in TEXT_COLUMNS]
    expected = [normalise_header(header_cells[p]) for p in positions]
    # Types given, never guessed from a sample: names as text (a ward called "1" stays "1"),
    # figures as floats (a text cell there, "n/a" or a stray note, arrives blank).
    dtypes = {p: ("string" if p in text_positions else "float") for p in positions}
    # openpyxl counts rows from the top of the sheet as calamine's header_row does; calamine's
    # own previews start at the first non-empty row, so then try the next few offsets too.
    candidates = [header_index] if absolute_rows else []
    candidates += [
        h for h in range(header_index, header_index + PREVIEW_ROWS) if h not in candidates
    ]
    table = None
    if absolute_rows:
        table = _load_in_row_blocks(data, sheet_name, header_index, positions, dtypes, expected)
    if table is None and reader is None:
        reader = fastexcel.read_excel(data)
    for header_row in candidates if table is None else []:
        sheet = reader.load_sheet(
            reader.sheet_names.index(sheet_name),
            header_row=header_row,
            use_columns=positions,
            dtypes=dtypes,
            whitespace_as_null=True,
        )
        loaded = sheet.to_arrow()
        if [normalise_header(n) for n in loaded.column_names] == expected:
            table = loaded
            break
    if table is None:
        raise TPRDataError(CORRUPT)
    columns: dict[str, object] = {}
    for index, p in enumerate(positions):
        column = table.column(index)
        if p in text_positions:
            columns[wanted[p]] = column
        else:
            columns[wanted[p]] = column.to_pandas()
    return RawTable(columns=columns, n_rows=table.num_rows, match=match, sheet=sheet_name)


# --- big sheets in row blocks ---------------------------------------------------------------

WHOLE_SHEET_XML_BYTES = 320 * 1024 * 1024
"""Sheets up to this much XML (a one-year national file: 200-260 MB) go to calamine whole,
the fastest way. calamine holds a sheet as 32-byte cells, all columns, blanks included: a
three-year national file would cost ~1.7 GB, so bigger sheets are read in blocks."""
BLOCK_XML_BYTES = 16 * 1024 * 1024
"""Sheet XML handed to calamine at a time; its peak is then about 5x this, whatever the size
of the file."""

_ROW_START = re.compile(rb'<row r="([0-9]+)"')
_CELL_ROW = re.compile(rb'(<c r="[A-Z]+)[0-9]+"')
_SHEET_DATA = re.compile(rb"<sheetData>|<sheetData/>")
_PACKAGE_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
    'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
    'worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/><Override PartName='
    '"/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.styles+xml"/></Types>'
)
_OFFICE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://'
    'schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
    f'{_OFFICE_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="http://schemas.'
    f'openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{_OFFICE_REL}">{{pr}}<sheets><sheet '
    'name="data" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_PR = re.compile(rb"<workbookPr[^>]*/>")


_BLOCK_SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet '
    b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)


def _stored_zip(entries: list[tuple[str, list[bytes | memoryview]]]) -> bytes:
    """A zip of uncompressed entries, each given as pieces, built with a single copy."""
    out: list[bytes | memoryview] = []
    directory: list[bytes] = []
    offset = 0
    for name, pieces in entries:
        encoded = name.encode()
        crc = 0
        size = 0
        for piece in pieces:
            crc = zlib.crc32(piece, crc)
            size += len(piece)
        if size >= 0xFFFFFFFF:
            raise ValueError("block too large for a plain zip entry")
        local = struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, size, size, len(encoded), 0
        )
        directory.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                0,
                0,
                0x21,
                crc,
                size,
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )  # fmt: skip
            + encoded
        )
        out += [local, encoded, *pieces]
        offset += len(local) + len(encoded) + size
    listing = b"".join(directory)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(listing),
                      offset, 0)  # fmt: skip
    return b"".join([*out, listing, end])


def _workbook_rels(shared: bool, styles: bool) -> str:
    rels = [f'<Relationship Id="rId1" Type="{_OFFICE_REL}/worksheet" '
            'Target="worksheets/sheet1.xml"/>']  # fmt: skip
    if shared:
        rels.append(f'<Relationship Id="rId2" Type="{_OFFICE_REL}/sharedStrings" '
                    'Target="sharedStrings.xml"/>')  # fmt: skip
    if styles:
        rels.append(f'<Relationship Id="rId3" Type="{_OFFICE_REL}/styles" Target="styles.xml"/>')
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://'
        'schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(rels)
        + "</Relationships>"
    )


def _load_in_row_blocks(
    data: bytes,
    sheet_name: str,
    header_index: int,
    positions: list[int],
    dtypes: dict[int, str],
    expected: list[str],
):
    """The used columns of a big sheet, parsed by calamine one block of rows at a time.

    The sheet's XML is inflated as a stream (zipfile stops at the declared size) and cut at
    row ends; each block becomes a small stored workbook: a copy of the header row renumbered
    to sit just above the block, the block's rows, the original shared strings and styles.
    Text columns come back dictionary-encoded, so a million names cost a few MB. None when
    the sheet is small (one block) or its XML is not in the usual form; the caller then
    loads the sheet whole.
    """
    import fastexcel
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        parts, shared_part = _sheet_parts(archive)
        part = dict(parts)[sheet_name]
        if archive.getinfo(part).file_size <= WHOLE_SHEET_XML_BYTES:
            return None
        names = set(archive.namelist())
        shared = archive.read(shared_part) if shared_part in names else None
        styles = archive.read("xl/styles.xml") if "xl/styles.xml" in names else None
        workbook_pr = _WORKBOOK_PR.search(archive.read("xl/workbook.xml"))
        stream = archive.open(part)
    except (KeyError, ValueError, zipfile.BadZipFile):
        return None
    workbook = _WORKBOOK.format(pr=workbook_pr.group(0).decode() if workbook_pr else "")
    package_parts = [
        ("[Content_Types].xml", _PACKAGE_TYPES.encode()),
        ("_rels/.rels", _PACKAGE_RELS.encode()),
        ("xl/workbook.xml", workbook.encode()),
        (
            "xl/_rels/workbook.xml.rels",
            _workbook_rels(shared is not None, styles is not None).encode(),
        ),
    ]
    if shared is not None:
        package_parts.append(("xl/sharedStrings.xml", shared))
    if styles is not None:
        package_parts.append(("xl/styles.xml", styles))
    text_positions = [p for p, kind in dtypes.items() if kind == "string"]
    tables = []
    with archive, stream:
        blocks = _row_blocks(stream, header_index + 1)
        header = next(blocks, None)
        if header is None:
            return None
        for first_row, rows in blocks:
            if first_row is None:
                return None
            above = first_row - 1
            renumbered = _ROW_START.sub(b'<row r="%d"' % above, header, count=1)
            renumbered = _CELL_ROW.sub(rb'\g<1>%d"' % above, renumbered)
            sheet_xml = [_BLOCK_SHEET_HEAD, renumbered, rows, b"</sheetData></worksheet>"]
            package = _stored_zip(
                [(name, [content]) for name, content in package_parts]
                + [("xl/worksheets/sheet1.xml", sheet_xml)]
            )
            del rows, sheet_xml
            loaded = (
                fastexcel.read_excel(package)
                .load_sheet(0, header_row=0, use_columns=positions, dtypes=dtypes,
                            whitespace_as_null=True)
                .to_arrow()
            )  # fmt: skip
            del package
            if isinstance(loaded, pa.RecordBatch):
                loaded = pa.Table.from_batches([loaded])
            if [normalise_header(n) for n in loaded.column_names] != expected:
                return None
            for index, position in enumerate(positions):
                if position in text_positions:
                    encoded = pc.dictionary_encode(loaded.column(index))
                    loaded = loaded.set_column(index, loaded.field(index).name, encoded)
            tables.append(loaded)
    if not tables:
        return None
    schema = pa.schema([field.with_nullable(True) for field in tables[0].schema])
    return pa.concat_tables([t.cast(schema) for t in tables]).unify_dictionaries()


def _row_blocks(stream: BinaryIO, header_row: int):
    """Yield the header row's XML, then (first row number, rows XML) blocks of the sheet.

    A block's first row number is None when rows carry no `r` numbers (then give up).
    """
    pending = b""
    header = None
    while header is None:
        chunk = stream.read(1 << 20)
        if not chunk:
            return
        pending += chunk
        opened = _SHEET_DATA.search(pending)
        if opened is None:
            continue
        for match in _ROW_START.finditer(pending, opened.end()):
            number = int(match.group(1))
            if number < header_row:
                continue
            if number > header_row:
                return  # no header row where the preview found it
            end = pending.find(b"</row>", match.start())
            if end < 0:
                break  # read more
            header = pending[match.start() : end + 6]
            pending = pending[end + 6 :]
            break
        else:
            if len(pending) > 64 * (1 << 20):
                return
    yield header
    pieces = [pending]
    size = len(pending)
    finished = False
    while not finished:
        chunk = stream.read(1 << 23)
        finished = not chunk
        pieces.append(chunk)
        size += len(chunk)
        if not finished and size < BLOCK_XML_BYTES:
            continue
        pending = b"".join(pieces)
        end = pending.find(b"</sheetData>") if finished else -1
        end = len(pending) if end < 0 else end
        position = 0
        while position < end and (finished or end - position >= BLOCK_XML_BYTES):
            cut = pending.rfind(b"</row>", position, position + BLOCK_XML_BYTES)
            if cut < 0:  # one row longer than a block, or the last rows
                cut = pending.find(b"</row>", position, end)
            if cut < 0:
                break
            start = pending.find(b"<row", position, cut)
            if start >= 0:
                number = _ROW_START.match(pending, start)
                rows = memoryview(pending)[start : cut + 6]
                yield (int(number.group(1)) if number else None), rows
                del rows
            position = cut + 6
        tail = pending[position:]
        pieces, size = [tail], len(tail)
        del pending


def _read_with_python_readers(data: bytes) -> RawTable:
    """Fallback: openpyxl for .xlsx, xlrd for .xls; slower but more forgiving."""
    sheets: list[tuple[str, list[list[object]]]] = []
    if data.startswith(_ZIP_MAGIC):
        import openpyxl

        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        for worksheet in workbook.worksheets:
            sheets.append(
                (worksheet.title, [list(r) for r in worksheet.iter_rows(values_only=True)])
            )
        workbook.close()
    else:
        import xlrd

        book = xlrd.open_workbook(file_contents=data)
        for sheet in book.sheets():
            sheets.append((sheet.name, [sheet.row_values(i) for i in range(sheet.nrows)]))
    return _table_from_rows(sheets)


def _table_from_rows(sheets: list[tuple[str, list[list[object]]]]) -> RawTable:
    best: tuple[int, int, int] = (0, -1, -1)
    for sheet_index, (_, rows) in enumerate(sheets):
        score, header_index = _best_header(rows[:PREVIEW_ROWS])
        if score > best[0]:
            best = (score, sheet_index, header_index)
    score, sheet_index, header_index = best
    if sheet_index < 0:
        _raise_no_table(
            reader_has_rows=any(any(c not in (None, "") for r in s for c in r) for _, s in sheets)
        )
    name, rows = sheets[sheet_index]
    match = match_columns(list(rows[header_index]))
    _check_match(match)
    wanted = _wanted_positions(match)
    body = rows[header_index + 1 :]
    positions = sorted(wanted)
    frame = pd.DataFrame(
        [[row[p] if p < len(row) else None for p in positions] for row in body],
        columns=[wanted[p] for p in positions],
        dtype=object,
    )
    frame = frame.replace({"": None})
    return RawTable.from_frame(frame, match, name)


# --- CSV -------------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without a BOM), else cp1252, else latin-1 (which never fails)."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _read_csv(text: str) -> RawTable:
    lines = text.splitlines()[: PREVIEW_ROWS * 3]
    sample = "\n".join(lines)
    delimiter = max((",", ";", "\t", "|"), key=sample.count)
    rows = list(csv.reader(lines, delimiter=delimiter))
    score, header_index = _best_header(rows)
    if header_index < 0:
        if max((len(r) for r in rows), default=0) < 3:
            raise TPRDataError(NOT_A_SPREADSHEET)  # prose, HTML, a log file: no table at all
        has_rows = any(any(cell.strip() for cell in row) for row in rows)
        _raise_no_table(reader_has_rows=has_rows)
    match = match_columns(rows[header_index])
    _check_match(match)
    wanted = _wanted_positions(match)
    positions = sorted(wanted)
    text_positions = {p for f, p in match.locations.items() if f in TEXT_COLUMNS}
    typed = {p: (str if p in text_positions else "float64") for p in positions}
    try:
        try:
            frame = _csv_frame(text, delimiter, header_index, positions, typed)
        except ValueError:
            # A figure column holds text ("n/a" is read as blank already, "none" is not):
            # read those columns untyped; `_numeric` makes their text blank.
            texts = {p: str for p in text_positions}
            frame = _csv_frame(text, delimiter, header_index, positions, texts)
    except (ValueError, pd.errors.ParserError) as error:
        raise TPRDataError(
            "This CSV file could not be read: its rows do not line up with the header. "
            "Export it again from Excel or DHIS2."
        ) from error
    frame = frame[positions]
    frame.columns = [wanted[p] for p in positions]
    return RawTable.from_frame(frame, match, None)


def _csv_frame(
    text: str, delimiter: str, header_index: int, positions: list[int], dtypes: dict
) -> pd.DataFrame:
    """Only the used columns, with the types given (pandas never guesses them from data)."""
    return pd.read_csv(
        io.StringIO(text),
        sep=delimiter,
        header=None,
        skiprows=header_index + 1,
        usecols=positions,
        dtype=dtypes,
        skip_blank_lines=True,
        low_memory=False,
    )


# --- shared checks ---------------------------------------------------------------------------


def _wanted_positions(match: ColumnMatch) -> dict[int, str]:
    wanted = {position: name for name, position in match.indicators.items()}
    wanted.update({position: name for name, position in match.locations.items()})
    return wanted


def _raise_no_table(reader_has_rows: bool) -> None:
    if not reader_has_rows:
        raise TPRDataError(EMPTY)
    raise TPRDataError(
        "No malaria test columns were found in this file. It needs the NMEP columns for persons "
        "tested and tested positive by RDT and by microscopy, for under 5, 5 and over, and "
        "pregnant women."
    )


def _check_match(match: ColumnMatch) -> None:
    missing = match.missing_indicators
    if missing:
        raise TPRDataError(
            "Some malaria test columns are missing from this file: "
            f"{missing_groups_sentence(missing)}."
        )
    needed = [f for f in ("state", "lga", "ward") if f not in match.locations]
    if needed:
        words = {"state": "State", "lga": "LGA", "ward": "Ward"}
        raise TPRDataError(
            "The file has the test columns but not the location columns it needs: "
            f"no {', '.join(words[f] for f in needed)} column was found "
            "(expected State/LGA/Ward or orgunitlevel2/3/4)."
        )
