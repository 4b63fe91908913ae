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
    "or 'analyze Kwara', ask about these results ('Fufore LGA', 'bottom 10', 'totals by LGA', "
    "'compare with pregnant women'), or say 'restart' to start over."
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


# --- answers, navigation and small talk -------------------------------------------------------
# (moved here from form_validation.py, navigation.py, submit.py and conversation_state.py)

TPR_DEFINITION = (
    "TPR (test positivity rate) is the share of people tested for malaria who tested positive, "
    "in percent."
)
HELLO = "Hello!"
GOODBYE_KEPT = "Goodbye! Your dataset and answers are kept if you come back."
GOODBYE = "Goodbye!"
YOU_ARE_WELCOME = "You're welcome!"
ONLY_TPR = "I'm the TPR assistant: I can only help with the TPR analysis."
OUT_OF_SCOPE = "Sorry, I can't help with that; I only calculate test positivity rates."
FINISH_QUESTION_FIRST = "Let's finish the current question first."
OK = "OK."
NOT_UNDERSTOOD = "Sorry, I didn't understand that."
GREET_INTRO = (
    " I'm the TPR assistant: I turn NMEP health-facility workbooks into ward-level malaria test "
    "positivity rates."
)
START_HINT = "Say 'start TPR' to begin the analysis."
STARTING = "Let's start the TPR analysis."
CONTINUING = "Let's continue where you left off."
NO_EARLIER_QUESTION = "There is no earlier question. "
FIRST_QUESTION = "This is the first question already."
WHICH_ANSWER = "Which answer would you like to change?"
NOTHING_RUNNING = "Nothing is running. "
STOPPED = "Stopped. Your dataset is still loaded. "
CHOOSE_ANOTHER_STATE = "OK, let's choose another state."
NO_LEVEL_COLUMN_USES_ALL = (
    "This file has no facility level column, so the calculation uses all facilities."
)
ANSWERS_MISSING = "Some answers are missing. "
DATASET_EXPIRED = (
    "Your dataset is no longer available (it may have expired). Please upload the file again."
)
CALCULATING = "Calculating..."
RESULT_CHART_CAPTION = "Ward TPR chart:"
NOT_SURE_WHICH_ANSWER = "I'm not sure which answer that changes. "
HELP_NO_DATASET = (
    "I calculate ward-level malaria test positivity rates (TPR) from an NMEP health-facility "
    "workbook. "
)
HELP_GENERAL = (
    "I calculate ward-level malaria test positivity rates (TPR) for the state, facility level "
    "and age group you choose. "
)
NO_DATASET_YET = "No dataset is loaded yet. "


def small_talk_reply(intent: str | None, text: str) -> str | None:
    """A one-line answer to off-topic messages; None when the message is not small talk."""
    lowered = text.casefold()
    if "tpr" in lowered or "positivity" in lowered:
        return TPR_DEFINITION
    if intent == "greet":
        return HELLO
    if intent == "goodbye":
        return GOODBYE_KEPT
    if intent == "chitchat":
        if "thank" in lowered:
            return YOU_ARE_WELCOME
        return ONLY_TPR
    if intent == "out_of_scope":
        return OUT_OF_SCOPE
    return None


def state_not_found(shown: str, states: list[str]) -> str:
    return f"I couldn't find '{shown}' in this file. The states in it are: {', '.join(states)}."


def only_state_confirm(only: str) -> str:
    return f"This file only covers {only}. Answer 'yes' to continue with it, or 'cancel' to stop."


def confirm_or_pick(state: str | None) -> str:
    return f"Please answer yes to proceed with {state}, or no to pick another state."


def not_a_choice(shown: str, noun: str, options: str) -> str:
    return f"'{shown}' is not one of the {noun}. The options are: {options}."


