"""Charts for the questions after the results (matplotlib Agg, PNG bytes, readable on a phone)."""

from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from actions.tpr.dataset import MONTH_NAMES

if TYPE_CHECKING:
    from actions.tpr.analysis import Comparison

A_COLOUR, B_COLOUR = "#2e86c1", "#c0392b"
NO_DATA_COLOUR = "#d5d8dc"


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


# zlib level 3 instead of 6: about half the PNG encoding time for ~10% more bytes (a national
# chart stays ~80 KB, well under what a slow link takes).
PNG_COMPRESS_LEVEL = 3


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buffer.getvalue()


def bars(axes, positions, values, height: float, colour: str, label: str | None = None) -> None:
    """Horizontal bars as ONE PolyCollection (barh makes a Rectangle artist per bar).

    A blank value draws no bar (no data is never a zero-length bar either). Limits are left to
    the caller: the collection does not autoscale the axes.
    """
    from matplotlib.collections import PolyCollection

    verts = [
        [(0, y - height / 2), (v, y - height / 2), (v, y + height / 2), (0, y + height / 2)]
        for y, v in zip(positions, np.asarray(values, dtype=float), strict=True)
        if np.isfinite(v)
    ]
    axes.add_collection(PolyCollection(verts, facecolors=colour, edgecolors="none", label=label))


def row_labels(axes, positions, labels, fontsize: float = 8) -> None:
    """Row labels left of the axes as plain texts (no Tick objects: each tick builds two lines,
    two texts and a grid line, which was most of a chart's drawing time)."""
    axes.set_yticks([])
    transform = axes.get_yaxis_transform()
    for y, label in zip(positions, labels, strict=True):
        axes.text(-0.008, y, label, transform=transform, ha="right", va="center",
                  fontsize=fontsize)  # fmt: skip


def column_labels(axes, positions, labels, fontsize: float = 7) -> None:
    """Column labels under the axes, turned 90 degrees, as plain texts (no Tick objects)."""
    axes.set_xticks([])
    transform = axes.get_xaxis_transform()
    for x, label in zip(positions, labels, strict=True):
        axes.text(x, -0.02, label, transform=transform, ha="center", va="top", rotation=90,
                  fontsize=fontsize)  # fmt: skip


def legend_handles(*pairs: tuple[str, str]):
    """Legend proxies (colour, label) for bars drawn as collections."""
    from matplotlib.patches import Patch

    return [Patch(facecolor=colour, label=label) for colour, label in pairs]


def comparison_chart_png(comparison: Comparison, top: int = 20) -> bytes:
    """Paired bars (A and B) for the wards that differ most, `ward (LGA)`, B - A in points.

    The title names the state, level, age group, method and period, and what A and B are.
    """
    shown = comparison.most_different(top).iloc[::-1]
    labels = [f"{w} ({lga})" for w, lga in zip(shown["ward"], shown["lga"], strict=True)]
    counts = comparison.counts()
    note = (f"{len(shown)} wards that differ most (B - A); {counts['compared']} of "
            f"{counts['wards']} wards have data on both sides")  # fmt: skip
    title = f"{_wrapped(comparison.title, 90)}\n{note}"
    # Fixed margins in inches (no tight_layout pass: one draw instead of two).
    width = 8.0
    label_width = 0.3 + 0.062 * max((len(x) for x in labels), default=6)
    header = 0.2 + 0.17 * (title.count("\n") + 1)
    footer = 0.95
    plot_height = max(1.2, 0.42 * len(shown) + 0.2)
    height = header + plot_height + footer
    figure = _figure(width, height)
    plot_width = width - label_width - 0.25
    axes = figure.add_axes([label_width / width, footer / height, plot_width / width,
                            plot_height / height])  # fmt: skip
    positions = np.arange(len(shown))
    bar = 0.4
    bars(axes, positions + bar / 2, shown["a_tpr"], bar, A_COLOUR)
    bars(axes, positions - bar / 2, shown["b_tpr"], bar, B_COLOUR)
    row_labels(axes, positions, labels, fontsize=8)
    axes.set_ylim(-0.6, max(len(shown), 1) - 0.4)
    axes.set_xlim(0, 118)
    axes.set_xlabel("Test positivity rate (%)", fontsize=8)
    axes.tick_params(axis="x", labelsize=8)
    axes.grid(axis="x", alpha=0.3)
    for y, a, b, diff in zip(positions, shown["a_tpr"], shown["b_tpr"], shown["difference"],
                             strict=True):  # fmt: skip
        axes.text(max(a, b) + 1.5, y, f"{diff:+.1f} pts", va="center", fontsize=7)
    if len(shown) == 0:
        axes.text(59, 0.5, "No ward has data on both sides of this comparison", ha="center")
        axes.set_yticks([])
        axes.set_ylim(0, 1)
    handles = legend_handles((A_COLOUR, f"A: {comparison.label_a}"),
                             (B_COLOUR, f"B: {comparison.label_b}"))  # fmt: skip
    figure.legend(handles=handles, loc="lower left", bbox_to_anchor=(label_width / width, 0.02),
                  ncol=2, fontsize=8, frameon=False)  # fmt: skip
    figure.suptitle(title, fontsize=9, y=1 - 0.06 / height, va="top")
    return _png(figure)


