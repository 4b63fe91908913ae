"""Matching boundary polygons to the data's wards by (state, LGA, ward), never by ward alone.

Order, within one state:
1. LGAs: exact key (case and spacing), else loose key (punctuation, `II`/`2`, doubled
   letters), else fuzzy similarity >= LGA_FUZZY_THRESHOLD; one polygon LGA per data LGA.
2. Wards, only inside a matched pair of LGAs: exact key, else loose key, else fuzzy
   similarity >= WARD_FUZZY_THRESHOLD and at least FUZZY_MARGIN above the next candidate.
   A fuzzy match never crosses LGAs, so a misspelling that resembles a ward of another LGA
   is left unmatched and reported, not guessed.

Every loose match is reported with both spellings; nothing is matched silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from actions.tpr.names import clean_name, name_key

LGA_FUZZY_THRESHOLD = 85.0
WARD_FUZZY_THRESHOLD = 85.0
FUZZY_MARGIN = 5.0
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7"}

Key = tuple[str, str, str]  # (state, LGA, ward) as displayed


def loose_key(name: str) -> str:
    """`Mayo-Belwa` = `mayo belwa`; `Bille II` = `Bille 2`; `Wuro Bokki` = `Wuro Boki`."""
    words = re.sub(r"[^0-9a-z]+", " ", name_key(clean_name(name))).split()
    words = [_ROMAN.get(word, word) for word in words]
    return re.sub(r"(.)\1+", r"\1", "".join(words))


def _similarity(a: str, b: str) -> float:
    from rapidfuzz import fuzz

    return float(fuzz.ratio(a, b))


@dataclass
class MatchReport:
    """The outcome of matching; `pairs` maps each matched data ward to a polygon row."""

    exact: list[Key] = field(default_factory=list)
    loose: list[tuple[Key, Key, float]] = field(default_factory=list)  # data, file, score
    data_without_polygon: list[Key] = field(default_factory=list)
    polygons_without_data: list[Key] = field(default_factory=list)
    lgas_unmatched: list[tuple[str, str]] = field(default_factory=list)  # data LGAs
    file_lgas_unmatched: list[tuple[str, str]] = field(default_factory=list)
    loose_lgas: list[tuple[tuple[str, str], tuple[str, str], float]] = field(default_factory=list)
    pairs: dict[Key, int] = field(default_factory=dict)  # data ward -> polygon row
    file_names: dict[Key, Key] = field(default_factory=dict)  # data ward -> file spelling

    @property
    def matched(self) -> int:
        return len(self.pairs)

    def counts(self) -> dict[str, int]:
        return {
            "data_wards": len(self.pairs) + len(self.data_without_polygon),
            "matched": self.matched,
            "exact": len(self.exact),
            "loose": len(self.loose),
            "data_without_polygon": len(self.data_without_polygon),
            "polygons_without_data": len(self.polygons_without_data),
            "lgas_unmatched": len(self.lgas_unmatched),
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per ward: the match report as a table (the download)."""
        rows: list[tuple[Any, ...]] = []
        loose = {data: score for data, _, score in self.loose}
        for key in self.pairs:
            file = self.file_names.get(key, key)
            if key in loose:
                rows.append(("loose", *key, file[1], file[2], round(loose[key], 1)))
            else:
                rows.append(("exact", *key, file[1], file[2], 100.0))
        for key in self.data_without_polygon:
            rows.append(("data ward without polygon", *key, "", "", None))
        for key in self.polygons_without_data:
            rows.append(("polygon without data", key[0], "", "", key[1], key[2], None))
        return pd.DataFrame(
            rows,
            columns=["match", "state", "lga", "ward", "file_lga", "file_ward", "similarity"],
        )


def _pair_best(
    left: dict[str, str], right: dict[str, str], threshold: float, margin: float
) -> list[tuple[str, str, float]]:
    """One-to-one fuzzy pairs of loose keys, best first; a pair needs `threshold` and to beat
    both sides' next candidate by `margin` (ambiguous names stay unmatched)."""
    scores = [
        (_similarity(a, b), a_name, b_name)
        for a_name, a in left.items()
        for b_name, b in right.items()
    ]
    scores.sort(key=lambda item: -item[0])
    best_left: dict[str, list[float]] = {}
    best_right: dict[str, list[float]] = {}
    for score, a_name, b_name in scores:
        best_left.setdefault(a_name, []).append(score)
        best_right.setdefault(b_name, []).append(score)
    used_a: set[str] = set()
    used_b: set[str] = set()
    pairs = []
    for score, a_name, b_name in scores:
        if score < threshold:
            break
        if a_name in used_a or b_name in used_b:
            continue
        second_a = best_left[a_name][1] if len(best_left[a_name]) > 1 else 0.0
        second_b = best_right[b_name][1] if len(best_right[b_name]) > 1 else 0.0
        if score - max(second_a, second_b) < margin:
            continue
        used_a.add(a_name)
        used_b.add(b_name)
        pairs.append((a_name, b_name, score))
    return pairs


