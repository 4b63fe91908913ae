"""Ward maps (PNG) and the GIS export (GeoJSON) of a TPRResult joined to boundary polygons.

Colours follow tpr-method.md "Maps": fixed TPR classes 0-10 ... 50+ %, and a grey "no data"
style for a blank TPR that is not a colour of the palette. Polygons are joined to data wards
through a MatchReport, i.e. by (state, LGA, ward), never by a ward name alone.
"""

from __future__ import annotations

import io
import math
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from actions.tpr.boundaries import Boundaries
from actions.tpr.calc import Selection, TPRResult, _validate
from actions.tpr.dataset import Dataset
from actions.tpr.ward_match import MatchReport

# tpr-method.md "Maps": fixed classes; a class holds [lower, upper).
TPR_BREAKS = (10.0, 20.0, 30.0, 40.0, 50.0)
TPR_LABELS = ("0–10 %", "10–20 %", "20–30 %", "30–40 %", "40–50 %", "50 % and over")
TPR_COLOURS = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")
# Completeness classes (share of facility-months reporting).
COMPLETENESS_BREAKS = (25.0, 50.0, 75.0, 90.0)
COMPLETENESS_LABELS = ("under 25 %", "25–50 %", "50–75 %", "75–90 %", "90–100 %")
COMPLETENESS_COLOURS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")
NO_DATA_COLOUR = "#a3a3a3"  # grey: no palette colour is grey
NO_DATA_LABEL = "No data"
MAP_SIZE_PX = (1080, 1350)  # portrait, readable on a phone
MAP_DPI = 150


@dataclass(frozen=True)
class MapStyle:
    breaks: tuple[float, ...]
    labels: tuple[str, ...]
    colours: tuple[str, ...]
    legend_title: str


TPR_STYLE = MapStyle(TPR_BREAKS, TPR_LABELS, TPR_COLOURS, "Ward TPR")
COMPLETENESS_STYLE = MapStyle(
    COMPLETENESS_BREAKS, COMPLETENESS_LABELS, COMPLETENESS_COLOURS, "Facility-months reporting"
)


def class_of(values: np.ndarray, breaks: tuple[float, ...]) -> np.ndarray:
    """Class index per value (-1 for blank): 10.0 falls in 10–20, 9.99 in 0–10."""
    values = np.asarray(values, dtype=float)
    classes = np.searchsorted(np.asarray(breaks), values, side="right")
    return np.where(np.isnan(values), -1, classes)


