"""The answers to the questions after the results, as pure functions of (dataset, selection).

Each function runs in a worker thread (pandas and matplotlib must not block the action server's
event loop) and returns an `Answer`: text, buttons and the files to offer. The actions in
`questions.py` store the files and send the reply. Figures come from the engine only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from actions.conversation import messages as msg
from actions.conversation.question_matching import match_places, rank_request

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PNG_TYPE = "image/png"


@dataclass
class AnswerFile:
    """A file to store for the analyst; `label` says what it is in the reply."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Answer:
    text: str
    buttons: list[msg.Button] = field(default_factory=list)
    table: AnswerFile | None = None  # CSV of the full list
    sheet: AnswerFile | None = None  # the same as an XLSX sheet
    chart: AnswerFile | None = None
    download_label: str = "the full list"


def selection_of(values: dict[str, Any]) -> Any:
    from actions.tpr import Selection

    return Selection(**values)


def file_stem(selection: Any, topic: str) -> str:
    """`tpr_adamawa_primary_u5_max_202301-202312_lga_totals`: names method and period."""
    safe = re.sub(r"[^a-z0-9]+", "_", str(selection.state).casefold()).strip("_") or "state"
    stem = f"tpr_{safe}_{selection.facility_level}_{selection.age_group}_{selection.method}"
    if selection.period_from or selection.period_to:
        stem += f"_{selection.period_from or 'start'}-{selection.period_to or 'end'}"
    return f"{stem}_{topic}"


def _tables(frame: pd.DataFrame, stem: str, sheet: str) -> tuple[AnswerFile, AnswerFile]:
    from actions.tpr import table_csv_bytes, tables_xlsx_bytes

    return (
        AnswerFile(f"{stem}.csv", CSV_TYPE, table_csv_bytes(frame)),
        AnswerFile(f"{stem}.xlsx", XLSX_TYPE, tables_xlsx_bytes({sheet: frame})),
    )


def _result(dataset: Any, values: dict[str, Any]) -> Any:
    from actions.tpr import compute_tpr

    return compute_tpr(dataset, selection_of(values))


def _ranked(wards: pd.DataFrame, ascending: bool = False) -> pd.DataFrame:
    """Highest TPR first (or lowest), ties by more tests, wards without data last."""
    return wards.sort_values(
        ["tpr", "tested"], ascending=[ascending, False], na_position="last", kind="stable"
    ).reset_index(drop=True)


def _is_blank(value: Any) -> bool:
    return value is None or pd.isna(value)


# --- LGA drill-down ---------------------------------------------------------------------------


def lga_wards(dataset: Any, values: dict[str, Any], text: str, hints: list[str]) -> Answer:
    """Every ward of one LGA: TPR, tests, method; wards without data say "no data"."""
    result = _result(dataset, values)
    lga_names = list(dict.fromkeys(result.lgas["lga"]))
    found = match_places(text, hints, lga_names)
    state = result.selection.state
    if len(found) != 1:
        if found:
            buttons = [
                {"title": n, "payload": msg.payload("ask_lga_wards", lga=n)} for n in found[:10]
            ]
            return Answer(f"Which LGA do you mean: {', '.join(found)}?", buttons)
        return Answer(
            msg.unknown_place_text("LGA", hints[0] if hints else "", state, lga_names),
            msg.menu_buttons("lga_totals"),
        )
    lga = found[0]
    wards = _ranked(result.wards[result.wards["lga"] == lga])
    total = result.lgas[result.lgas["lga"] == lga].iloc[0].to_dict()
    lines = [f"{lga} LGA. {result.title}.", msg.total_line(f"{lga} total", total) + "."]
    lines += [msg.ward_line(row, with_lga=False) for row in wards.head(msg.LIST_LINES).itertuples()]
    cut = msg.list_cut_text(min(len(wards), msg.LIST_LINES), len(wards), "wards")
    if cut:
        lines.append(cut)
    table, sheet = _tables(wards, file_stem(result.selection, f"{_safe(lga)}_wards"), lga[:31])
    return Answer(
        "\n".join(lines),
        msg.menu_buttons("lga_totals", "no_data", "top"),
        table,
        sheet,
        download_label=f"the wards of {lga}",
    )


