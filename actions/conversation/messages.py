"""The bot's wording: plain, short, numbers formatted (`41.5%`, `961,604`).

Pure functions from the engine's summary / result to text and buttons, so the actions stay
small and the wording can be tested without Rasa.
"""

from __future__ import annotations

import json
import math
from typing import Any

from actions.conversation import dataset_summary as ds
from actions.conversation.answer_matching import AGE_LABELS, LEVEL_LABELS
from actions.tpr.dataset import MONTH_NAMES

Button = dict[str, str]

UPLOAD_HOW_TO = (
    "Please upload your NMEP health-facility workbook first (the upload button next to the "
    "message box, or POST the file to /api/upload). I will summarise it and then ask which "
    "state, facility level and age group to analyze."
)
RESUME_HINT = "Say 'start TPR' to continue where you left off, or 'restart' to begin again."
AFTER_RESULTS_HINT = (
    "You can ask for another selection, e.g. 'now pregnant women', 'same for all facilities' "
    "or 'analyze Kwara', or say 'restart' to start over."
)

QUESTION_NAMES = {
    "state": "the state",
    "confirmed": "the confirmation",
    "facility_level": "the facility level",
    "age_group": "the age group",
}


def count(value: Any) -> str:
    """961604 -> `961,604`; missing -> `0`."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "0"


def pct(value: Any) -> str:
    """41.4999 -> `41.5%`; missing or NaN -> `n/a`."""
    if value is None:
        return "n/a"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    if math.isnan(number):
        return "n/a"
    return f"{number:.1f}%"


def payload(intent: str, **entities: str) -> str:
    """A button payload Rasa parses without NLU: `/inform{"state": "Adamawa"}`."""
    if not entities:
        return f"/{intent}"
    return f"/{intent}{json.dumps(entities)}"


def level_label(level: str | None) -> str:
    return LEVEL_LABELS.get(level or "", level or "")


def age_label(age: str | None) -> str:
    return AGE_LABELS.get(age or "", age or "")


def slot_display(slot: str, value: Any) -> str:
    if value is None:
        return "not chosen yet"
    if slot == "facility_level":
        return level_label(value)
    if slot == "age_group":
        return age_label(value)
    if slot == "confirmed":
        return "yes" if value is True else "no"
    return str(value)


# --- upload summary -------------------------------------------------------------------------


def dataset_summary_text(summary: ds.Summary) -> str:
    """What the file holds: states with counts, period, completeness, quality notes."""
    lines = [f"I loaded {summary.get('source') or 'your file'}: {count(summary.get('rows'))} rows."]
    by_state = summary.get("by_state") or {}
    state_names = ds.states(summary)
    lines.append(f"States ({len(state_names)}):")
    for name in state_names:
        info = by_state.get(name) or {}
        lines.append(
            f"- {name}: {count(info.get('lgas'))} LGAs, {count(info.get('wards'))} wards, "
            f"{count(info.get('facilities'))} facilities, {count(info.get('rows'))} rows"
        )
    period = summary.get("period") or {}
    covers = time_coverage_text(summary)
    if covers:
        lines.append(covers)
    elif period.get("first"):
        lines.append(
            f"Period: {period['first']} to {period['last']} ({count(period.get('months'))} months)."
        )
    missing = missing_months_text(summary)
    if missing:
        lines.append(missing)
    lines.append(completeness_text(summary.get("completeness") or {}))
    notes = quality_notes(summary.get("quality") or {})
    if notes:
        lines.append("Data quality: " + "; ".join(notes) + ".")
    if not ds.has_levels(summary):
        lines.append("This file has no facility level column, so results cover all facilities.")
    return "\n".join(lines)


def completeness_text(completeness: dict[str, Any]) -> str:
    rdt = (completeness.get("rdt") or {}).get("all")
    micro = (completeness.get("microscopy") or {}).get("all")
    return (
        f"Data completeness: RDT {pct(rdt)} and microscopy {pct(micro)} of facility-months "
        "have a tested figure."
    )


def quality_notes(quality: dict[str, Any]) -> list[str]:
    notes = []
    if quality.get("totals_rows_dropped"):
        notes.append(f"{count(quality['totals_rows_dropped'])} totals row(s) dropped")
    if quality.get("invalid_pairs"):
        notes.append(
            f"{count(quality['invalid_pairs'])} invalid tested/positive pairs will be excluded"
        )
    if quality.get("rows_without_ward"):
        notes.append(f"{count(quality['rows_without_ward'])} rows without a ward are excluded")
    return notes


# --- time coverage (files over several years) ----------------------------------------------


def month_name(code: str | int) -> str:
    """`202403` -> `March 2024` (a code that is no month is shown as it is)."""
    text = str(code)
    if len(text) == 6 and text.isdigit() and 1 <= int(text[4:]) <= 12:
        return f"{MONTH_NAMES[int(text[4:]) - 1]} {text[:4]}"
    return text


def month_runs(codes: list[str]) -> list[str]:
    """Consecutive months as one run: [202403, 202404, 202405, 202407] ->
    [`March to May 2024`, `July 2024`]."""

    def index(code: str) -> int:
        return int(code[:4]) * 12 + int(code[4:]) - 1

    runs: list[list[str]] = []
    for code in sorted(codes):
        if runs and index(code) == index(runs[-1][-1]) + 1:
            runs[-1].append(code)
        else:
            runs.append([code])
    texts = []
    for run in runs:
        first, last = month_name(run[0]), month_name(run[-1])
        if len(run) == 1:
            texts.append(first)
        elif run[0][:4] == run[-1][:4]:
            texts.append(f"{first.split()[0]} to {last}")
        else:
            texts.append(f"{first} to {last}")
    return texts


def time_coverage_text(summary: ds.Summary) -> str | None:
    """`This file covers 2023 to 2024 (24 months): January 2023 to December 2024.`; None for
    a file within one calendar year (the `Period:` line says enough there)."""
    coverage = summary.get("time_coverage") or {}
    years = coverage.get("years") or []
    if len(years) < 2:
        return None
    period = summary.get("period") or {}
    months = len(coverage.get("months") or [])
    text = f"This file covers {years[0]} to {years[-1]} ({count(months)} months)"
    if period.get("first"):
        text += f": {period['first']} to {period['last']}"
    return text + "."


MISSING_STATES_SHOWN = 4
MISSING_RUNS_SHOWN = 3


def missing_months_text(summary: ds.Summary) -> str | None:
    """Months inside the file's range that a state has no row for, briefly; None if none."""
    by_state = summary.get("by_state") or {}
    parts = []
    for name in ds.states(summary):
        missing = ((by_state.get(name) or {}).get("time_coverage") or {}).get("missing_months")
        if not missing:
            continue
        runs = month_runs(missing)
        shown = ", ".join(runs[:MISSING_RUNS_SHOWN])
        if len(runs) > MISSING_RUNS_SHOWN:
            shown += f" and {len(runs) - MISSING_RUNS_SHOWN} more gaps"
        parts.append(f"{name} ({shown})")
    if not parts:
        return None
    hidden = len(parts) - MISSING_STATES_SHOWN
    text = "Months with no data: " + "; ".join(parts[:MISSING_STATES_SHOWN])
    if hidden > 0:
        text += f"; and {hidden} more state{'s' if hidden > 1 else ''}"
    return text + "."