def _paths(geometries: np.ndarray) -> list[Any]:
    """One matplotlib Path per (multi)polygon, holes included (vectorised through shapely)."""
    import shapely
    from matplotlib.path import Path

    parts, part_owner = shapely.get_parts(geometries, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    codes = np.full(len(coords), Path.LINETO, dtype=np.uint8)
    if len(coords):
        starts = np.r_[0, np.flatnonzero(np.diff(coord_ring)) + 1]
        codes[starts] = Path.MOVETO
        codes[np.r_[starts[1:] - 1, len(coords) - 1]] = Path.CLOSEPOLY
    coord_owner = part_owner[ring_part[coord_ring]] if len(coords) else np.array([], int)
    bounds = np.searchsorted(coord_owner, np.arange(len(geometries) + 1))
    return [
        Path(coords[bounds[i] : bounds[i + 1]], codes[bounds[i] : bounds[i + 1]])
        for i in range(len(geometries))
    ]


def polygon_values(
    values: pd.DataFrame, column: str, boundaries: Boundaries, report: MatchReport
) -> tuple[np.ndarray, np.ndarray]:
    """(polygon rows to draw, value per drawn polygon, NaN where no data ward matched).

    Drawn: every polygon of the states in `values` (matched or not), so a ward of the file
    without data shows as "no data" rather than disappearing.
    """
    from actions.tpr.names import name_key

    states = {name_key(s) for s in values["state"]}
    poly_states = boundaries.wards["state"].map(name_key).to_numpy()
    rows = np.flatnonzero(np.isin(poly_states, list(states)) | (poly_states == ""))
    by_row = np.full(len(boundaries.wards), np.nan)
    keys = list(zip(values["state"], values["lga"], values["ward"], strict=True))
    data = values[column].to_numpy(dtype=float, na_value=np.nan)
    for key, value in zip(keys, data, strict=True):
        row = report.pairs.get(key)
        if row is not None:
            by_row[row] = value
    return rows, by_row[rows]


def draw_ward_map(
    values: pd.DataFrame,
    column: str,
    boundaries: Boundaries,
    report: MatchReport,
    style: MapStyle,
    title: str,
    note: str = "",
    size_px: tuple[int, int] = MAP_SIZE_PX,
) -> tuple[Any, Any]:
    """(figure, map axes): a choropleth of `values[column]` by ward. Kept separate from the
    PNG encoding so tests can find a ward's pixel through the axes transform."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import PathCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    keys = zip(values["state"], values["lga"], values["ward"], strict=True)
    if not any(key in report.pairs for key in keys):
        from actions.tpr.errors import TPRDataError

        states = sorted({s for s in boundaries.wards["state"] if s}, key=str.casefold)
        held = f" It holds wards of {', '.join(states[:6])}." if states else ""
        raise TPRDataError(
            f"none of the wards of {', '.join(dict.fromkeys(values['state']))} has a polygon "
            f"in the boundary file.{held} Please upload the boundaries of this state."
        )
    rows, shown = polygon_values(values, column, boundaries, report)
    geometries = np.asarray(boundaries.wards.geometry.values, dtype=object)[rows]
    classes = class_of(shown, style.breaks)
    colours = np.array([*style.colours, NO_DATA_COLOUR], dtype=object)[classes]

    width, height = size_px
    figure = Figure(figsize=(width / MAP_DPI, height / MAP_DPI), dpi=MAP_DPI)
    axes = figure.add_axes((0.03, 0.2, 0.94, 0.68))
    axes.set_axis_off()
    national = len(rows) > 1500
    edge_width = 0.05 if national else 0.3
    axes.add_collection(
        PathCollection(
            _paths(geometries),
            facecolors=list(colours),
            edgecolors="white",
            linewidths=edge_width,
            antialiaseds=not national,
        )
    )
    from actions.tpr.names import name_key

    drawn_states = set(boundaries.wards["state"].map(name_key).to_numpy()[rows])
    lga_geoms = boundaries.lga_outlines(drawn_states)
    axes.add_collection(
        PathCollection(
            _paths(lga_geoms),
            facecolors="none",
            edgecolors="#333333",
            linewidths=0.35 if national else 0.9,
        )
    )
    import shapely

    xmin, ymin, xmax, ymax = shapely.total_bounds(geometries) if len(rows) else (3, 4, 15, 14)
    # Room below for the scale bar and above for the north arrow, outside the wards.
    pad_x, pad_y = (xmax - xmin) * 0.03 + 1e-3, (ymax - ymin) * 0.1 + 1e-3
    axes.set_xlim(xmin - pad_x, xmax + pad_x)
    axes.set_ylim(ymin - pad_y, ymax + pad_y)
    mid_lat = (ymin + ymax) / 2
    axes.set_aspect(1 / math.cos(math.radians(mid_lat)), adjustable="datalim", anchor="C")
    _scale_bar(axes, mid_lat)
    _north_arrow(axes)

    figure.suptitle("\n".join(textwrap.wrap(title, 42)), fontsize=15, y=0.985, va="top")
    handles = [
        Patch(facecolor=colour, edgecolor="#555555", label=label)
        for colour, label in zip(style.colours, style.labels, strict=True)
    ]
    handles.append(Patch(facecolor=NO_DATA_COLOUR, edgecolor="#555555", label=NO_DATA_LABEL))
    figure.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.045),
        ncol=3,
        fontsize=14,
        title=style.legend_title,
        title_fontsize=14,
        frameon=False,
    )
    if note:
        figure.text(0.5, 0.012, "\n".join(textwrap.wrap(note, 80)), ha="center", va="bottom",
                    fontsize=10, color="#333333")  # fmt: skip
    return figure, axes


def _scale_bar(axes: Any, mid_lat: float) -> None:
    """A scale bar of a round length near a fifth of the map's width, bottom left."""
    x0, x1 = axes.get_xlim()
    y0, y1 = axes.get_ylim()
    km_per_degree = 111.32 * math.cos(math.radians(mid_lat))
    target = (x1 - x0) * km_per_degree / 5
    length = max(v for v in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500) if v <= max(target, 1))
    start_x, start_y = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.025
    axes.plot([start_x, start_x + length / km_per_degree], [start_y, start_y],
              color="black", linewidth=3, solid_capstyle="butt")  # fmt: skip
    axes.text(start_x, start_y + (y1 - y0) * 0.012, f"{length} km", fontsize=13, va="bottom")


