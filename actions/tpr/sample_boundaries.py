"""Synthetic ward boundaries for the wards of a workbook, with the traps of real files.

`python -m actions.tpr sample-boundaries --like WORKBOOK --out FILE(.geojson|.zip|.gpkg)`.
States are laid out on a grid over Nigeria, LGAs on a grid inside each state, wards on a grid
inside each LGA. Edges are densified and bent by one smooth displacement field, so that
neighbouring wards share their edges exactly and the vertex density is like a digitised file.

Traps (see nmep-format.md, "Boundary files"): the last data ward of the first state has no
polygon; one ward is misspelt (a letter dropped); every LGA name is in capitals; the shared
ward name (Yelwa) stays in several LGAs; one extra polygon has no data; `crs` may project it.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

EXTRA_WARD = "Extra Ward Without Data"
NIGERIA_BOX = (3.0, 4.6, 14.2, 13.6)


@dataclass
class SampleTraps:
    """What the sample changed, so tests and the demo can tell what to expect."""

    missing: tuple[str, str, str] | None = None
    misspelt: tuple[tuple[str, str, str], str] | None = None  # (data key, file spelling)
    extra: tuple[str, str, str] | None = None
    shared_ward_lgas: list[tuple[str, str]] = field(default_factory=list)


def _grid(n: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(n))
    return cols, math.ceil(n / cols)


def _displace(xy: np.ndarray) -> np.ndarray:
    """A smooth bend of the plane (same point -> same point, so shared edges stay shared)."""
    x, y = xy[:, 0], xy[:, 1]
    dx = 0.004 * np.sin(37.0 * y) + 0.0015 * np.sin(211.0 * y + 1.3)
    dy = 0.004 * np.sin(41.0 * x) + 0.0015 * np.sin(197.0 * x + 0.7)
    return np.column_stack([x + dx, y + dy])


def _cell(x0: float, y0: float, x1: float, y1: float, points_per_edge: int) -> object:
    from shapely import Polygon

    t = np.linspace(0.0, 1.0, points_per_edge, endpoint=False)
    bottom = np.column_stack([x0 + (x1 - x0) * t, np.full_like(t, y0)])
    right = np.column_stack([np.full_like(t, x1), y0 + (y1 - y0) * t])
    top = np.column_stack([x1 - (x1 - x0) * t, np.full_like(t, y1)])
    left = np.column_stack([np.full_like(t, x0), y1 - (y1 - y0) * t])
    ring = _displace(np.concatenate([bottom, right, top, left]))
    return Polygon(ring)


def ward_polygons(wards: pd.DataFrame, points_per_edge: int = 12, extra: bool = True) -> object:
    """GeoDataFrame (statename, lganame, wardname, geometry) for (state, lga, ward) rows."""
    import geopandas as gpd

    lon0, lat0, lon1, lat1 = NIGERIA_BOX
    states = list(dict.fromkeys(wards["state"]))
    s_cols, s_rows = 7, 6  # a grid for Nigeria's 37 states, whatever the file holds
    s_w, s_h = (lon1 - lon0) / s_cols, (lat1 - lat0) / s_rows
    rows, geoms = [], []
    for s_index, state in enumerate(states):
        sx, sy = lon0 + (s_index % s_cols) * s_w, lat0 + (s_index // s_cols) * s_h
        in_state = wards[wards["state"] == state]
        lgas = list(dict.fromkeys(in_state["lga"]))
        l_cols, l_rows = _grid(len(lgas) + (1 if extra else 0))
        l_w, l_h = s_w / l_cols, s_h / l_rows
        for l_index, lga in enumerate(lgas):
            lx, ly = sx + (l_index % l_cols) * l_w, sy + (l_index // l_cols) * l_h
            names = list(in_state.loc[in_state["lga"] == lga, "ward"])
            w_cols, w_rows = _grid(len(names))
            w_w, w_h = l_w / w_cols, l_h / w_rows
            for w_index, ward in enumerate(names):
                wx, wy = lx + (w_index % w_cols) * w_w, ly + (w_index // w_cols) * w_h
                rows.append((state, lga, ward))
                geoms.append(_cell(wx, wy, wx + w_w, wy + w_h, points_per_edge))
        if extra and s_index == 0:
            # One ward-sized polygon in the free LGA slot, named in the first LGA.
            slot = len(lgas)
            lx, ly = sx + (slot % l_cols) * l_w, sy + (slot // l_cols) * l_h
            w_cols, w_rows = _grid(int((in_state["lga"] == lgas[0]).sum()))
            rows.append((state, lgas[0], EXTRA_WARD))
            geoms.append(_cell(lx, ly, lx + l_w / w_cols, ly + l_h / w_rows, points_per_edge))
    frame = pd.DataFrame(rows, columns=["statename", "lganame", "wardname"])
    frame["wardcode"] = [f"W{i:05d}" for i in range(len(frame))]
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=4326)


def _misspell(name: str) -> str:
    """Drop one inner letter: `Ngurore` -> `Ngurre`; keeps short names recognisable."""
    letters = [i for i, ch in enumerate(name) if ch.isalpha()]
    drop = letters[len(letters) // 2] if len(letters) >= 5 else None
    return name if drop is None else name[:drop] + name[drop + 1 :]


def sample_boundaries(
    dataset: object, points_per_edge: int = 12, crs: str | None = None
) -> tuple[object, SampleTraps]:
    """Ward polygons for the wards of `dataset`, with the traps applied."""
    frame = dataset.frame  # type: ignore[attr-defined]
    wards = (
        pd.DataFrame(
            {c: frame[c].astype(object) for c in ("state", "lga", "ward")}
        ).dropna().drop_duplicates().reset_index(drop=True)
    )  # fmt: skip
    traps = SampleTraps()
    first_state = wards["state"].iloc[0]
    in_first = wards[wards["state"] == first_state]
    missing_row = in_first.index[-2]
    traps.missing = tuple(wards.loc[missing_row])  # type: ignore[assignment]
    kept = wards.drop(index=missing_row).reset_index(drop=True)
    gdf = ward_polygons(kept, points_per_edge=points_per_edge)
    counts = kept.groupby(["state", "ward"]).size()
    shared = counts[counts > 1].index.tolist()
    if shared:
        state, ward = shared[0]
        traps.shared_ward_lgas = [
            (state, lga) for lga in kept.loc[(kept.state == state) & (kept.ward == ward), "lga"]
        ]
    # Misspell a ward that is unique in its LGA and long enough, in the first state.
    candidates = gdf[
        (gdf.statename == first_state)
        & (gdf.wardname.str.len() >= 6)
        & (gdf.wardname != EXTRA_WARD)
        & ~gdf.wardname.isin([w for _, w in shared])
    ]
    if len(candidates):
        index = candidates.index[len(candidates) // 2]
        original = tuple(gdf.loc[index, ["statename", "lganame", "wardname"]])
        spelling = _misspell(original[2])
        gdf.loc[index, "wardname"] = spelling
        traps.misspelt = (original, spelling)  # type: ignore[assignment]
    gdf["lganame"] = gdf["lganame"].str.upper()
    extra = gdf[gdf.wardname == EXTRA_WARD].iloc[0]
    traps.extra = (extra.statename, extra.lganame, EXTRA_WARD)  # as spelt in the file
    if crs:
        gdf = gdf.to_crs(crs)
    return gdf, traps


def write_boundaries(gdf: object, out: Path) -> Path:
    """GeoJSON (.geojson/.json), zipped shapefile (.zip) or GeoPackage (.gpkg) by suffix."""
    suffix = out.suffix.lower()
    if suffix in (".geojson", ".json"):
        gdf.to_file(out, driver="GeoJSON", engine="pyogrio")  # type: ignore[attr-defined]
    elif suffix == ".gpkg":
        gdf.to_file(out, driver="GPKG", layer="wards", engine="pyogrio")  # type: ignore[attr-defined]
    elif suffix == ".zip":
        out.write_bytes(shapefile_zip_bytes(gdf))
    else:
        raise ValueError(f"unknown boundary file type '{suffix}': use .geojson, .zip or .gpkg")
    return out


def shapefile_zip_bytes(gdf: object, stem: str = "wards") -> bytes:
    """A zipped shapefile (.shp, .shx, .dbf, .prj, .cpg) of `gdf`."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="tpr-sample-shp-") as folder:
        path = os.path.join(folder, f"{stem}.shp")
        gdf.to_file(path, driver="ESRI Shapefile", engine="pyogrio")  # type: ignore[attr-defined]
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(os.listdir(folder)):
                archive.write(os.path.join(folder, name), name)  # at the root, as GIS tools expect
    return buffer.getvalue()