def not_offered_text(slot: str, value: str, summary: ds.Summary, state: str | None) -> str:
    """A facility level or age group the file has no data for in `state`, with the options."""
    options = options_text(slot, summary, state)
    if slot == "facility_level":
        return (
            f"There are no {level_label(value).lower()} facilities for {state} in this "
            f"file. The options are: {options}."
        )
    return (
        f"This file has no {age_label(value).lower()} data for {state}. The options are: {options}."
    )


def level_gone(state: str, level: str) -> str:
    return (
        f"{state} has no {level_label(level).lower()} facilities in this file, so please choose "
        "the facility level again."
    )


def age_gone(state: str, age: str) -> str:
    return (
        f"This file has no {age_label(age).lower()} data for {state}, so please choose the age "
        "group again."
    )


def single_state_selected(only: str) -> str:
    return f"This file holds one state only, {only}, so I selected it."


def skip_reason_text(slot: str, only_state: str | None) -> str:
    """Why a question is not asked for this file."""
    if slot == "state":
        return f"This file holds one state only, {only_state}, so there is no other."
    return "This file has no facility level column, so the calculation always uses all facilities."


def dataset_line(source: str) -> str:
    return f"Dataset: {source}.\n"


def starting_again(source: str | None) -> str:
    return f"Starting again on the same dataset ({source or 'your file'})."


def cannot_calculate(error: object) -> str:
    return f"I couldn't calculate this selection: {error}"


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


def confirm_question(
    summary: ds.Summary, state: str, refinements: str = ""
) -> tuple[str, list[Button]]:
    """The overview, the method and period in force (`refinements_text`), then the question."""
    text = state_overview(summary, state)
    if refinements:
        text += "\n" + refinements
    text += f"\nProceed with the TPR calculation for {state}?"
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


def status_text(
    slots: dict[str, Any], pending: str | None, finished: bool, refinements: str = ""
) -> str:
    """The answers, the method and period in force (`refinements_text`), then what is next."""
    lines = ["Your answers so far:"]
    lines.append(f"- State: {slot_display('state', slots.get('state'))}")
    confirmed = slots.get("confirmed")
    lines.append(f"- Confirmed: {'yes' if confirmed is True else 'not yet'}")
    lines.append(f"- Facility level: {slot_display('facility_level', slots.get('facility_level'))}")
    lines.append(f"- Age group: {slot_display('age_group', slots.get('age_group'))}")
    if refinements:
        lines.append(refinements)
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


# --- maps -----------------------------------------------------------------------------------

BOUNDARIES_HOW_TO = (
    "To draw maps I need your ward boundaries. Download GRID3's Nigeria ward boundaries "
    "(grid3.gov.ng, 'Nigeria - Ward Boundaries', as GeoJSON or shapefile) or use your state's "
    "own ward file, then upload it with the same upload button: GeoJSON, a zipped shapefile "
    "(.shp, .shx, .dbf and .prj in one zip) or a GeoPackage. It needs state, LGA and ward "
    "name fields (such as statename, lganame, wardname). Then say 'show the map'."
)
BOUNDARIES_NOT_AVAILABLE = "I can't open those boundaries. Please upload the boundary file again."
MAP_NEEDS_DATASET = (
    "Your ward boundaries are loaded. Now upload the NMEP workbook, and I will match its wards "
    "to the polygons and draw the maps."
)
MAP_NEEDS_STATE = (
    "Which state should I map? Answer the questions first (say 'start TPR'), then say "
    "'show the map'."
)
MAP_LIST_LIMIT = 8


def _named(items: list[str], limit: int = MAP_LIST_LIMIT) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit:,} more" if len(items) > limit else "")


def _ward_name(key: tuple[str, str, str], with_state: bool) -> str:
    state, lga, ward = key
    return f"{ward} ({lga}, {state})" if with_state else f"{ward} ({lga})"