def _north_arrow(axes: Any) -> None:
    axes.annotate(
        "N",
        xy=(0.96, 0.995),
        xytext=(0.96, 0.93),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=15,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.5},
    )


def figure_png(figure: Any) -> bytes:
    """PNG bytes at the figure's own size (no tight bounding box: pixels follow the axes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=MAP_DPI)
    return buffer.getvalue()


def _unmatched_note(report: MatchReport, states: set[str]) -> str:
    missing = [k for k in report.data_without_polygon if k[0] in states]
    if not missing:
        return ""
    named = "; ".join(f"{ward} ({lga})" for _, lga, ward in missing[:4])
    more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
    return f"Not on the map, no polygon in the boundary file: {named}{more}."


def tpr_map_png(result: TPRResult, boundaries: Boundaries, report: MatchReport) -> bytes:
    """`show the map`: the ward TPR choropleth of one selection."""
    title = result.title.replace("Ward TPR: ", "Ward TPR (%): ")
    note = _unmatched_note(report, {result.selection.state})
    figure, _ = draw_ward_map(result.wards, "tpr", boundaries, report, TPR_STYLE, title, note)
    return figure_png(figure)


def national_tpr_map_png(
    wards: pd.DataFrame, boundaries: Boundaries, report: MatchReport, title: str
) -> bytes:
    """Ward TPR of several states in one map (`wards`: concatenated TPRResult.wards)."""
    figure, _ = draw_ward_map(wards, "tpr", boundaries, report, TPR_STYLE, title)
    return figure_png(figure)


# --- reporting completeness (tpr-method.md "Reporting completeness") -----------------------


def ward_completeness(dataset: Dataset, selection: Selection) -> pd.DataFrame:
    """Per ward of the state: facility-months present in the file (facility level and period of
    the selection) and the shares reporting for RDT, microscopy and either, in %, as defined in
    tpr-method.md "Reporting completeness" (`analysis.completeness` by ward)."""
    from actions.tpr.analysis import completeness

    return completeness(dataset, selection, by="ward")


def completeness_map_png(
    dataset: Dataset, selection: Selection, boundaries: Boundaries, report: MatchReport
) -> bytes:
    """`map the missing data`: share of facility-months reporting, by ward, for the selection's
    method when it is RDT or microscopy, otherwise for either test."""
    selection = _validate(dataset, selection)
    table = ward_completeness(dataset, selection)
    method = selection.method if selection.method in ("rdt", "microscopy") else "any"
    label = {"rdt": "RDT", "microscopy": "microscopy", "any": "RDT or microscopy"}[method]
    # analysis.completeness titles the selection: state, level, any age group, period.
    default = f"Reporting completeness: {selection.state}"
    title = str(table.attrs.get("title") or default).replace(
        "Reporting completeness:", f"Reporting completeness ({label}):", 1
    )
    note = _unmatched_note(report, {selection.state})
    figure, _ = draw_ward_map(
        table, f"{method}_completeness", boundaries, report, COMPLETENESS_STYLE, title, note
    )
    return figure_png(figure)


# --- GeoJSON export ----------------------------------------------------------------------


def result_geojson_bytes(result: TPRResult, boundaries: Boundaries, report: MatchReport) -> bytes:
    """The ward table joined to the exact polygons, as GeoJSON in WGS 84 for QGIS/ArcGIS.

    Properties are the results table's columns with the CSV's rounding; a data ward without
    a polygon is kept with a null geometry, so the table is complete.
    """
    import geopandas as gpd
    import shapely

    from actions.tpr.export import _written

    table = _written(result.wards, escape=False).reset_index(drop=True)
    rows = [
        report.pairs.get(key)
        for key in zip(table["state"], table["lga"], table["ward"], strict=True)
    ]
    matched = [row for row in rows if row is not None]
    # Only the matched wards' exact geometry is parsed (a national file holds ~8,800).
    parsed = dict(zip(matched, shapely.from_wkt(boundaries.wards["export_wkt"].iloc[matched]),
                      strict=True))  # fmt: skip
    geometry = [parsed[row] if row is not None else None for row in rows]
    frame = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geometry, crs=4326), crs=4326)
    return frame.to_json(na="null", drop_id=True, to_wgs84=True).encode("utf-8")
