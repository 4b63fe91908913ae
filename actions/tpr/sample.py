"""Sample NMEP-like files for demos, tests and the benchmark, with the traps of nmep-format.md.

`sample_frame` returns the raw table exactly as a file of that layout holds it (prefixed names,
original headers with the doubled space and the garbled `≥`, a `.1` duplicate column, the
totals row last in layout B); `write_sample_file` writes it as .xlsx or .csv.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from actions.tpr.dataset import MONTH_NAMES

STATES: list[tuple[str, str]] = [
    ("Adamawa", "ad"), ("Kwara", "kw"), ("Niger", "ni"), ("Kano", "kn"), ("Abia", "ab"),
    ("Akwa Ibom", "ak"), ("Anambra", "an"), ("Bauchi", "ba"), ("Bayelsa", "by"),
    ("Benue", "be"), ("Borno", "bo"), ("Cross River", "cr"), ("Delta", "de"), ("Ebonyi", "eb"),
    ("Edo", "ed"), ("Ekiti", "ek"), ("Enugu", "en"), ("Federal Capital Territory", "fc"),
    ("Gombe", "go"), ("Imo", "im"), ("Jigawa", "ji"), ("Kaduna", "kd"), ("Katsina", "kt"),
    ("Kebbi", "ke"), ("Kogi", "ko"), ("Lagos", "la"), ("Nasarawa", "na"), ("Ogun", "og"),
    ("Ondo", "on"), ("Osun", "os"), ("Oyo", "oy"), ("Plateau", "pl"), ("Rivers", "ri"),
    ("Sokoto", "so"), ("Taraba", "ta"), ("Yobe", "yo"), ("Zamfara", "za"),
]  # fmt: skip
ADAMAWA_LGAS = [
    "Fufore", "Yola North", "Yola South", "Mubi North", "Mubi South", "Girei", "Song", "Ganye",
    "Jada", "Numan", "Demsa", "Lamurde", "Guyuk", "Shelleng", "Gombi", "Hong", "Maiha",
    "Michika", "Madagali", "Mayo-Belwa", "Toungo",
]  # fmt: skip
WARD_NAMES = [
    "Bille", "Ribadu", "Nassarawo", "Lamurde", "Gurin", "Karlahi", "Wuro Bokki", "Jabbi Lamba",
    "Dasin", "Malabu", "Mayo Ine", "Pariya", "Beti", "Farang", "Gereng", "Dumne", "Sebore",
    "Gella", "Uba", "Kwagol", "Zumo", "Tola", "Gamu", "Kiri", "Bakta", "Pakka", "Hildi",
    "Dong", "Banga", "Shuwa", "Gulak", "Duhu", "Mbilla", "Kala", "Ngurore", "Mbamba",
]  # fmt: skip
SYLLABLES = ["ka", "ba", "du", "mi", "go", "ra", "zu", "ta", "le", "no", "wa", "ji", "sa", "ko"]
PRIMARY_TYPES = ["PHC", "Health Post", "Primary Health Centre", "Clinic", "Maternity"]
SECONDARY_TYPES = ["General Hospital", "Cottage Hospital"]
TERTIARY_TYPES = ["Federal Medical Centre", "Teaching Hospital"]
REPEATED_WARD = "Yelwa"


def _header(kind: str, method: str, age: str, ge: str, spaces: str = "  ") -> str:
    """One NMEP indicator header; `ge` is how the ≥ sign arrives in this export."""
    if kind == "tested":
        joiner = "&" if method == "RDT" else "and"
        stem = f"Persons presenting with fever {joiner} tested by {method}"
    else:
        stem = f"Persons tested positive for malaria by {method}"
    tail = {"u5": " <5yrs", "o5": f"{spaces}{ge}5yrs (excl PW)", "pw": " Preg Women (PW)"}[age]
    return stem + tail


def indicator_headers(layout: str) -> dict[str, str]:
    """Canonical indicator key -> header text as it appears in a file of `layout`."""
    headers = {}
    for method, label in (("rdt", "RDT"), ("micro", "Microscopy")):
        for kind in ("tested", "positive"):
            for age in ("u5", "o5", "pw"):
                if layout == "A":
                    ge = "≥" if method == "rdt" else "â‰¥"
                    text = _header(kind, label, age, ge)
                elif layout == "B":
                    text = _header(kind, label, age, "â‰¥")
                else:
                    text = _header(kind, label, age, "≥", spaces=" ").lower()
                headers[f"{method}_{kind}_{age}"] = text
    return headers


def _made_up_name(rng: np.random.Generator) -> str:
    count = int(rng.integers(2, 4))
    return "".join(rng.choice(SYLLABLES, size=count)).capitalize()


def _state_structure(
    state_index: int, name: str, rows: int, rng: np.random.Generator, months: int = 12
) -> pd.DataFrame:
    """Facilities of one state with LGA, ward, level and reporting habits."""
    n_facilities = max(3, -(-rows // months))
    n_lgas = int(np.clip(round(n_facilities / 37), 3, 21))
    wards_per_lga = max(2, round(n_facilities / (3.4 * n_lgas)))
    lga_pool = ADAMAWA_LGAS if name == "Adamawa" else []
    lgas: list[str] = []
    while len(lgas) < n_lgas:
        candidate = lga_pool[len(lgas)] if len(lgas) < len(lga_pool) else _made_up_name(rng)
        if candidate not in lgas:
            lgas.append(candidate)
    wards: list[tuple[str, str]] = []
    for lga_index, lga in enumerate(lgas):
        used: set[str] = set()
        for ward_index in range(wards_per_lga):
            if ward_index == 0 and lga_index < 2:
                ward = REPEATED_WARD  # the same ward name in two LGAs of every state
            else:
                pool_index = (lga_index * wards_per_lga + ward_index) % len(WARD_NAMES)
                ward = WARD_NAMES[pool_index] if lga_index < 3 else _made_up_name(rng)
            while ward in used:
                ward = _made_up_name(rng)
            used.add(ward)
            wards.append((lga, ward))
    primary_share = 0.6 if state_index == 2 else 0.88
    facility_rows = []
    per_ward_count: dict[tuple[str, str], int] = {}
    for f in range(n_facilities):
        lga, ward = wards[f % len(wards)]
        if f == 0:
            level = "secondary"
        elif f == 1:
            level = "tertiary"
        elif rng.random() < primary_share:
            level = "primary"
        else:
            level = "secondary" if rng.random() < 0.8 else "tertiary"
        types = {"primary": PRIMARY_TYPES, "secondary": SECONDARY_TYPES,
                 "tertiary": TERTIARY_TYPES}[level]  # fmt: skip
        kind = types[int(rng.integers(len(types)))]
        count = per_ward_count.get((lga, ward), 0) + 1
        per_ward_count[(lga, ward)] = count
        facility = f"{ward} {kind}" + ("" if count == 1 else f" {count}")
        facility_rows.append((lga, ward, facility, level))
    facilities = pd.DataFrame(facility_rows, columns=["lga", "ward", "facility", "level"])
    facilities["lam"] = rng.uniform(5, 60, n_facilities)
    base = {w: rng.uniform(0.15, 0.75) for w in wards}
    facilities["rate"] = [
        float(np.clip(base[(r.lga, r.ward)] + rng.normal(0, 0.05), 0.02, 0.95))
        for r in facilities.itertuples()
    ]
    micro_p = np.where(facilities["level"] == "primary", 0.08, 0.85)
    facilities["micro"] = rng.random(n_facilities) < micro_p
    # One ward (when there are enough) never reports a test: its TPR must come out blank.
    facilities["silent"] = False
    if len(wards) >= 6:
        silent_ward = wards[-1]
        facilities["silent"] = [(r.lga, r.ward) == silent_ward for r in facilities.itertuples()]
    return facilities


@dataclass(frozen=True)
class Periods:
    """The months a sample covers: `months` consecutive months from `first_period` (YYYYMM)."""

    months: int = 12
    first_period: int = 202401

    def __post_init__(self) -> None:
        if self.months < 1:
            raise ValueError("months must be at least 1")
        year, month = divmod(self.first_period, 100)
        if not 1 <= month <= 12 or not 1900 <= year <= 2999:
            raise ValueError(f"first period {self.first_period} is not a month as YYYYMM")

    @property
    def codes(self) -> np.ndarray:
        """YYYYMM of each month index, across year boundaries (202312 then 202401)."""
        year, month = divmod(self.first_period, 100)
        absolute = year * 12 + (month - 1) + np.arange(self.months)
        return (absolute // 12) * 100 + absolute % 12 + 1

    @property
    def multi_year(self) -> bool:
        codes = self.codes
        return int(codes[0]) // 100 != int(codes[-1]) // 100


@dataclass(frozen=True)
class TimeEffects:
    """What changes over the months of a multi-year sample (all off for a one-year file).

    `trend`: a seasonal peak (August to September) in tests and positivity everywhere, and a
    positivity slope in some wards (about a quarter rising, a quarter falling by 4-10 points a
    year). `moving_facility`: in every state one facility changes ward (within its LGA) from the
    second calendar year on. `missing`: state name -> YYYYMM codes absent for the whole state.
    """

    trend: bool = False
    moving_facility: bool = False
    missing: dict[str, tuple[int, ...]] = field(default_factory=dict)


def ward_slopes(n_wards: int, seed: int) -> np.ndarray:
    """Positivity change per year (fraction, e.g. +0.06) for each ward of a state."""
    rng = np.random.default_rng(seed)
    kind = rng.random(n_wards)
    size = rng.uniform(0.04, 0.10, n_wards)
    return np.where(kind < 0.25, size, np.where(kind < 0.5, -size, 0.0))


SEASON = 0.5 * (1 + np.cos(2 * np.pi * (np.arange(12) - 7.5) / 12))  # 1 at Aug/Sep, 0 at Feb
"""Seasonal weight by calendar month index (0 = January): malaria peaks in the rainy season."""


def _state_rows(
    state_index: int,
    name: str,
    rows: int,
    rng: np.random.Generator,
    periods: Periods = Periods(),
    effects: TimeEffects = TimeEffects(),
    seed: int = 0,
) -> pd.DataFrame:
    months = periods.months
    facilities = _state_structure(state_index, name, rows, rng, months)
    fac = np.repeat(np.arange(len(facilities)), months)[:rows]
    month = np.tile(np.arange(months), len(facilities))[:rows]
    table = facilities.iloc[fac].reset_index(drop=True)
    codes = periods.codes[month]
    table["month"] = codes % 100 - 1
    table["periodcode"] = codes
    if effects.moving_facility and periods.multi_year:
        _move_one_facility(table, facilities, fac, codes)
    if effects.missing.get(name):
        table = table[~np.isin(codes, effects.missing[name])].reset_index(drop=True)
    n = len(table)
    lam = table["lam"].to_numpy()
    rate = table["rate"].to_numpy()
    silent = table["silent"].to_numpy()
    if effects.trend:
        # Its own generator, so the main draws (and every one-year file) stay as they were.
        ward_keys = pd.Categorical(table["lga"] + "|" + table["ward"])
        slopes = ward_slopes(len(ward_keys.categories), seed * 1000 + state_index)
        years = (table["periodcode"].to_numpy() // 100 - periods.first_period // 100).astype(float)
        season = SEASON[table["month"].to_numpy()]
        rate = np.clip(rate + slopes[ward_keys.codes] * years + 0.08 * (season - 0.5), 0.02, 0.95)
        lam = lam * (0.75 + 0.5 * season)
    values: dict[str, np.ndarray] = {}
    for method, share in (("rdt", 1.0), ("micro", 0.3)):
        reports = np.ones(n, dtype=bool) if method == "rdt" else table["micro"].to_numpy()
        for age, factor in (("u5", 1.0), ("o5", 1.4), ("pw", 0.3)):
            tested = rng.poisson(lam * factor * share).astype(float)
            positive = rng.binomial(
                tested.astype(int), np.clip(rate + (method == "micro") * 0.05, 0, 1)
            ).astype(float)
            blank = (rng.random(n) < 0.3) | ~reports | silent
            tested[blank] = np.nan
            positive[blank] = np.nan
            positive[~blank & (rng.random(n) < 0.05)] = np.nan  # P blank, T given: P = 0
            bad = ~blank & (rng.random(n) < 0.004)
            positive[bad] = tested[bad] + rng.integers(1, 5, int(bad.sum()))
            orphan = blank & ~silent & (rng.random(n) < 0.002)
            positive[orphan] = rng.integers(1, 4, int(orphan.sum()))
            values[f"{method}_tested_{age}"] = tested
            values[f"{method}_positive_{age}"] = positive
    all_tests = np.nansum([values[f"rdt_tested_{a}"] for a in ("u5", "o5", "pw")], axis=0)
    opd = np.rint(all_tests * 1.6 + rng.poisson(20, n)).astype(float)
    opd[rng.random(n) < 0.1] = np.nan
    table["opd"] = opd
    table["general"] = opd + rng.poisson(10, n)
    table["inpatient"] = rng.poisson(3, n).astype(float)
    table["fever"] = all_tests + rng.poisson(5, n)
    for key, column in values.items():
        table[key] = column
    table["state"] = name
    return table


def _move_one_facility(
    table: pd.DataFrame, facilities: pd.DataFrame, fac: np.ndarray, codes: np.ndarray
) -> None:
    """From the second calendar year on, one facility reports under another ward of its LGA."""
    speaking = facilities[~facilities["silent"]]
    for index, facility in speaking.iterrows():
        others = speaking.loc[
            (speaking["lga"] == facility["lga"]) & (speaking["ward"] != facility["ward"]), "ward"
        ]
        if len(others):
            later = (fac == index) & (codes // 100 > int(codes[0]) // 100)
            table.loc[later, "ward"] = others.iloc[0]
            return


def sample_frame(
    layout: str = "A",
    states: int = 2,
    rows_per_state: int = 200,
    seed: int = 0,
    state_names: list[str] | None = None,
    months: int = 12,
    first_period: int = 202401,
    trend: bool | None = None,
    moving_facility: bool | None = None,
    missing: dict[str, tuple[int, ...]] | None = None,
) -> pd.DataFrame:
    """The raw table of a sample file in `layout` ("A", "B" or "C"), traps included.

    `months` consecutive months from `first_period` (YYYYMM), `rows_per_state` rows each state
    (facilities x months). `trend` and `moving_facility` default to on when the months span
    more than one calendar year (see TimeEffects); `missing` drops whole months of a state.
    """
    layout = layout.upper()
    periods = Periods(months, first_period)
    effects = TimeEffects(
        trend=periods.multi_year if trend is None else trend,
        moving_facility=periods.multi_year if moving_facility is None else moving_facility,
        missing={k: tuple(int(c) for c in v) for k, v in (missing or {}).items()},
    )
    if layout not in ("A", "B", "C"):
        raise ValueError("layout must be A, B or C")
    rng = np.random.default_rng(seed)
    codes = dict(STATES)
    names = list(state_names) if state_names else [s for s, _ in STATES][:states]
    parts = [
        _state_rows(i, name, rows_per_state, rng, periods, effects, seed).assign(
            code=codes.get(name, name[:2].lower())
        )
        for i, name in enumerate(names)
    ]
    table = pd.concat(parts, ignore_index=True)
    headers = indicator_headers(layout)
    period_code = table["periodcode"].to_numpy()
    label = {int(c): f"{MONTH_NAMES[c % 100 - 1]} {c // 100}" for c in periods.codes}
    period_name = pd.Series(period_code).map(label).to_numpy(dtype=object)
    code = table["code"]
    if layout in ("A", "B"):
        ward_text = code + " " + table["ward"] + " Ward"
        variant = (table["month"] > 0) & (np.arange(len(table)) % 97 == 5)
        ward_text = ward_text.where(~variant, code + "  " + table["ward"].str.upper() + "  Ward")
        location = {
            "state": code + " " + table["state"] + " State",
            "lga": code + " " + table["lga"] + " Local Government Area",
            "ward": ward_text,
            "facility": code + " " + table["facility"],
        }
    else:
        location = {
            "state": table["state"] + " State",
            "lga": table["lga"],
            "ward": table["ward"],
            "facility": table["facility"],
        }
    out: dict[str, object] = {}
    if layout == "A":
        out["State"] = location["state"]
        out["LGA"] = location["lga"]
        out["Ward"] = location["ward"]
        out["Health Faccility"] = location["facility"]
        out["level"] = table["level"].str.capitalize() + " Health Facility"
        out["ownership"] = np.where(np.arange(len(table)) % 7 == 0, "Private", "Public")
    elif layout == "B":
        out["orgunitlevel1"] = "ng Nigeria"
        out["orgunitlevel2"] = location["state"]
        out["orgunitlevel3"] = location["lga"]
        out["orgunitlevel4"] = location["ward"]
        out["orgunitlevel5"] = location["facility"]
    else:
        out["State"] = location["state"]
        out["LGA"] = location["lga"]
        out["WardName"] = location["ward"]
        out["HealthFacility"] = location["facility"]
        spelled = (
            table["level"].str.capitalize().where(np.arange(len(table)) % 3 != 0, table["level"])
        )
        out["FacilityLevel"] = spelled
    out["periodname"] = period_name
    out["periodcode"] = period_code
    if layout != "C":
        out["General Attendance"] = table["general"]
        out["Out-patient Attendance"] = table["opd"]
        out["Inpatient Admissions"] = table["inpatient"]
        out["Persons with fever"] = table["fever"]
    for key, header in headers.items():
        out[header] = table[key]
    if layout == "B":
        out[headers["rdt_tested_u5"] + ".1"] = table["rdt_tested_u5"]
        out["PW who received LLIN"] = table["inpatient"]
        out["Children <5 yrs who received LLIN"] = table["inpatient"] * 2
    frame = pd.DataFrame(out)
    if layout == "B":
        numeric = frame.select_dtypes("number").columns.drop("periodcode")
        totals = {column: None for column in frame.columns}
        totals["orgunitlevel1"] = "Total"
        totals.update({column: frame[column].sum() for column in numeric})
        frame = pd.concat([frame, pd.DataFrame([totals])], ignore_index=True)
        frame["periodcode"] = frame["periodcode"].astype("Int64")
    return frame


def write_sample_file(
    frame: pd.DataFrame,
    path: str | Path,
    layout: str = "A",
    blank_first_row: bool = False,
    encoding: str = "utf-8",
    shared_strings: bool = False,
) -> Path:
    """Write `frame` as .xlsx (layout's sheets) or .csv (by suffix); text stays text.

    xlsxwriter's constant_memory mode (fast, little memory) writes every text cell inline;
    `shared_strings=True` rewrites the workbook with a shared-strings table instead, as Excel
    and the DHIS2 exporter write theirs (see `to_shared_strings`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        text = frame.to_csv(index=False, lineterminator="\r\n")
        if blank_first_row:
            text = "\r\n" + text
        path.write_bytes(text.encode(encoding, errors="replace"))
        return path
    import xlsxwriter

    if shared_strings:
        inline = path.with_name(path.name + ".inline.tmp")
        try:
            write_sample_file(frame, inline, layout, blank_first_row)
            to_shared_strings(inline, path)
        finally:
            inline.unlink(missing_ok=True)
        return path
    options = {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
               "strings_to_numbers": False}  # fmt: skip
    # xlsxwriter takes ~3 us a cell (minutes for a national file): past a few thousand rows it
    # writes the package and the header, and the rows' XML is made column-wise (`_rows_xml`).
    fast = len(frame) > FAST_WRITE_ROWS
    table = frame.iloc[:0] if fast else frame
    workbook = xlsxwriter.Workbook(str(path), options)
    layout = layout.upper()
    if layout == "A":
        _write_pivot(workbook, frame)
        _write_table(workbook.add_worksheet("raw"), table, blank_first_row)
        _write_tpr_sheet(workbook, frame)
        part = "xl/worksheets/sheet2.xml"
    else:
        name = "Sheet1" if layout == "B" else "data"
        _write_table(workbook.add_worksheet(name), table, blank_first_row)
        part = "xl/worksheets/sheet1.xml"
    workbook.close()
    if fast:
        _append_rows(path, part, frame, first_row=3 if blank_first_row else 2)
    return path


FAST_WRITE_ROWS = 5000
_ROW_BLOCK = 20_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _number_fragment(value: float) -> str:
    return f'"><v>{value:.16g}</v></c>'


def _text_fragment(text: str) -> str:
    """The tail of an inline-string cell, escaped as xlsxwriter escapes it."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _CONTROL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", escaped)
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'" t="inlineStr"><is><t{space}>{escaped}</t></is></c>'


def _cell_fragments(values: pd.Series) -> np.ndarray:
    """Per row: what follows `<c r="A7` in the cell's XML, or "" for a blank cell."""
    if (
        values.dtype.kind in "fiub"
        or pd.api.types.is_extension_array_dtype(values.dtype)
        and (pd.api.types.is_numeric_dtype(values.dtype))
    ):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(numbers)
        filled = np.where(present, numbers, 0.0)
        if np.array_equal(filled, np.floor(filled)) and np.abs(filled).max(initial=0) < 2**53:
            text = filled.astype(np.int64).astype(str).astype(object)
        else:
            text = np.array([f"{v:.16g}" for v in filled], dtype=object)
        fragments = '"><v>' + text + "</v></c>"
        fragments[~present] = ""
        return fragments
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    rendered = []
    for value in uniques:
        if isinstance(value, str):
            rendered.append(_text_fragment(value))
        elif value is None or (isinstance(value, float) and np.isnan(value)):
            rendered.append("")
        else:
            rendered.append(_number_fragment(float(value)))
    return np.array([*rendered, ""], dtype=object)[codes]


def _rows_xml(frame: pd.DataFrame, first_row: int):
    """`<row>` elements for `frame`, as xlsxwriter writes them, in blocks of bytes."""
    letters = ['<c r="' + _column_letters(i) for i in range(frame.shape[1])]
    for start in range(0, len(frame), _ROW_BLOCK):
        block = frame.iloc[start : start + _ROW_BLOCK]
        numbers = (np.arange(len(block)) + first_row + start).astype(str).astype(object)
        rows = '<row r="' + numbers + '">'
        for index in range(block.shape[1]):
            fragments = _cell_fragments(block.iloc[:, index])
            rows = rows + np.where(fragments != "", letters[index] + numbers + fragments, "")
        yield "".join((rows + "</row>").tolist()).encode("utf-8")


def _append_rows(path: Path, part: str, frame: pd.DataFrame, first_row: int) -> None:
    """Put `frame`'s rows into the header-only sheet `part` of the workbook at `path`."""
    last_row = first_row + len(frame) - 1
    finished = path.with_name(path.name + ".rows.tmp")
    try:
        with (
            zipfile.ZipFile(path) as original,
            zipfile.ZipFile(finished, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as copy,
        ):
            for info in original.infolist():
                data = original.read(info)
                if info.filename != part:
                    copy.writestr(info, data)
                    continue
                data = re.sub(
                    rb'(<dimension ref="[A-Z]+[0-9]+:[A-Z]+)[0-9]+"',
                    rb'\g<1>%d"' % last_row,
                    data,
                    count=1,
                )
                head, tail = data.split(b"</sheetData>", 1)
                with copy.open(part, "w", force_zip64=True) as out:
                    out.write(head)
                    for block in _rows_xml(frame, first_row):
                        out.write(block)
                    out.write(b"</sheetData>" + tail)
        finished.replace(path)
    finally:
        finished.unlink(missing_ok=True)


def _cells(frame: pd.DataFrame) -> list[list[object]]:
    return frame.astype(object).where(frame.notna(), None).values.tolist()


def _write_table(sheet, frame: pd.DataFrame, blank_first_row: bool) -> None:
    row = 1 if blank_first_row else 0
    sheet.write_row(row, 0, [str(c) for c in frame.columns])
    for start in range(0, len(frame), 50_000):  # in slices: a 1M-row frame as objects is GBs
        for values in _cells(frame.iloc[start : start + 50_000]):
            row += 1
            for col, value in enumerate(values):
                if value is None:
                    continue
                if isinstance(value, str):
                    sheet.write_string(row, col, value)
                else:
                    sheet.write_number(row, col, float(value))


def _write_pivot(workbook, frame: pd.DataFrame) -> None:
    """Layout A's first sheet: a pivot that is not the data (the reader must skip it)."""
    sheet = workbook.add_worksheet("pivot")
    tested = next(c for c in frame.columns if "tested by RDT <5" in c)
    sheet.write_row(0, 0, ["Row Labels", f"Sum of {tested}"])
    totals = frame.groupby("State", sort=False)[tested].sum()
    for row, (state, value) in enumerate(totals.items(), start=1):
        sheet.write_string(row, 0, str(state))
        sheet.write_number(row, 1, float(value))


def _write_tpr_sheet(workbook, frame: pd.DataFrame) -> None:
    sheet = workbook.add_worksheet("tpr")
    sheet.write_row(0, 0, ["State", "LGA", "Ward", "TPR"])
    wards = frame[["State", "LGA", "Ward"]].drop_duplicates().head(50)
    for row, values in enumerate(wards.itertuples(index=False), start=1):
        sheet.write_row(row, 0, [str(v) for v in values])


_INLINE_CELL = re.compile(
    rb'<c r="([A-Z]+[0-9]+)"((?: s="[0-9]+")?) t="inlineStr"><is><t(?: xml:space="preserve")?>'
    rb"(.*?)</t></is></c>",
    re.S,
)
_SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def to_shared_strings(source: str | Path, target: str | Path) -> Path:
    """Copy an inline-string .xlsx to `target` with every text cell in xl/sharedStrings.xml.

    Streams each sheet in row-aligned chunks, so a 1M-row workbook needs little memory. Each
    distinct text is stored once and cells hold its index (`t="s"`), as Excel writes them.
    """
    strings: dict[bytes, int] = {}
    uses = 0

    def shared(match: re.Match[bytes]) -> bytes:
        nonlocal uses
        uses += 1
        index = strings.setdefault(match.group(3), len(strings))
        return b'<c r="%s"%s t="s"><v>%d</v></c>' % (match.group(1), match.group(2), index)

    target = Path(target)
    with (
        zipfile.ZipFile(source) as original,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as copy,
    ):
        for info in original.infolist():
            name = info.filename
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                with original.open(info) as sheet_in, copy.open(name, "w", force_zip64=True) as out:
                    pending = b""
                    while chunk := sheet_in.read(1 << 24):
                        pending += chunk
                        cut = pending.rfind(b"</row>")
                        if cut >= 0:
                            out.write(_INLINE_CELL.sub(shared, pending[: cut + 6]))
                            pending = pending[cut + 6 :]
                    out.write(_INLINE_CELL.sub(shared, pending))
                continue
            data = original.read(info)
            if name == "[Content_Types].xml":
                part = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_SST_TYPE}"/>'
                data = data.replace(b"</Types>", part.encode() + b"</Types>")
            elif name == "xl/_rels/workbook.xml.rels":
                rel = f'<Relationship Id="rIdSst" Type="{_SST_REL}" Target="sharedStrings.xml"/>'
                data = data.replace(b"</Relationships>", rel.encode() + b"</Relationships>")
            copy.writestr(info, data)
        with copy.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns='
                b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                b'count="%d" uniqueCount="%d">' % (uses, len(strings))
            )
            for text in strings:  # insertion order = index order
                space = b' xml:space="preserve"' if text[:1] == b" " or text[-1:] == b" " else b""
                out.write(b"<si><t%s>%s</t></si>" % (space, text))
            out.write(b"</sst>")
    return target
