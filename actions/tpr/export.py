"""Exports of a TPRResult: CSV (UTF-8 with BOM), XLSX (four sheets) and a PNG chart."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from actions.tpr.calc import METHOD_LABELS, TPRResult

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
RATE_COLUMNS = (
    "tpr", "rdt_tpr", "microscopy_tpr", "tpr_opd", "difference", "tpr_a", "tpr_b", "change",
)  # fmt: skip
_RATE_SUFFIXES = ("_tpr", "_completeness")
_SHEET_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})


def is_rate_column(column: object) -> bool:
    """Percentages (TPRs, differences in points, completeness): rounded to 2 decimals on output."""
    return isinstance(column, str) and (column in RATE_COLUMNS or column.endswith(_RATE_SUFFIXES))


def defuse(value: object) -> object:
    """Text that Excel would run as a formula (`=cmd|...`) gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _written(frame: pd.DataFrame, escape: bool) -> pd.DataFrame:
    """Rates rounded to 2 decimals for output only; text cells made formula-safe."""
    out = frame.copy()
    for column in out.columns:
        if is_rate_column(column):
            out[column] = out[column].astype(float).round(2)
        elif escape and (
            out[column].dtype == object or isinstance(out[column].dtype, pd.StringDtype)
        ):
            out[column] = out[column].map(defuse)
    return out


