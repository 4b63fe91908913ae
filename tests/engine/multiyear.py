"""Hand-built files over several years (layout A headers, written as CSV by the csv module).

`tests.engine.nmep.table` writes every row in 2024; these rows carry their own month code.
"""

from __future__ import annotations

import csv
import io

from tests.engine.nmep import CODES, HEADERS, LEVEL_TEXT, MONTHS

HEAD = ["State", "LGA", "Ward", "Health Faccility", "level", "ownership", "periodname",
        "periodcode", *HEADERS.values()]  # fmt: skip


def month_row(state: str, lga: str, ward: str, facility: str, level: str, code: int,
              **values: int | None) -> dict:  # fmt: skip
    """One facility-month in month `code` (YYYYMM); values like rdt_t_u5=10 (missing = blank)."""
    return {"state": state, "lga": lga, "ward": ward, "facility": facility, "level": level,
            "code": code, "values": values}  # fmt: skip


def multiyear_csv(rows: list[dict]) -> bytes:
    """The rows as a DHIS2-style CSV: prefixed names, `March 2024`, `202403`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEAD)
    for r in rows:
        prefix = CODES.get(r["state"], "xx")
        code = r["code"]
        writer.writerow(
            [
                f"{prefix} {r['state']} State",
                f"{prefix} {r['lga']} Local Government Area",
                f"{prefix} {r['ward']} Ward",
                f"{prefix} {r['facility']}",
                LEVEL_TEXT[r["level"]],
                "Public",
                f"{MONTHS[code % 100 - 1]} {code // 100}",
                str(code),
            ]  # fmt: skip
            + ["" if r["values"].get(k) is None else r["values"][k] for k in HEADERS]
        )
    return buffer.getvalue().encode()
