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


# Adamawa runs from November 2023 into January 2024; Kwara adds February and April 2024, so
# the file mentions 202311, 202312, 202401, 202402 and 202404, but never 202403.
SERIES_ROWS = [
    month_row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 202311,
              rdt_t_u5=10, rdt_p_u5=4),                        # 40 %
    month_row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 202312,
              rdt_t_u5=20, rdt_p_u5=5,                         # RDT 25 %
              mic_t_u5=10, mic_p_u5=6),                        # microscopy 60 %: max takes it
    month_row("Adamawa", "Fufore", "Bille", "Bille PHC", "primary", 202401,
              rdt_t_u5=0),                                     # reports, no test: blank
    month_row("Adamawa", "Fufore", "Yelwa", "Yelwa HP", "primary", 202311,
              rdt_t_u5=30, rdt_p_u5=3),                        # 10 %
    month_row("Adamawa", "Fufore", "Yelwa", "Yelwa HP", "primary", 202312,
              rdt_t_o5=40, rdt_p_o5=10),                       # 25 % (5 and over)
    month_row("Adamawa", "Fufore", "Yelwa", "Yelwa HP", "primary", 202401,
              rdt_t_u5=50, rdt_p_u5=20),                       # 40 %
    # Song only reports in December 2023 (and its ward is also called Yelwa).
    month_row("Adamawa", "Song", "Yelwa", "Yelwa General Hospital", "secondary", 202312,
              rdt_t_u5=100, rdt_p_u5=50),                      # 50 %
    month_row("Kwara", "Baruten", "Gure", "Gure PHC", "primary", 202402,
              rdt_t_u5=10, rdt_p_u5=1),
    month_row("Kwara", "Baruten", "Gure", "Gure PHC", "primary", 202404,
              rdt_t_u5=10, rdt_p_u5=2),
]  # fmt: skip
SERIES_MONTHS = ["202311", "202312", "202401", "202402", "202404"]