def boundaries_loaded_text(summary: dict[str, Any]) -> str:
    """The boundary file in one line (no dataset to match yet)."""
    states = summary.get("states") or []
    where = f" in {_named(states, 5)}" if states else ""
    fixed = []
    if summary.get("repaired"):
        fixed.append(f"{count(summary['repaired'])} invalid polygon(s) repaired")
    if summary.get("merged_parts"):
        fixed.append(f"{count(summary['merged_parts'])} extra part(s) merged into their ward")
    if summary.get("without_names"):
        fixed.append(f"{count(summary['without_names'])} polygon(s) without names left out")
    text = (
        f"Ward boundaries loaded: {count(summary.get('wards'))} ward polygons in "
        f"{count(summary.get('lgas'))} LGAs{where} ({summary.get('format', 'file')}, "
        f"coordinates from {summary.get('declared_crs', 'WGS 84')})."
    )
    return text + (" " + "; ".join(fixed) + "." if fixed else "")


def match_report_text(report: Any, states: list[str] | None = None) -> str:
    """The match report (conversation.md "Maps"): wards with a polygon, loose matches with both
    spellings, data wards without a polygon (named), polygons without data, unmatched LGAs."""
    counts = report.counts()
    with_state = len(set(states or [])) > 1
    where = f" of {states[0]}" if states and len(set(states)) == 1 else ""
    lines = [
        f"Match with the boundaries: {count(counts['matched'])} of "
        f"{count(counts['data_wards'])} wards{where} have a polygon "
        f"({count(counts['exact'])} exactly, {count(counts['loose'])} loosely)."
    ]
    if report.loose_lgas:
        pairs = [f"{data[1]} = {file[1]}" for data, file, _ in report.loose_lgas]
        lines.append(f"LGA names matched loosely (data = file): {_named(pairs)}.")
    if report.loose:
        pairs = [f"{data[2]} ({data[1]}) = {file[2]}" for data, file, _ in report.loose]
        lines.append(f"Matched loosely (data = file), please check: {_named(pairs)}.")
    if report.lgas_unmatched:
        names = [f"{lga} ({state})" if with_state else lga for state, lga in report.lgas_unmatched]
        lines.append(f"LGAs with no match in the boundary file: {_named(names)}.")
    if report.data_without_polygon:
        names = [_ward_name(k, with_state) for k in report.data_without_polygon]
        lines.append(f"Data wards without a polygon (left off the maps): {_named(names)}.")
    if report.polygons_without_data:
        names = [_ward_name(k, with_state) for k in report.polygons_without_data]
        lines.append(f"Polygons without data (shown as 'no data'): {_named(names)}.")
    if len(lines) == 1:
        lines.append("Every data ward has its polygon and every polygon has data.")
    return "\n".join(lines)


def match_download_text(link: str) -> str:
    return f"The full match report, ward by ward: CSV {link}"


def map_caption(kind: str) -> str:
    return "Ward TPR map:" if kind == "tpr" else "Reporting completeness by ward:"


def geojson_offer_text(link: str) -> str:
    return (
        f"Ward table with polygons for QGIS or ArcGIS (GeoJSON, WGS 84): {link}. "
        "Say 'show the map' for the ward map or 'map the missing data' for reporting."
    )


# --- refinements ---------------------------------------------------------------------------

METHOD_LABELS = {
    "max": "the higher of RDT and microscopy (default)",
    "rdt": "RDT only",
    "microscopy": "microscopy only",
    "combined": "RDT and microscopy combined",
}
REFINEMENT_HOW_TO = (
    "To change them say e.g. 'use RDT only', 'microscopy only', 'combine both methods', "
    "'back to the default method', '2024 only', 'the last 3 months', 'from March' or "
    "'all periods'."
)


def method_buttons() -> list[Button]:
    """One button per method; the payload bypasses NLU."""
    titles = {"max": "Higher of the two (default)", "rdt": "RDT only",
              "microscopy": "Microscopy only", "combined": "Both combined"}  # fmt: skip
    return [
        {"title": title, "payload": payload("set_method", method=method)}
        for method, title in titles.items()
    ]


REFINEMENT_NOT_UNDERSTOOD = (
    "I can calculate with RDT only, microscopy only, both methods combined, or the higher of the "
    "two (the default), and over any months of the file. " + REFINEMENT_HOW_TO
)