def table_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Any table as CSV in UTF-8 with a BOM (so Excel shows names correctly), CRLF lines,
    formula-like text defused, rates rounded to 2 decimals; a blank stays an empty cell."""
    text = _written(frame, escape=True).to_csv(index=False, lineterminator="\r\n")
    return text.encode("utf-8-sig")


def result_to_csv_bytes(result: TPRResult) -> bytes:
    """The ward table as CSV (see table_csv_bytes)."""
    return table_csv_bytes(result.wards)


def export_basename(result: TPRResult) -> str:
    """File name stem naming the selection, e.g. `tpr_adamawa_primary_u5_rdt_202401-202406`."""
    selection = result.selection
    parts = ["tpr", selection.state, selection.facility_level, selection.age_group,
             selection.method]  # fmt: skip
    first, last = result.period.get("first_code"), result.period.get("last_code")
    if first:
        parts.append(first if first == last else f"{first}-{last}")
    stem = "_".join(str(p) for p in parts).casefold()
    return "".join(c if c.isalnum() or c in "_-" else "-" for c in stem)


def _summary_rows(result: TPRResult) -> pd.DataFrame:
    selection = result.selection
    total = result.state_total
    stats = result.stats

    def pct(value: float | None) -> object:
        return None if value is None else round(value, 2)

    rows = [
        ("Selection", result.title),
        ("Source file", result.source),
        ("State", selection.state),
        ("Facility level", selection.facility_level),
        ("Age group", selection.age_group),
        ("Method", selection.method),
        ("Method, in words", METHOD_LABELS.get(selection.method, selection.method)),
        ("Period", _period_words(result)),
        ("First period", result.period.get("first")),
        ("Last period", result.period.get("last")),
        ("First period code", result.period.get("first_code")),
        ("Last period code", result.period.get("last_code")),
        ("Wards", stats["wards_total"]),
        ("Wards with data", stats["wards_with_data"]),
        ("Wards without data (TPR blank)", stats["wards_without_data"]),
        ("Mean ward TPR (%)", pct(stats["mean"])),
        ("Median ward TPR (%)", pct(stats["median"])),
        ("Lowest ward TPR (%)", pct(stats["min"])),
        ("Highest ward TPR (%)", pct(stats["max"])),
        ("State TPR (%)", pct(total["tpr"])),
        ("State tested", total["tested"]),
        ("State positive", total["positive"]),
        ("State method", total["method"]),
    ]
    return pd.DataFrame(rows, columns=["item", "value"])


def _period_words(result: TPRResult) -> str | None:
    first, last = result.period.get("first"), result.period.get("last")
    if not first:
        return None
    return first if first == last else f"{first} to {last}"


def _quality_rows(result: TPRResult) -> pd.DataFrame:
    quality = result.quality
    rows = [
        ("Invalid cell pairs excluded (positives > tested, or positives without tests)",
         quality["invalid_pairs"]),
        ("Totals rows dropped", quality["totals_rows_dropped"]),
        ("Rows without a ward excluded", quality["rows_without_ward"]),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["check", "count"])


def sheet_name(name: str, taken: set[str] | None = None) -> str:
    """A valid, unique Excel sheet name: no []:*?/\\ characters, at most 31 characters."""
    text = " ".join(str(name).translate(_SHEET_FORBIDDEN).split()).strip("'")[:31] or "sheet"
    taken = taken if taken is not None else set()
    candidate, number = text, 2
    while candidate.casefold() in taken:
        suffix = f" ({number})"
        candidate, number = text[: 31 - len(suffix)] + suffix, number + 1
    taken.add(candidate.casefold())
    return candidate


def tables_xlsx_bytes(sheets: dict[str, pd.DataFrame]) -> bytes:
    """Workbook with one sheet per table (in order); rates rounded to 2 decimals, blanks empty,
    text never a formula or a link, header row frozen.

    Written row by row with xlsxwriter itself: pandas' to_excel builds a styled cell object per
    value, which was most of the time of a national-size workbook.
    """
    import xlsxwriter

    buffer = io.BytesIO()
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
               "nan_inf_to_errors": True}  # fmt: skip
    taken: set[str] = set()
    workbook = xlsxwriter.Workbook(buffer, options)
    header_format = workbook.add_format({"bold": True, "border": 1, "align": "center",
                                         "valign": "top"})  # fmt: skip
    for name, table in sheets.items():
        frame = _written(table, escape=False)
        frame = frame.astype(object).where(frame.notna(), None)
        sheet = workbook.add_worksheet(sheet_name(name, taken))
        header = [str(column) for column in frame.columns]
        sheet.write_row(0, 0, header, header_format)
        for row_number, row in enumerate(frame.itertuples(index=False, name=None), start=1):
            for column_number, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, np.generic):
                    value = value.item()  # a numpy scalar in a mixed column: write the number
                try:
                    sheet.write(row_number, column_number, value)
                except TypeError:  # an object xlsxwriter has no type for: its text
                    sheet.write_string(row_number, column_number, str(value))
        sheet.freeze_panes(1, 0)
        for position, column in enumerate(frame.columns):
            width = max([len(str(column))] + [len(str(v)) for v in frame[column].head(200)])
            sheet.set_column(position, position, min(max(width + 2, 8), 60))
    workbook.close()
    return buffer.getvalue()


def result_to_xlsx_bytes(
    result: TPRResult, extra_sheets: dict[str, pd.DataFrame] | None = None
) -> bytes:
    """Workbook with sheets wards, LGAs, summary and data quality, then `extra_sheets` (e.g. a
    monthly trend); text is never a formula."""
    return tables_xlsx_bytes({
        "wards": result.wards,
        "LGAs": result.lgas,
        "summary": _summary_rows(result),
        "data quality": _quality_rows(result),
        **(extra_sheets or {}),
    })  # fmt: skip


def result_chart_png(result: TPRResult, top: int = 30) -> bytes:
    """Horizontal bars of the highest ward TPRs, labelled `ward (LGA)`, selection in the title.

    Laid out in fixed inches with the bars as one collection and the labels as plain texts (no
    tight_layout pass, no Tick per ward): one draw, about half the time of the pyplot-style chart.
    """
    from actions.tpr.charts import _figure, _png, _wrapped, bars, row_labels

    ranked = result.top_wards(len(result.wards))
    with_data = ranked[ranked["tpr"].notna()]
    shown = with_data.head(top).iloc[::-1]
    labels = [f"{w} ({lga})" for w, lga in zip(shown["ward"], shown["lga"], strict=True)]
    count = f"highest {min(top, len(with_data))} of {len(result.wards)} wards shown"
    missing = result.stats["wards_without_data"]
    if missing:
        count += f"; {missing} without data (blank TPR) not shown"
    title = f"{_wrapped(result.title, 115)}\n{count}"
    width = 9.0
    label_width = 0.3 + 0.062 * max((len(x) for x in labels), default=6)
    header = 0.2 + 0.17 * (title.count("\n") + 1)
    footer = 0.6
    plot_height = max(1.8, 0.32 * len(shown) + 0.2)
    height = header + plot_height + footer
    figure = _figure(width, height)
    axes = figure.add_axes([label_width / width, footer / height,
                            (width - label_width - 0.3) / width, plot_height / height])  # fmt: skip
    positions = np.arange(len(shown))
    bars(axes, positions, shown["tpr"], 0.8, "#c0392b")
    row_labels(axes, positions, labels, fontsize=8)
    axes.set_ylim(-0.6, max(len(shown), 1) - 0.4)
    axes.set_xlim(0, 105)
    axes.set_xlabel("Test positivity rate (%)", fontsize=9)
    axes.tick_params(axis="x", labelsize=8)
    axes.grid(axis="x", alpha=0.3)
    for y, value in zip(positions, shown["tpr"], strict=True):
        axes.text(value + 1, y, f"{value:.1f}%", va="center", fontsize=7)
    if len(shown) == 0:
        axes.text(50, 0.5, "No ward has test data for this selection", ha="center")
        axes.set_ylim(0, 1)
    figure.suptitle(title, fontsize=9, y=1 - 0.06 / height, va="top")
    return _png(figure)