def _safe(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_") or "unit"


# --- top and bottom N -------------------------------------------------------------------------


def top_wards(
    dataset: Any,
    values: dict[str, Any],
    text: str,
    direction_hints: list[str],
    number_hints: list[str],
) -> Answer:
    """That many wards ranked by TPR; only wards with data."""
    direction, wanted = rank_request(text, direction_hints, number_hints)
    result = _result(dataset, values)
    with_data = result.wards[~result.wards["tpr"].isna()]
    ranked = _ranked(with_data, ascending=direction == "bottom").head(wanted)
    word = "Top" if direction == "top" else "Bottom"
    if ranked.empty:
        return Answer(
            f"{result.title}. No ward has valid tests for this selection, so there is no ranking.",
            msg.menu_buttons("no_data", "invalid"),
        )
    order = "highest" if direction == "top" else "lowest"
    lines = [f"{word} {len(ranked)} wards by TPR ({order} first). {result.title}."]
    if len(ranked) < wanted:
        lines.append(f"Only {msg.count(len(with_data))} wards have data.")
    shown = ranked.head(max(msg.LIST_LINES, 20))
    lines += [msg.ward_line(row, rank) for rank, row in enumerate(shown.itertuples(), start=1)]
    cut = msg.list_cut_text(len(shown), len(ranked), "wards")
    if cut:
        lines.append(cut)
    ranked.insert(0, "rank", range(1, len(ranked) + 1))
    stem = file_stem(result.selection, f"{direction}_{len(ranked)}_wards")
    table, sheet = _tables(ranked, stem, f"{word} {len(ranked)}")
    other = "bottom" if direction == "top" else "top"
    return Answer(
        "\n".join(lines),
        msg.menu_buttons(other, "lga_totals", "no_data"),
        table,
        sheet,
        download_label=f"the {word.lower()} {len(ranked)} wards",
    )


# --- wards without data -----------------------------------------------------------------------


def no_data_wards(dataset: Any, values: dict[str, Any]) -> Answer:
    """Every ward whose TPR is blank, with the engine's reason (no facility of the selected
    level, or no valid tests)."""
    from actions.tpr import wards_without_data

    result = _result(dataset, values)
    blank = wards_without_data(result, dataset)
    total = len(result.wards)
    if blank.empty:
        return Answer(
            f"Every ward ({msg.count(total)}) has data for this selection. {result.title}.",
            msg.menu_buttons("bottom", "completeness"),
        )
    lines = [
        f"{msg.count(len(blank))} of {msg.count(total)} wards have no data (TPR blank, not 0). "
        f"{result.title}."
    ]
    shown = blank.head(msg.LIST_LINES)
    lines += [
        f"- {r.ward} ({r.lga}): {msg.no_data_reason(r.reason, r.facilities, r.invalid_pairs)}"
        for r in shown.itertuples(index=False)
    ]
    cut = msg.list_cut_text(len(shown), len(blank), "wards")
    if cut:
        lines.append(cut)
    table, sheet = _tables(
        blank, file_stem(result.selection, "wards_without_data"), "Wards without data"
    )
    return Answer(
        "\n".join(lines),
        msg.menu_buttons("completeness", "invalid", "lga_totals"),
        table,
        sheet,
        download_label="the wards without data",
    )


# --- LGA totals -------------------------------------------------------------------------------


def lga_totals(dataset: Any, values: dict[str, Any]) -> Answer:
    """Each LGA's TPR, tests, positives and wards with data (rules applied to the LGA's sums),
    then the state total."""
    result = _result(dataset, values)
    lgas = _ranked(result.lgas)
    lines = [f"Totals by LGA ({msg.count(len(lgas))} LGAs, highest TPR first). {result.title}."]
    shown = lgas.head(20)
    for row in shown.to_dict("records"):
        lines.append("- " + msg.total_line(str(row["lga"]), row))
    cut = msg.list_cut_text(len(shown), len(lgas), "LGAs")
    if cut:
        lines.append(cut)
    lines.append(msg.total_line(f"{result.selection.state} (state total)", result.state_total))
    state_row = pd.DataFrame([{**result.state_total, "lga": "(state total)"}])
    table_frame = pd.concat([lgas, state_row[lgas.columns]], ignore_index=True)
    table, sheet = _tables(table_frame, file_stem(result.selection, "lga_totals"), "LGA totals")
    return Answer(
        "\n".join(lines),
        msg.menu_buttons("top", "completeness", "no_data"),
        table,
        sheet,
        download_label="the LGA table",
    )


# --- one ward ---------------------------------------------------------------------------------


def one_ward(
    dataset: Any, values: dict[str, Any], text: str, ward_hints: list[str], lga_hints: list[str]
) -> Answer:
    """One ward's figures; a name several LGAs share gets the question which one."""
    result = _result(dataset, values)
    wards = result.wards
    state = result.selection.state
    names = list(dict.fromkeys(wards["ward"]))
    found = match_places(text, ward_hints, names)
    if not found:
        asked = ward_hints[0] if ward_hints else ""
        return Answer(msg.unknown_place_text("ward", asked, state, sorted(names)))
    rows = wards[wards["ward"].isin(found)]
    if len(rows) > 1:
        lga_names = list(dict.fromkeys(rows["lga"]))
        in_lga = match_places(text, lga_hints, lga_names) if lga_hints or text else []
        if len(in_lga) == 1:
            rows = rows[rows["lga"] == in_lga[0]]
    if len(rows) > 1:
        ward = str(rows["ward"].iloc[0]) if len(found) == 1 else " / ".join(found)
        lgas = [str(v) for v in rows["lga"]]
        buttons = [
            {
                "title": f"{w} ({lga})",
                "payload": msg.payload("ask_ward", ward=str(w), lga=str(lga)),
            }
            for w, lga in zip(rows["ward"], rows["lga"], strict=True)
        ]
        return Answer(msg.ambiguous_ward_text(ward, lgas), buttons[:10])
    from actions.tpr import ward_detail

    row = rows.iloc[0]
    detail = ward_detail(dataset, result.selection, str(row["lga"]), str(row["ward"]))
    lines = [detail["title"] + "."]
    if _is_blank(detail["tpr"]):
        lines.append("TPR: no data (no valid tests for this selection).")
    else:
        lines.append(
            f"TPR: {msg.pct(detail['tpr'])} ({msg.count(detail['positive'])} positive of "
            f"{msg.count(detail['tested'])} tested, {msg.method_name(detail['method'])})."
        )
    rates = detail["rates"]
    lines.append(
        f"By method: RDT {msg.rate(rates['rdt'])} ({msg.count(detail['rdt_positive'])} of "
        f"{msg.count(detail['rdt_tested'])}), microscopy {msg.rate(rates['microscopy'])} "
        f"({msg.count(detail['microscopy_positive'])} of "
        f"{msg.count(detail['microscopy_tested'])}), combined {msg.rate(rates['combined'])}, "
        f"higher of the two {msg.rate(rates['max'])}."
    )
    names = detail["facility_names"]
    listed = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    lines.append(
        f"Facilities: {msg.count(detail['facilities'])}" + (f" ({listed})." if names else ".")
    )
    invalid = detail["invalid_list"]
    lines.append(f"Invalid pairs excluded: {msg.count(detail['invalid_pairs'])}.")
    for pair in invalid.head(5).itertuples(index=False):
        lines.append(
            f"- {pair.facility}, {pair.period}, {msg.method_name(pair.method)}, {pair.age_group}, "
            f"tested {_cell(pair.tested)}, positive {_cell(pair.positive)}: {pair.problem}"
        )
    buttons = [
        {
            "title": f"Wards in {row['lga']}",
            "payload": msg.payload("ask_lga_wards", lga=str(row["lga"])),
        },
        *msg.menu_buttons("top", "invalid"),
    ]
    return Answer("\n".join(lines), buttons)


# --- comparison -------------------------------------------------------------------------------


def comparison(dataset: Any, a_values: dict[str, Any], b_values: dict[str, Any]) -> Answer:
    """Selection A against B per ward: side by side, B - A in points, the wards that differ
    most, a chart and the comparison table."""
    from actions.tpr import compare_selections, comparison_chart_png

    a, b = selection_of(a_values), selection_of(b_values)
    compared = compare_selections(dataset, a, b)
    a_total, b_total = compared.a.state_total, compared.b.state_total
    wards = compared.wards
    counts = compared.counts()
    lines = [
        compared.title + ".",
        f"State TPR: A {msg.rate(a_total.get('tpr'))}, B {msg.rate(b_total.get('tpr'))} "
        f"(B - A {msg.points(_difference(a_total.get('tpr'), b_total.get('tpr')))}).",
        f"Wards with data on both sides: {msg.count(counts['compared'])} of "
        f"{msg.count(counts['wards'])}; B higher in {msg.count(counts['b_higher'])}, lower in "
        f"{msg.count(counts['b_lower'])}, equal in {msg.count(counts['equal'])}.",
    ]
    most = compared.most_different(10)
    if len(most):
        lines.append("Wards that differ most (A -> B):")
        for row in most.itertuples(index=False):
            lines.append(
                f"- {row.ward} ({row.lga}): {msg.rate(row.a_tpr)} -> {msg.rate(row.b_tpr)} "
                f"({msg.points(row.difference)})"
            )
    stem = file_stem(a, "compare_" + _change_name(a, b))
    table, sheet = _tables(wards, stem, "Comparison")
    chart = AnswerFile(f"{stem}.png", PNG_TYPE, comparison_chart_png(compared))
    return Answer(
        "\n".join(lines),
        msg.menu_buttons("top", "lga_totals"),
        table,
        sheet,
        chart,
        download_label="the comparison table",
    )


def describe(selection: Any) -> str:
    text = selection.describe().split(", ", 1)[1]
    if selection.period_from or selection.period_to:
        text += f", {selection.period_from or 'start'} to {selection.period_to or 'end'}"
    return text


def _difference(a: Any, b: Any) -> float | None:
    return None if _is_blank(a) or _is_blank(b) else float(b) - float(a)


def _change_name(a: Any, b: Any) -> str:
    """`vs_microscopy_202407-202412`: B's changed values, its period as a whole range."""
    changed = [
        _safe(str(getattr(b, name)))
        for name in ("facility_level", "age_group", "method")
        if getattr(a, name) != getattr(b, name)
    ]
    if (a.period_from, a.period_to) != (b.period_from, b.period_to):
        changed.append(f"{b.period_from or 'start'}-{b.period_to or 'end'}")
    return "vs_" + "_".join(changed) if changed else "same"


def with_changes(values: dict[str, Any], changes: dict[str, str]) -> dict[str, Any]:
    return {**values, **changes}


# --- invalid pairs ----------------------------------------------------------------------------


def invalid_data(dataset: Any, values: dict[str, Any]) -> Answer:
    """The excluded pairs: most frequent offenders first; the full list as CSV."""
    from actions.tpr import invalid_pairs_list

    selection = selection_of(values)
    pairs = invalid_pairs_list(dataset, selection)  # most frequent offender first
    if pairs.empty:
        return Answer(
            f"No invalid pairs in {selection.state} for this selection: every tested/positive "
            "pair was counted.",
            msg.menu_buttons("completeness", "no_data"),
        )
    keys = ["lga", "ward", "facility"]
    offenders = pairs.groupby(keys, sort=False).size().sort_values(ascending=False, kind="stable")
    lines = [
        f"{msg.count(len(pairs))} invalid pairs were excluded in {selection.state} "
        f"({msg.count(len(offenders))} facilities; both methods; "
        f"{msg.level_label(selection.facility_level).lower()}, "
        f"{msg.age_label(selection.age_group).lower()}).",
        "Facilities with the most:",
    ]
    for (lga, ward, facility), n in list(offenders.items())[:5]:
        lines.append(f"- {facility} ({ward}, {lga}): {msg.count(n)}")
    lines.append("Pairs (facility, ward, month, method, age group, tested, positive, rule):")
    shown = pairs.head(msg.LIST_LINES)
    for row in shown.itertuples(index=False):
        lines.append(
            f"- {row.facility}, {row.ward}, {row.period}, {msg.method_name(row.method)}, "
            f"{row.age_group}, {_cell(row.tested)}, {_cell(row.positive)}: {row.problem}"
        )
    cut = msg.list_cut_text(len(shown), len(pairs), "pairs")
    if cut:
        lines.append(cut)
    table, sheet = _tables(pairs, file_stem(selection, "invalid_pairs"), "Invalid pairs")
    return Answer(
        "\n".join(lines),
        msg.menu_buttons("completeness", "no_data"),
        table,
        sheet,
        download_label="the full list of invalid pairs",
    )


def _cell(value: Any) -> str:
    return "blank" if _is_blank(value) else msg.count(value)


# --- reporting completeness -------------------------------------------------------------------


def reporting_completeness(dataset: Any, values: dict[str, Any]) -> Answer:
    """Per LGA the share of facility-months reporting, by method; weakest first; LGA x month
    chart."""
    from actions.tpr import (
        completeness_chart_png,
        completeness_tables,
        table_csv_bytes,
        tables_xlsx_bytes,
    )

    selection = selection_of(values)
    weakest, by_month = completeness_tables(dataset, selection, by="lga")  # weakest first
    lines = [
        f"{weakest.attrs.get('title', 'Reporting completeness')}: share of facility-months "
        "with a tested figure, by LGA, weakest first."
    ]
    shown = weakest.head(msg.LIST_LINES)
    for row in shown.itertuples(index=False):
        lines.append(
            f"- {row.lga}: RDT {msg.rate(row.rdt_completeness)}, microscopy "
            f"{msg.rate(row.microscopy_completeness)} of {msg.count(row.facility_months)} "
            "facility-months"
        )
    cut = msg.list_cut_text(len(shown), len(weakest), "LGAs")
    if cut:
        lines.append(cut)
    stem = file_stem(selection, "completeness")
    table = AnswerFile(f"{stem}.csv", CSV_TYPE, table_csv_bytes(weakest))
    sheet = AnswerFile(
        f"{stem}.xlsx",
        XLSX_TYPE,
        tables_xlsx_bytes({"Completeness by LGA": weakest, "By LGA and month": by_month}),
    )
    chart_png = completeness_chart_png(by_month, title=by_month.attrs.get("title"))
    chart = AnswerFile(f"{stem}.png", PNG_TYPE, chart_png)
    return Answer(
        "\n".join(lines),
        msg.menu_buttons("no_data", "invalid"),
        table,
        sheet,
        chart,
        download_label="completeness by LGA",
    )