def method_label(method: str | None) -> str:
    return METHOD_LABELS.get(method or "max", str(method))


def period_label(
    start: str | None, end: str | None, file_first: str | None, file_last: str | None
) -> str:
    """`February 2024 to May 2024`; the file's whole range says so."""
    from actions.conversation.refinement_matching import month_label

    if not start and not end:
        if file_first and file_last:
            return f"all months ({month_label(file_first)} to {month_label(file_last)})"
        return "all months of the file"
    lo = month_label(start or file_first) if (start or file_first) else "the first month"
    hi = month_label(end or file_last) if (end or file_last) else "the last month"
    return lo if lo == hi else f"{lo} to {hi}"


def refinements_text(
    method: str | None, start: str | None, end: str | None, summary: ds.Summary
) -> str:
    """The method and period in force, and how to change them (overview and status)."""
    period = summary.get("period") or {}
    return (
        f"Method: {method_label(method)}. "
        f"Period: {period_label(start, end, period.get('first_code'), period.get('last_code'))}.\n"
        + REFINEMENT_HOW_TO
    )


def file_covers_text(summary: ds.Summary, named: str) -> str:
    """A period outside the file: what it covers; nothing changed."""
    from actions.conversation.refinement_matching import month_label

    period = summary.get("period") or {}
    first, last = period.get("first_code"), period.get("last_code")
    covers = f"{month_label(first)} to {month_label(last)}" if first and last else "no months"
    return f"This file covers {covers}, so I can't use {named}. Nothing was changed."


def refinement_set_text(
    changed: list[str], method: str | None, start: str | None, end: str | None, summary: ds.Summary
) -> str:
    """What is now in force after a change (or that it already was)."""
    period = summary.get("period") or {}
    label = period_label(start, end, period.get("first_code"), period.get("last_code"))
    if not changed:
        return f"That is already in force: method {method_label(method)}, period {label}."
    parts = []
    if "method" in changed:
        parts.append(f"method {method_label(method)}")
    if "period" in changed:
        parts.append(f"period {label}")
    return "OK, from now on: " + " and ".join(parts) + "."


AFTER_RESULTS_MORE = (
    "You can also refine the results ('use RDT only', '2024 only', 'the last 3 months') or ask "
    "'show the monthly trend', 'year by year' or 'which wards got worse?'."
)
RECALCULATING = "Recalculating the results with this change..."
REFINEMENT_BEFORE_RESULTS = "It will apply to the results. "


# --- time ----------------------------------------------------------------------------------

TIME_NEEDS_STATE = "Trends and years are shown for one state: choose it first (say 'start TPR')."
TIME_HINT = (
    "You can also ask 'show the monthly trend' (or 'trend for <LGA>', 'trend for <ward> ward'), "
    "'year by year', 'compare 2023 and 2024' or 'which wards got worse?'."
)


TIME_CHART_CAPTION = "Chart:"


def cannot_answer(error: object) -> str:
    return f"I couldn't answer that for this selection: {error}"


def _points(value: float) -> str:
    """+7.8 -> `+7.8 points`."""
    return f"{value:+.1f} points"


def trend_text(focus: str, series: Any, by: str = "month") -> str:
    """The highest and lowest months of a series (one unit), blanks skipped."""
    from actions.conversation.refinement_matching import month_label

    lines = [f"{series.attrs.get('title', 'TPR by month')} — {focus}."]
    known = series[[not _is_blank(v) for v in series["tpr"]]]
    periods = len(series)
    if known.empty:
        lines.append(f"No month of the {periods} in this selection has valid tests.")
        return "\n".join(lines)
    high = known.loc[known["tpr"].astype(float).idxmax()]
    low = known.loc[known["tpr"].astype(float).idxmin()]

    def shown(period: str) -> str:
        return month_label(period) if len(str(period)) == 6 else str(period)

    lines.append(
        f"Highest: {shown(high['period'])}, {pct(high['tpr'])} of {count(high['tested'])} tests. "
        f"Lowest: {shown(low['period'])}, {pct(low['tpr'])} of {count(low['tested'])} tests."
    )
    years = sorted({str(p)[:4] for p in known["period"]})
    if len(years) > 1:  # the seasonal peak of each year (first month on a tie)
        peaks = []
        for year in years:
            in_year = known[known["period"].astype(str).str.startswith(year)]
            top = in_year.loc[in_year["tpr"].astype(float).idxmax()]
            peaks.append(f"{year}: {month_label(top['period']).split()[0]} ({pct(top['tpr'])})")
        lines.append("Peak month of each year: " + "; ".join(peaks) + ".")
    blank = periods - len(known)
    if blank:
        lines.append(f"{blank} of {periods} months have no valid tests (no data, not 0%).")
    return "\n".join(lines)


