"""Hand-built NMEP tables for the engine tests, written with openpyxl/csv (not our writer).

Headers are spelled out literally here, as the field files have them, so that the tests do
not depend on the engine's own notion of the headers.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl

GE = "≥"
HEADERS = {
    "rdt_t_u5": "Persons presenting with fever & tested by RDT <5yrs",
    "rdt_t_o5": "Persons presenting with fever & tested by RDT  ≥5yrs (excl PW)",
    "rdt_t_pw": "Persons presenting with fever & tested by RDT Preg Women (PW)",
    "rdt_p_u5": "Persons tested positive for malaria by RDT <5yrs",
    "rdt_p_o5": "Persons tested positive for malaria by RDT  ≥5yrs (excl PW)",
    "rdt_p_pw": "Persons tested positive for malaria by RDT Preg Women (PW)",
    "mic_t_u5": "Persons presenting with fever and tested by Microscopy <5yrs",
    "mic_t_o5": "Persons presenting with fever and tested by Microscopy  ≥5yrs (excl PW)",
    "mic_t_pw": "Persons presenting with fever and tested by Microscopy Preg Women (PW)",
    "mic_p_u5": "Persons tested positive for malaria by Microscopy <5yrs",
    "mic_p_o5": "Persons tested positive for malaria by Microscopy  ≥5yrs (excl PW)",
    "mic_p_pw": "Persons tested positive for malaria by Microscopy Preg Women (PW)",
}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]  # fmt: skip
CODES = {"Adamawa": "ad", "Kwara": "kw"}
LEVEL_TEXT = {"primary": "Primary Health Facility", "secondary": "Secondary Health Facility",
              "tertiary": "Tertiary Health Facility"}  # fmt: skip


def row(state, lga, ward, facility, level, month, opd=None, **values):
    """One facility-month; values like rdt_t_u5=10, rdt_p_u5=4 (missing = blank cell)."""
    return {"state": state, "lga": lga, "ward": ward, "facility": facility, "level": level,
            "month": month, "opd": opd, "values": values}  # fmt: skip


def headers(garbled: bool = False, layout: str = "A") -> list[str]:
    texts = list(HEADERS.values())
    if garbled:
        texts = [t.replace(GE, "â‰¥") for t in texts]
    if layout == "C":
        texts = [" ".join(t.split()).upper() if i % 2 else t for i, t in enumerate(texts)]
    return texts


def table(rows: list[dict], layout: str = "A", garbled: bool = False, totals: bool = False,
          opd: bool = False) -> list[list[object]]:  # fmt: skip
    """Header + data rows as a file of `layout` holds them (prefixes, suffixes, totals row)."""
    if layout == "A":
        head = ["State", "LGA", "Ward", "Health Faccility", "level", "ownership",
                "periodname", "periodcode"]  # fmt: skip
    elif layout == "B":
        head = ["orgunitlevel1", "orgunitlevel2", "orgunitlevel3", "orgunitlevel4",
                "orgunitlevel5", "periodname", "periodcode"]  # fmt: skip
    else:
        head = ["State", "LGA", "WardName", "HealthFacility", "FacilityLevel", "periodname",
                "periodcode"]  # fmt: skip
    if opd:
        head.append("Out-patient Attendance")
    head += headers(garbled, layout)
    out: list[list[object]] = [head]
    for r in rows:
        code = CODES.get(r["state"], "xx")
        period = [f"{MONTHS[r['month'] - 1]} 2024", f"2024{r['month']:02d}"]
        if layout == "A":
            cells = [f"{code} {r['state']} State", f"{code} {r['lga']} Local Government Area",
                     f"{code} {r['ward']} Ward", f"{code} {r['facility']}",
                     LEVEL_TEXT.get(r["level"], r["level"]), "Public", *period]  # fmt: skip
        elif layout == "B":
            cells = ["ng Nigeria", f"{code} {r['state']} State",
                     f"{code} {r['lga']} Local Government Area", f"{code} {r['ward']} Ward",
                     f"{code} {r['facility']}", *period]  # fmt: skip
        else:
            cells = [f"{r['state']} State", r["lga"], r["ward"], r["facility"],
                     r["level"].capitalize(), *period]  # fmt: skip
        if opd:
            cells.append(r["opd"])
        cells += [r["values"].get(key) for key in HEADERS]
        out.append(cells)
    if totals:
        sums = []
        for position in range(len(head)):
            column = [line[position] for line in out[1:]]
            numbers = [v for v in column if isinstance(v, int | float) and v is not None]
            sums.append(sum(numbers) if position >= len(head) - 12 else None)
        first = "Total"
        out.append([first] + sums[1:])
    return out


def write_xlsx(lines: list[list[object]], path: Path, sheet: str = "Sheet1",
               blank_first_row: bool = False, before: dict | None = None) -> Path:  # fmt: skip
    """Write with openpyxl; `before` = {sheet name: rows} for sheets placed ahead of the data."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, other in (before or {}).items():
        ws = workbook.create_sheet(name)
        for line in other:
            ws.append(line)
    ws = workbook.create_sheet(sheet)
    if blank_first_row:
        ws.append([])
    for line in lines:
        ws.append(line)
    workbook.save(path)
    return path


def write_csv(lines: list[list[object]], path: Path, encoding: str = "utf-8",
              blank_first_row: bool = False) -> Path:  # fmt: skip
    buffer = io.StringIO()
    if blank_first_row:
        buffer.write("\r\n")
    writer = csv.writer(buffer)
    for line in lines:
        writer.writerow(["" if v is None else v for v in line])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path
