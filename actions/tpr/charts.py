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
    """
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch

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
    norm = Normalize(vmin=0, vmax=100)
    image = None
    axes_list = []
    for position, method in enumerate(methods):
        bottom = height - header - (position + 1) * (panel_top + grid_height + panel_bottom)
        axes = figure.add_axes([label_width / width, (bottom + panel_bottom) / height,
                                grid_width / width, grid_height / height])  # fmt: skip
        axes_list.append(axes)
        grid = np.full((len(units), len(periods)), np.nan)
        grid[rows, cols] = by_month[f"{method}_completeness"].to_numpy(dtype=float)
        axes.set_facecolor(NO_DATA_COLOUR)
        axes.patch.set_hatch("///")
        axes.patch.set_edgecolor("#a0a4a8")
        image = axes.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", norm=norm, aspect="auto",
                            interpolation="nearest")  # fmt: skip
        row_labels(axes, np.arange(len(units)), units, fontsize=7)
        step = period_label_step(len(periods))
        column_labels(axes, np.arange(len(periods))[::step], [_short(p) for p in periods[::step]],
                      fontsize=7)  # fmt: skip
        label = "RDT" if method == "rdt" else method.capitalize()
        axes.set_title(f"{label}: % of facility-months with a tested figure", fontsize=8)
    if image is not None:
        bar_axes = figure.add_axes([(label_width + grid_width + 0.25) / width, 0.25,
                                    0.18 / width, 0.5])  # fmt: skip
        bar = figure.colorbar(image, cax=bar_axes)
        bar.set_label("completeness (%)", fontsize=8)
    no_data = Patch(facecolor=NO_DATA_COLOUR, hatch="///", edgecolor="#a0a4a8",
                    label="no facility-months (not 0%)")  # fmt: skip
    figure.legend(handles=[no_data], loc="upper left", fontsize=7, frameon=False,
                  bbox_to_anchor=(label_width / width, 1 - 0.72 / height))  # fmt: skip
    heading = title or by_month.attrs.get("title") or "Reporting completeness by month"
    units_word = {"lga": "LGAs", "ward": "wards"}.get(unit, unit)
    figure.suptitle(f"{_wrapped(heading, int(width * 11))}\nweakest {units_word} at the top",
                    fontsize=9, y=1 - 0.08 / height, va="top")  # fmt: skip
    return _png(figure)


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