def trend_downloads_text(csv_link: str, xlsx_link: str) -> str:
    return f"Download the series (state, LGAs and wards): CSV {csv_link} | Excel {xlsx_link}"


def trend_ambiguous_ward(name: str, lgas: list[str]) -> tuple[str, list[Button]]:
    text = f"{name} is in {len(lgas)} LGAs: {', '.join(lgas)}; which one?"
    buttons = [
        {"title": f"{name} ({lga})", "payload": f"show the monthly trend for {name} ward in {lga}"}
        for lga in lgas
    ]
    return text, buttons


def trend_unknown_place(name: str, state: str) -> str:
    return (
        f"I couldn't find an LGA or ward called '{name}' in {state}. Showing the trend for the "
        "whole state."
    )


def one_year_text(years: list[int], months: int) -> str:
    only = years[0] if years else "one year"
    return (
        f"This file covers only {only} ({months} months), so there is no year-by-year "
        "comparison. Ask 'show the monthly trend' to see the months."
    )


def years_not_in_file_text(asked: list[int], years: list[int]) -> str:
    missing = ", ".join(str(y) for y in asked if y not in years)
    return (
        f"This file has no data for {missing}; it covers {years[0]} to {years[-1]}. Nothing was "
        "changed."
    )


def thresholds_text(thresholds: dict[str, Any]) -> str:
    change, tests = thresholds.get("min_change", 5.0), thresholds.get("min_tests", 50)
    return (
        f"Rule: worsened or improved means a change of at least {change:g} percentage points, "
        f"with at least {tests:g} valid tests in each of the two years."
    )


def year_by_year_text(state_years: Any, lga_years: Any, yoy: Any, period_note: bool) -> str:
    """The state's TPR per year, the change between the two years compared, the LGAs that moved
    most and the ward counts by status."""
    lines = [f"TPR by year: {yoy.selection.describe()}."]
    for row in state_years.itertuples(index=False):
        lines.append(f"- {row.period}: {pct(row.tpr)} of {count(row.tested)} tests")
    a, b = str(yoy.year_a), str(yoy.year_b)
    by_year = {str(r.period): r.tpr for r in state_years.itertuples(index=False)}
    if not _is_blank(by_year.get(a)) and not _is_blank(by_year.get(b)):
        lines.append(
            f"Change {a} to {b} for the state: {_points(float(by_year[b]) - float(by_year[a]))}."
        )
    pivot = lga_years.pivot_table(index="lga", columns="period", values="tpr", aggfunc="first")
    if a in pivot.columns and b in pivot.columns:
        moved = (pivot[b] - pivot[a]).dropna().sort_values(ascending=False)
        if len(moved):
            rises = [f"{lga} {_points(v)}" for lga, v in moved.head(3).items() if v > 0]
            falls = [f"{lga} {_points(v)}" for lga, v in moved.tail(3)[::-1].items() if v < 0]
            if rises:
                lines.append("LGAs rising most: " + ", ".join(rises) + ".")
            if falls:
                lines.append("LGAs falling most: " + ", ".join(falls) + ".")
    counts = yoy.counts
    lines.append(
        f"Wards {a} to {b}: {counts['worsened']} worsened, {counts['improved']} improved, "
        f"{counts['stable']} stable, {counts['not comparable']} not comparable."
    )
    lines.append(thresholds_text(yoy.thresholds))
    if period_note:
        lines.append("Years are compared whole; the period in force does not apply here.")
    return "\n".join(lines)


