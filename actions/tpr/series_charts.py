"""Charts of series and year-on-year results: PNG bytes, sized to be read on a phone.

Matplotlib's Agg backend on a `Figure` (no pyplot state), so charts can be drawn in worker
threads. A blank TPR is a gap in a line, never a point at 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from actions.tpr.charts import _png, _wrapped, bars, row_labels
from actions.tpr.dataset import MONTH_NAMES

if TYPE_CHECKING:
    from actions.tpr.series import YearOnYear

_COLOURS = ["#1f4e79", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d"]


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _axis_positions(periods: pd.Series) -> np.ndarray:
    """Month `YYYYMM` -> months since year 0, year `YYYY` -> the year: gaps keep their width."""
    values = periods.astype(int).to_numpy()
    if len(values) and values.max() >= 10000:
        return (values // 100) * 12 + values % 100 - 1
    return values


def _tick_label(position: int, monthly: bool) -> str:
    if not monthly:
        return str(position)
    return f"{MONTH_NAMES[position % 12][:3]} {position // 12}"


def _full_line(series: pd.DataFrame, axis: np.ndarray) -> np.ndarray:
    """The TPR at every position of `axis`, NaN (a gap) where the series has no value."""
    values = pd.Series(series["tpr"].to_numpy(dtype=float), index=_axis_positions(series["period"]))
    return values.reindex(axis).to_numpy()


def trend_chart_png(state_series: pd.DataFrame, lga_series: pd.DataFrame | None = None,
                    top_lgas: int = 5) -> bytes:  # fmt: skip
    """A line for the state and for the `top_lgas` LGAs with the most tests, each labelled.

    `state_series` and `lga_series` come from `trend(..., unit="state")` and `unit="lga"` of
    the same selection; the title (selection, method and period) comes from their attrs.
    Months with no data, or that the file does not hold, are gaps in the lines.
    """
    positions = _axis_positions(state_series["period"])
    monthly = bool(len(state_series)) and len(str(state_series["period"].iloc[0])) == 6
    lo, hi = (int(positions.min()), int(positions.max())) if len(positions) else (0, 0)
    axis = np.arange(lo, hi + 1)
    lines: list[tuple[str, np.ndarray, float]] = []
    state_name = str(state_series["state"].iloc[0]) if len(state_series) else "State"
    lines.append((f"{state_name} (state)", _full_line(state_series, axis), 3.0))
    shown_lgas: list[str] = []
    if lga_series is not None and len(lga_series) and top_lgas > 0:
        totals = lga_series.groupby("lga", sort=True)["tested"].sum()
        totals = totals[totals > 0].sort_values(ascending=False, kind="stable")
        shown_lgas = list(totals.index[:top_lgas])
        for lga in shown_lgas:
            part = lga_series[lga_series["lga"] == lga]
            lines.append((str(lga), _full_line(part, axis), 1.6))

    title = state_series.attrs.get("title", "TPR by period")
    note = "gaps: no valid tests in that period, or not in the file"
    if shown_lgas:
        note = f"state and the {len(shown_lgas)} LGAs with the most tests; " + note
    heading = f"{_wrapped(title, 115)}\n{note}"
    # Fixed margins in inches (no tight_layout pass: one draw instead of two).
    width, header, footer, left = 9.0, 0.25 + 0.17 * (heading.count("\n") + 1), 0.85, 0.8
    height = header + 4.4 + footer
    figure = _figure(width, height)
    axes = figure.add_axes([left / width, footer / height, (width - left - 0.3) / width,
                            4.4 / height])  # fmt: skip
    top = max([float(np.nanmax(v)) for _, v, _ in lines if not np.isnan(v).all()] or [0.0])
    y_max = min(105.0, max(10.0, top * 1.15))
    ends: list[tuple[float, str, str]] = []
    for number, (label, values, width) in enumerate(lines):
        colour = _COLOURS[number % len(_COLOURS)]
        axes.plot(axis, values, color=colour, linewidth=width, marker="o", markersize=3,
                  label=label)  # fmt: skip
        known = np.flatnonzero(~np.isnan(values))
        if len(known):
            ends.append((float(values[int(known[-1])]), label, colour))
    # Each line is labelled in a column right of the data, labels pushed apart to stay legible.
    gap = 0.045 * y_max
    placed: list[float] = []
    for value, label, colour in sorted(ends):
        y = max(value, placed[-1] + gap) if placed else value
        placed.append(y)
        axes.annotate(label, (hi + 0.6, y), fontsize=8, color=colour, va="center",
                      annotation_clip=False)  # fmt: skip
    if not ends:
        axes.text(0.5, 0.5, "No valid tests in any period of this selection",
                  transform=axes.transAxes, ha="center")  # fmt: skip
    step = max(1, int(np.ceil(len(axis) / 12)))
    ticks = axis[::step]
    axes.set_xticks(ticks, labels=[_tick_label(int(t), monthly) for t in ticks], fontsize=8,
                    rotation=45 if monthly else 0)  # fmt: skip
    axes.set_xlim(lo - 0.5, hi + 0.5 + max(2.0, 0.22 * len(axis)))  # room for the labels
    axes.set_ylim(0, max(y_max, placed[-1] + gap if placed else 0.0))
    axes.set_ylabel("Test positivity rate (%)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    figure.suptitle(heading, fontsize=9, y=1 - 0.08 / height, va="top")
    return _png(figure)


def year_on_year_chart_png(yoy: YearOnYear, top: int = 15) -> bytes:
    """Bars of the change in points for the most worsened and most improved wards."""
    worsened = yoy.worsened.head(top)
    improved = yoy.improved.head(top)
    shown = pd.concat([improved.iloc[::-1], worsened.iloc[::-1]], ignore_index=True)
    shown = shown.sort_values("change", kind="stable").reset_index(drop=True)
    labels = [f"{w} ({lga})" for w, lga in zip(shown["ward"], shown["lga"], strict=True)]
    counts = yoy.counts
    note = (f"{counts['worsened']} worsened, {counts['improved']} improved, "
            f"{counts['stable']} stable, {counts['not comparable']} not comparable")  # fmt: skip
    heading = f"{_wrapped(yoy.title, 115)}\n{note}"
    # Fixed margins in inches, bars as two collections, labels as texts (no Tick per ward).
    width = 9.0
    left = 0.3 + 0.062 * max((len(x) for x in labels), default=6)
    header, footer = 0.25 + 0.17 * (heading.count("\n") + 1), 0.7
    plot_height = max(1.8, 0.3 * len(shown) + 0.2)
    height = header + plot_height + footer
    figure = _figure(width, height)
    axes = figure.add_axes([left / width, footer / height, (width - left - 0.3) / width,
                            plot_height / height])  # fmt: skip
    positions = np.arange(len(shown))
    change = shown["change"].to_numpy(dtype=float)
    bars(axes, positions, np.where(change > 0, change, np.nan), 0.8, "#c0392b")
    bars(axes, positions, np.where(change > 0, np.nan, change), 0.8, "#27ae60")
    row_labels(axes, positions, labels, fontsize=8)
    limit = yoy.thresholds["min_change"]
    reach = max([limit * 1.5] + [abs(c) * 1.08 for c in change if np.isfinite(c)])
    axes.set_xlim(-reach, reach)
    axes.set_ylim(-0.6, max(len(shown), 1) - 0.4)
    for x in (-limit, limit):
        axes.axvline(x, color="#555555", linestyle="--", linewidth=0.8)
    axes.axvline(0, color="#000000", linewidth=0.8)
    axes.set_xlabel(f"Change in TPR, {yoy.year_a} to {yoy.year_b} (percentage points)")
    if not len(shown):
        axes.text(0.5, 0.5, "No ward worsened or improved by the rule", ha="center",
                  transform=axes.transAxes)  # fmt: skip
    axes.grid(axis="x", alpha=0.3)
    figure.suptitle(heading, fontsize=9, y=1 - 0.08 / height, va="top")
    return _png(figure)