# --- questions ------------------------------------------------------------------------------


def state_question(summary: ds.Summary) -> tuple[str, list[Button]]:
    names = ds.states(summary)
    by_state = summary.get("by_state") or {}
    lines = ["Which state would you like to analyze?"]
    for number, name in enumerate(names, start=1):
        info = by_state.get(name) or {}
        lines.append(
            f"{number}. {name} ({count(info.get('lgas'))} LGAs, {count(info.get('wards'))} wards)"
        )
    buttons = [{"title": name, "payload": payload("inform", state=name)} for name in names]
    return "\n".join(lines), buttons


def state_overview(summary: ds.Summary, state: str) -> str:
    """LGAs and wards, facilities by level with percentages, completeness."""
    info = ds.state_info(summary, state)
    lines = [
        f"{state}: {count(info.get('lgas'))} LGAs, {count(info.get('wards'))} wards, "
        f"{count(info.get('facilities'))} facilities."
    ]
    levels = info.get("levels") or {}
    if levels:
        total = sum(int((v or {}).get("facilities") or 0) for v in levels.values()) or 1
        parts = [
            f"{level_label(level)} {count(v.get('facilities'))} "
            f"({pct(100.0 * int(v.get('facilities') or 0) / total)})"
            for level, v in ((lvl, levels[lvl]) for lvl in levels)
        ]
        lines.append("Facilities by level: " + ", ".join(parts) + ".")
    else:
        lines.append("The file has no facility level column.")
    period = info.get("period") or {}
    if period.get("first"):
        lines.append(f"Period: {period['first']} to {period['last']}.")
    lines.append(completeness_text(info.get("completeness") or {}))
    return "\n".join(lines)


def confirm_question(summary: ds.Summary, state: str) -> tuple[str, list[Button]]:
    text = state_overview(summary, state) + f"\nProceed with the TPR calculation for {state}?"
    buttons = [
        {"title": "Yes, proceed", "payload": payload("affirm")},
        {"title": "No, another state", "payload": payload("deny")},
    ]
    return text, buttons


def level_question(summary: ds.Summary, state: str) -> tuple[str, list[Button]]:
    info = ds.state_info(summary, state)
    levels = info.get("levels") or {}
    choices = ds.level_choices(summary, state)
    recommended = ds.recommended_level(summary, state)
    lines = ["Which facility level should I include?"]
    for number, level in enumerate(choices, start=1):
        if level == "all":
            tests = (info.get("age_groups") or {}).get("all", {}).get("tests")
            detail = f"{count(info.get('facilities'))} facilities, {count(tests)} tests"
        else:
            v = levels.get(level) or {}
            detail = (
                f"{count(v.get('facilities'))} facilities, {count(v.get('tests'))} tests, "
                f"{pct(v.get('share'))} of records"
            )
        mark = " (recommended)" if level == recommended else ""
        lines.append(f"{number}. {level_label(level)}: {detail}{mark}")
    primary_share = (levels.get("primary") or {}).get("share")
    if recommended == "primary":
        why = f"primary facilities hold {pct(primary_share)} of the records (70% or more)"
    else:
        why = "no single level holds 70% or more of the records"
    lines.append(f"I recommend {level_label(recommended).lower()}: {why}.")
    buttons = [
        {"title": level_label(level), "payload": payload("inform", facility_level=level)}
        for level in choices
    ]
    return "\n".join(lines), buttons