def worsened_text(yoy: Any, direction: str = "worsened", limit: int = 15) -> str:
    """The worsened (or improved) wards with their two TPRs, then how many were not comparable
    and why, with the thresholds."""
    from collections import Counter

    a, b = yoy.year_a, yoy.year_b
    listed = yoy.worsened if direction == "worsened" else yoy.improved
    other = "improved" if direction == "worsened" else "worsened"
    heading = "got worse" if direction == "worsened" else "improved"
    lines = [f"Wards that {heading} from {a} to {b}: {yoy.selection.describe()}."]
    if listed.empty:
        lines.append(f"No ward {direction} by the rule.")
    else:
        lines.append(f"{len(listed)} ward{'s' if len(listed) != 1 else ''} {direction}:")
        for rank, row in enumerate(listed.head(limit).itertuples(index=False), start=1):
            lines.append(
                f"{rank}. {row.ward} ({row.lga}): {pct(row.tpr_a)} in {a} -> {pct(row.tpr_b)} "
                f"in {b} ({_points(row.change)}; {count(row.tested_a)} and "
                f"{count(row.tested_b)} tests)"
            )
        if len(listed) > limit:
            lines.append(f"... and {len(listed) - limit} more in the download.")
    others = yoy.counts[other]
    lines.append(f"{others} ward{'s' if others != 1 else ''} {other}.")
    blocked = yoy.not_comparable
    if len(blocked):
        reasons = Counter(str(r) for r in blocked["reason"])
        why = "; ".join(f"{reason}: {n}" for reason, n in reasons.most_common(4))
        were = "ward was" if len(blocked) == 1 else "wards were"
        lines.append(f"{len(blocked)} {were} not comparable ({why}).")
    else:
        lines.append("Every ward was comparable.")
    lines.append(thresholds_text(yoy.thresholds))
    return "\n".join(lines)


def year_downloads_text(csv_link: str, xlsx_link: str) -> str:
    return (
        f"Download the ward table of both years (change and status): CSV {csv_link} | "
        f"Excel {xlsx_link}"
    )


# --- questions after the results ------------------------------------------------------------

LIST_LINES = 15
QUESTION_BUTTONS: dict[str, Button] = {
    "top": {"title": "Top 10 wards", "payload": "/ask_top_wards"},
    "bottom": {"title": "Bottom 10 wards", "payload": '/ask_top_wards{"rank_direction": "bottom"}'},
    "no_data": {"title": "Wards without data", "payload": "/ask_no_data_wards"},
    "lga_totals": {"title": "Totals by LGA", "payload": "/ask_lga_totals"},
    "invalid": {"title": "Invalid data", "payload": "/ask_invalid_data"},
    "completeness": {"title": "Reporting completeness", "payload": "/ask_completeness"},
}
QUESTIONS_MENU = (
    "After the results I can show: the wards of an LGA ('Fufore LGA'), the top or bottom wards "
    "('bottom 10'), wards without data, totals by LGA, one ward ('tell me about Bille ward'), "
    "a comparison ('compare with pregnant women'), the invalid data and reporting completeness."
)
QUESTIONS_MENU_LINE = (
    "I can answer questions about these results: an LGA's wards, top or bottom wards, wards "
    "without data, LGA totals, one ward, a comparison, invalid data or reporting completeness."
)


def menu_buttons(*keys: str) -> list[Button]:
    """Buttons for the likely next questions (all the common ones without keys)."""
    return [QUESTION_BUTTONS[k] for k in (keys or tuple(QUESTION_BUTTONS))]


def rate(value: Any) -> str:
    """A TPR for the analyst: `41.5%`, or `no data` when blank (never 0)."""
    return "no data" if _is_blank(value) else pct(value)