def completeness_chart_png(
    by_month: pd.DataFrame,
    title: str | None = None,
    methods: tuple[str, ...] = ("rdt", "microscopy"),
) -> bytes:
    """Heatmap unit x month of reporting completeness, one panel per method.

    Rows keep the frame's order (completeness_by_month puts the weakest LGAs first, drawn at
    the top). A cell without facility-months is hatched grey, never the colour of 0%.

    Every panel, label and the colour bar are drawn in ONE axes spanning the figure, in inches:
    each matplotlib Axes costs ~20 ms to build (axis, tick and spine machinery this chart hides
    anyway), which was most of the chart's building time with two panels and a colour bar.
    """
    from matplotlib.patches import Patch, Rectangle

    unit = (
        "ward" if "ward" in by_month.columns else ("lga" if "lga" in by_month.columns else "state")
    )
    if unit == "ward":
        names = by_month["ward"].astype(str) + " (" + by_month["lga"].astype(str) + ")"
    else:
        names = by_month[unit].astype(str)
    units = list(dict.fromkeys(names))
    periods = sorted(by_month["period"].astype(str).unique())
    row_of = {name: i for i, name in enumerate(units)}
    col_of = {period: j for j, period in enumerate(periods)}
    rows = names.map(row_of).to_numpy()
    cols = by_month["period"].astype(str).map(col_of).to_numpy()

    # Fixed margins in inches (cheaper than constrained layout, and labels never overlap).
    label_width = 0.2 + 0.065 * max((len(u) for u in units), default=4)
    grid_width = max(3.5, 0.42 * len(periods))
    grid_height = max(0.6, 0.26 * len(units))
    header, panel_top, panel_bottom, right = 1.15, 0.3, 0.6, 1.0
    width = label_width + grid_width + right
    height = header + len(methods) * (panel_top + grid_height + panel_bottom)
    figure = _figure(width, height)
    canvas = figure.add_axes([0, 0, 1, 1])
    canvas.set_axis_off()
    inches = figure.dpi_scale_trans  # texts on the figure: no per-text clip path to set up
    canvas.set_xlim(0, width)
    canvas.set_ylim(0, height)
    left, grid_right = label_width, label_width + grid_width
    row_height = grid_height / max(len(units), 1)
    column_width = grid_width / max(len(periods), 1)
    step = period_label_step(len(periods))
    month_labels = [(j, _short(p)) for j, p in enumerate(periods)][::step]
    cmap = matplotlib_colormap("RdYlGn")
    for position, method in enumerate(methods):
        bottom = height - header - (position + 1) * (panel_top + grid_height + panel_bottom)
        grid_bottom, grid_top = bottom + panel_bottom, bottom + panel_bottom + grid_height
        canvas.add_patch(Rectangle((left, grid_bottom), grid_width, grid_height,
                                   facecolor=NO_DATA_COLOUR, hatch="///", edgecolor="#a0a4a8",
                                   linewidth=0, zorder=1))  # fmt: skip
        grid = np.full((len(units), len(periods)), np.nan)
        grid[rows, cols] = by_month[f"{method}_completeness"].to_numpy(dtype=float)
        canvas.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=100, aspect="auto",
                      interpolation="nearest", origin="upper", zorder=2,
                      extent=(left, grid_right, grid_bottom, grid_top))  # fmt: skip
        canvas.add_patch(Rectangle((left, grid_bottom), grid_width, grid_height, fill=False,
                                   edgecolor="black", linewidth=0.8, zorder=3))  # fmt: skip
        for i, name in enumerate(units):
            figure.text(left - 0.06, grid_top - (i + 0.5) * row_height, name, ha="right",
                        va="center", fontsize=7, transform=inches)  # fmt: skip
        for j, label in month_labels:
            figure.text(left + (j + 0.5) * column_width, grid_bottom - 0.06, label, ha="center",
                        va="top", rotation=90, fontsize=7, transform=inches)  # fmt: skip
        label = "RDT" if method == "rdt" else method.capitalize()
        figure.text((left + grid_right) / 2, grid_top + 0.08,
                    f"{label}: % of facility-months with a tested figure", ha="center",
                    va="bottom", fontsize=8, transform=inches)  # fmt: skip
    if methods:
        _colour_bar(canvas, cmap, grid_right + 0.25, 0.25 * height, 0.18, 0.5 * height)
    no_data = Patch(facecolor=NO_DATA_COLOUR, hatch="///", edgecolor="#a0a4a8",
                    label="no facility-months (not 0%)")  # fmt: skip
    figure.legend(handles=[no_data], loc="upper left", fontsize=7, frameon=False,
                  bbox_to_anchor=(label_width / width, 1 - 0.72 / height))  # fmt: skip
    heading = title or by_month.attrs.get("title") or "Reporting completeness by month"
    units_word = {"lga": "LGAs", "ward": "wards"}.get(unit, unit)
    figure.suptitle(f"{_wrapped(heading, int(width * 11))}\nweakest {units_word} at the top",
                    fontsize=9, y=1 - 0.08 / height, va="top")  # fmt: skip
    return _png(figure)