def age_question(summary: ds.Summary, state: str) -> tuple[str, list[Button]]:
    groups = ds.state_info(summary, state).get("age_groups") or {}
    choices = ds.age_choices(summary, state)
    recommended = ds.recommended_age(summary, state)
    lines = ["Which age group?"]
    for number, age in enumerate(choices, start=1):
        tests = (groups.get(age) or {}).get("tests")
        mark = " (recommended)" if age == recommended else ""
        lines.append(f"{number}. {age_label(age)}: {count(tests)} tests{mark}")
    missing = [a for a in ("u5", "o5", "pw") if a not in choices]
    if missing:
        lines.append(
            "No data in this file for: " + ", ".join(age_label(a).lower() for a in missing) + "."
        )
    if recommended:
        lines.append(f"I recommend {age_label(recommended).lower()}.")
    buttons = [
        {"title": age_label(age), "payload": payload("inform", age_group=age)} for age in choices
    ]
    return "\n".join(lines), buttons


def options_text(slot: str, summary: ds.Summary, state: str | None) -> str:
    """The valid answers of a question, for re-asking and help."""
    if slot == "state":
        return ", ".join(ds.states(summary))
    if slot == "facility_level":
        return ", ".join(level_label(v) for v in ds.level_choices(summary, state))
    if slot == "age_group":
        return ", ".join(age_label(v) for v in ds.age_choices(summary, state))
    return "yes or no"


HELP_TEXT = {
    "state": "Pick the state to analyze: type its name (spelling need not be exact), its number "
    "or press a button.",
    "confirmed": "I showed an overview of the state. Answer 'yes' to go on, or 'no' to pick "
    "another state.",
    "facility_level": "Pick which health facilities count: primary, secondary, tertiary or all. "
    "The recommendation follows NMEP practice (primary when it holds 70% or more of the records).",
    "age_group": "Pick whose tests count: under 5, over 5 (excluding pregnant women), pregnant "
    "women, or all ages together.",
}

NAVIGATION_HELP = (
    "Anytime you can say 'back', 'change state' (or level, age group), 'status', 'cancel' or "
    "'restart'."
)


def status_text(slots: dict[str, Any], pending: str | None, finished: bool) -> str:
    lines = ["Your answers so far:"]
    lines.append(f"- State: {slot_display('state', slots.get('state'))}")
    confirmed = slots.get("confirmed")
    lines.append(f"- Confirmed: {'yes' if confirmed is True else 'not yet'}")
    lines.append(f"- Facility level: {slot_display('facility_level', slots.get('facility_level'))}")
    lines.append(f"- Age group: {slot_display('age_group', slots.get('age_group'))}")
    if pending:
        lines.append(f"Pending question: {QUESTION_NAMES.get(pending, pending)}.")
    elif finished:
        lines.append("The results for this selection are shown above. " + AFTER_RESULTS_HINT)
    else:
        lines.append("No question is pending. " + RESUME_HINT)
    return "\n".join(lines)


# --- results --------------------------------------------------------------------------------


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def results_text(result: Any) -> str:
    """Header, ward counts, mean/median/min/max and the top 10 wards, from the engine's result."""
    stats = result.stats
    lines = [result.title + "."]
    without = count(stats.get("wards_without_data"))
    lines.append(
        f"Wards with data: {count(stats.get('wards_with_data'))} of "
        f"{count(stats.get('wards_total'))} (without data: {without})."
    )
    if stats.get("wards_with_data"):
        lines.append(
            f"Ward TPR: mean {pct(stats.get('mean'))}, median {pct(stats.get('median'))}, "
            f"min {pct(stats.get('min'))}, max {pct(stats.get('max'))}."
        )
        top = result.top_wards(10)
        top = top[[not _is_blank(v) for v in top["tpr"]]]
        lines.append(f"Top {len(top)} ward{'s' if len(top) != 1 else ''} by TPR:")
        for rank, row in enumerate(top.itertuples(index=False), start=1):
            lines.append(
                f"{rank}. {row.ward} ({row.lga}): {pct(row.tpr)} of {count(row.tested)} tests"
            )
    else:
        lines.append("No ward has valid tests for this selection, so there is no TPR to show.")
    notes = quality_notes(result.quality or {})
    if notes:
        lines.append("Data quality: " + "; ".join(notes) + ".")
    return "\n".join(lines)


def downloads_text(csv_link: str, xlsx_link: str) -> str:
    return f"Download the full ward table: CSV {csv_link} | Excel {xlsx_link}"