def points(value: Any) -> str:
    """A difference in percentage points: `+8.4 points`, `-0.3 points`; blank -> `n/a`."""
    if _is_blank(value):
        return "n/a"
    return f"{float(value):+.1f} points"


def missing_before_results(values: dict[str, Any]) -> str:
    """What is missing before a question about the results can be answered."""
    missing = [
        QUESTION_NAMES[slot]
        for slot in ("state", "confirmed", "facility_level", "age_group")
        if values.get(slot) is None or (slot == "confirmed" and values.get(slot) is not True)
    ]
    if not missing:
        return "I can answer that once the results are calculated."
    listed = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
    return f"I can answer that once the results are in; I still need {listed}."


def list_cut_text(shown: int, total: int, what: str) -> str | None:
    """`Showing 15 of 48 wards; the full list is in the download.` when the list was cut."""
    if total <= shown:
        return None
    return f"Showing {shown} of {count(total)} {what}; the full list is in the download."


def ward_line(row: Any, rank: int | None = None, with_lga: bool = True) -> str:
    """`3. Bille (Fufore): 41.5% of 1,234 tests, RDT` or `Bille (Fufore): no data`."""
    head = f"{rank}. " if rank is not None else "- "
    place = f"{row.ward} ({row.lga})" if with_lga else f"{row.ward}"
    if _is_blank(row.tpr):
        return f"{head}{place}: no data"
    return f"{head}{place}: {pct(row.tpr)} of {count(row.tested)} tests, {method_name(row.method)}"


def method_name(method: Any) -> str:
    return {"rdt": "RDT", "microscopy": "microscopy", "combined": "combined"}.get(
        str(method), str(method)
    )


def total_line(label: str, total: dict[str, Any]) -> str:
    """`Fufore: 38.2% of 12,345 tests (4,716 positive), 9 of 10 wards with data`."""
    figure = (
        "no data"
        if _is_blank(total.get("tpr"))
        else f"{pct(total.get('tpr'))} of {count(total.get('tested'))} tests "
        f"({count(total.get('positive'))} positive, {method_name(total.get('method'))})"
    )
    return (
        f"{label}: {figure}, {count(total.get('wards_with_data'))} of "
        f"{count(total.get('wards'))} wards with data"
    )


def unknown_place_text(kind: str, asked: str, state: str, names: list[str]) -> str:
    """`I couldn't find the LGA 'Kwkokogu' in Adamawa. Its LGAs are: ...`."""
    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    asked_part = f" '{asked}'" if asked else ""
    plural = "LGAs" if kind == "LGA" else "wards"
    return f"I couldn't find the {kind}{asked_part} in {state}. Its {plural} are: {shown}."


def ambiguous_ward_text(ward: str, lgas: list[str]) -> str:
    return f"{ward} is in {len(lgas)} LGAs: {', '.join(lgas)}; which one?"


def no_data_reason(reason: str, facilities: Any, invalid_pairs: Any) -> str:
    """The engine's reason for a blank TPR, with the counts behind it."""
    details = []
    if facilities:
        details.append(f"{count(facilities)} facilit{'y' if facilities == 1 else 'ies'}")
    if invalid_pairs:
        details.append(f"{count(invalid_pairs)} invalid pair{'s' if invalid_pairs != 1 else ''}")
    return reason + (f" ({', '.join(details)})" if details else "")


def compare_what_text() -> str:
    return (
        "Compare with what? Name the change, e.g. 'compare with pregnant women', 'compare RDT "
        "and microscopy', 'compare with secondary facilities' or 'compare with January to June'."
    )


def same_selection_text(description: str) -> str:
    return (
        f"That is the selection in force already ({description}). Name a different age group, "
        "facility level, method or period to compare with."
    )


def downloads_line(what: str, csv_link: str, xlsx_link: str | None = None) -> str:
    text = f"Download {what}: CSV {csv_link}"
    return text + (f" | Excel {xlsx_link}" if xlsx_link else "")