def _match_names(
    data_names: list[str], file_names: list[str], threshold: float
) -> tuple[dict[str, str], dict[str, float]]:
    """{data name: file name} by exact key, then loose key, then fuzzy; and the scores of
    the loose and fuzzy ones (100 for loose-key equality)."""
    mapping: dict[str, str] = {}
    scores: dict[str, float] = {}
    file_by_key: dict[str, list[str]] = {}
    for name in file_names:
        file_by_key.setdefault(name_key(name), []).append(name)
    taken: set[str] = set()
    for name in data_names:
        candidates = file_by_key.get(name_key(name), [])
        if len(candidates) == 1:
            mapping[name] = candidates[0]
            taken.add(candidates[0])
    rest_data = [n for n in data_names if n not in mapping]
    rest_file = [n for n in file_names if n not in taken]
    by_loose: dict[str, list[str]] = {}
    for name in rest_file:
        by_loose.setdefault(loose_key(name), []).append(name)
    for name in rest_data:
        candidates = [c for c in by_loose.get(loose_key(name), []) if c not in taken]
        same_data = [n for n in rest_data if loose_key(n) == loose_key(name)]
        if len(candidates) == 1 and len(same_data) == 1:
            mapping[name] = candidates[0]
            scores[name] = 100.0
            taken.add(candidates[0])
    left = {n: loose_key(n) for n in data_names if n not in mapping}
    right = {n: loose_key(n) for n in file_names if n not in taken}
    for a_name, b_name, score in _pair_best(left, right, threshold, FUZZY_MARGIN):
        mapping[a_name] = b_name
        scores[a_name] = score
    return mapping, scores


def match_wards(data_wards: pd.DataFrame, polygons: pd.DataFrame) -> MatchReport:
    """Match data wards (columns state, lga, ward) to polygon rows (state, lga, ward).

    Polygons without a state name (a state's own file) belong to every state of the data.
    Only the states of `data_wards` are matched; polygons of other states are not reported.
    """
    report = MatchReport()
    poly = polygons[["state", "lga", "ward"]].reset_index(drop=True)
    poly_state = poly["state"].astype(str).to_numpy()
    poly_lga = poly["lga"].astype(str).to_numpy()
    poly_ward = poly["ward"].astype(str).to_numpy()
    rows_by_state: dict[str, list[int]] = {}
    for row, name in enumerate(poly_state):
        rows_by_state.setdefault(name_key(name), []).append(row)
    data_by_state: dict[str, dict[str, list[str]]] = {}
    for state, lga, ward in data_wards[["state", "lga", "ward"]].itertuples(index=False):
        data_by_state.setdefault(state, {}).setdefault(lga, []).append(ward)
    considered: set[int] = set()
    for state, data_lgas in data_by_state.items():
        rows = rows_by_state.get(name_key(state), []) + rows_by_state.get("", [])
        considered.update(rows)
        file_rows: dict[str, list[int]] = {}
        for row in rows:
            file_rows.setdefault(poly_lga[row], []).append(row)
        lga_map, lga_scores = _match_names(list(data_lgas), list(file_rows), LGA_FUZZY_THRESHOLD)
        for data_lga, file_lga in lga_map.items():
            if name_key(data_lga) != name_key(file_lga):
                report.loose_lgas.append(
                    ((state, data_lga), (state, file_lga), lga_scores.get(data_lga, 100.0))
                )
        for data_lga, wards in data_lgas.items():
            file_lga = lga_map.get(data_lga)
            if file_lga is None:
                report.lgas_unmatched.append((state, data_lga))
                report.data_without_polygon.extend((state, data_lga, w) for w in wards)
                continue
            file_wards = {poly_ward[r]: r for r in file_rows[file_lga]}
            ward_map, ward_scores = _match_names(wards, list(file_wards), WARD_FUZZY_THRESHOLD)
            for ward in wards:
                key = (state, data_lga, ward)
                file_ward = ward_map.get(ward)
                if file_ward is None:
                    report.data_without_polygon.append(key)
                    continue
                row = file_wards[file_ward]
                report.pairs[key] = row
                file_key = (poly_state[row] or state, file_lga, file_ward)
                report.file_names[key] = file_key
                if name_key(file_ward) == name_key(ward) and ward not in ward_scores:
                    report.exact.append(key)
                else:
                    report.loose.append((key, file_key, ward_scores.get(ward, 100.0)))
        matched_lgas = set(lga_map.values())
        report.file_lgas_unmatched.extend(
            (state, lga) for lga in file_rows if lga not in matched_lgas
        )
    matched_rows = set(report.pairs.values())
    report.polygons_without_data = [
        (poly_state[r], poly_lga[r], poly_ward[r])
        for r in sorted(considered)
        if r not in matched_rows
    ]
    return report


def data_wards_of(dataset: Any, state: str | None = None) -> pd.DataFrame:
    """(state, lga, ward) of every ward of the dataset (or of one state): the same wards, in
    the same order, as the ward tables of `compute_tpr` (ward ids of a state are contiguous)."""
    arrays = dataset.arrays
    rows: list[tuple[str, str, str]] = []
    for name, (start, end) in arrays.state_bounds.items():
        if state is not None and name_key(name) != name_key(state):
            continue
        ids = arrays.ward_id[start:end]
        for ward_id in range(int(ids.min()), int(ids.max()) + 1):
            rows.append((name, str(arrays.ward_lga[ward_id]), str(arrays.ward_name[ward_id])))
    return pd.DataFrame(rows, columns=["state", "lga", "ward"])