def matplotlib_colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def _colour_bar(canvas, cmap, x: float, y: float, bar_width: float, bar_height: float) -> None:
    """A 0-100 % colour bar with ticks every 20 %, drawn in `canvas` (inch coordinates)."""
    from matplotlib.patches import Rectangle

    gradient = np.linspace(100, 0, 256)[:, None]
    canvas.imshow(gradient, cmap=cmap, vmin=0, vmax=100, aspect="auto", origin="upper",
                  interpolation="nearest", zorder=2,
                  extent=(x, x + bar_width, y, y + bar_height))  # fmt: skip
    figure, inches = canvas.figure, canvas.figure.dpi_scale_trans
    canvas.add_patch(Rectangle((x, y), bar_width, bar_height, fill=False, edgecolor="black",
                               linewidth=0.8, zorder=3))  # fmt: skip
    for value in range(0, 101, 20):
        tick_y = y + bar_height * value / 100
        canvas.plot([x + bar_width, x + bar_width + 0.05], [tick_y, tick_y], color="black",
                    linewidth=0.8, zorder=3)  # fmt: skip
        figure.text(
            x + bar_width + 0.08,
            tick_y,
            str(value),
            ha="left",
            va="center",
            fontsize=8,
            transform=inches,
        )
    figure.text(
        x + bar_width + 0.42,
        y + bar_height / 2,
        "completeness (%)",
        ha="center",
        va="center",
        rotation=90,
        fontsize=8,
        transform=inches,
    )


def period_label_step(count: int, most: int = 18) -> int:
    """Label every n-th month so at most `most` labels are drawn (a long series stays legible)."""
    return max(1, -(-count // most))


def _wrapped(text: str, width: int = 80) -> str:
    return "\n".join(textwrap.wrap(text, width))


def _short(period: str) -> str:
    """`202401` -> `Jan 24` (axis labels stay short on a phone)."""
    months = [name[:3] for name in MONTH_NAMES]
    if len(period) == 6 and period.isdigit() and 1 <= int(period[4:]) <= 12:
        return f"{months[int(period[4:]) - 1]} {period[2:4]}"
    return period
