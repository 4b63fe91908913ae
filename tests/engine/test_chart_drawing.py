"""The cheaper chart drawing (one bar collection, labels as plain texts) keeps what the analyst
sees: a bar per ward with data and none for a blank, every `ward (LGA)` label on its own row,
month labels thinned only on long series, and charts small enough for a slow link."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from actions.tpr import Selection, compare_selections, compute_tpr, load_dataset
from actions.tpr.charts import (
    bars,
    column_labels,
    comparison_chart_png,
    period_label_step,
    row_labels,
)
from actions.tpr.export import result_chart_png
from actions.tpr.sample import sample_frame


def test_bars_draw_one_rectangle_per_value_and_none_for_a_blank() -> None:
    axes = Figure().add_axes([0.1, 0.1, 0.8, 0.8])
    bars(axes, [0, 1, 2], [12.5, float("nan"), 80.0], 0.4, "#2e86c1")
    (collection,) = axes.collections
    paths = collection.get_paths()
    assert len(paths) == 2  # the blank draws nothing, not a zero-length bar
    extents = [path.get_extents() for path in paths]
    assert [(e.x0, e.x1) for e in extents] == [(0, 12.5), (0, 80.0)]
    assert [(e.y0, e.y1) for e in extents] == [pytest.approx((-0.2, 0.2)),
                                               pytest.approx((1.8, 2.2))]  # fmt: skip


def test_row_and_column_labels_are_texts_at_their_rows_without_ticks() -> None:
    axes = Figure().add_axes([0.3, 0.3, 0.6, 0.6])
    row_labels(axes, [0, 1], ["Bille (Song)", "Bille (Fufore)"])
    column_labels(axes, [0, 2], ["Jan 24", "Mar 24"])
    assert list(axes.get_yticks()) == [] and list(axes.get_xticks()) == []
    rows = {t.get_text(): t.get_position() for t in axes.texts if t.get_rotation() == 0}
    assert rows == {"Bille (Song)": (-0.008, 0), "Bille (Fufore)": (-0.008, 1)}
    columns = {t.get_text(): t.get_position()[0] for t in axes.texts if t.get_rotation() == 90}
    assert columns == {"Jan 24": 0, "Mar 24": 2}
    assert all(t.get_horizontalalignment() == "right" for t in axes.texts if t.get_rotation() == 0)


@pytest.mark.parametrize(("months", "step"), [(1, 1), (12, 1), (18, 1), (19, 2), (36, 2),
                                              (37, 3)])  # fmt: skip
def test_month_labels_thin_only_past_eighteen(months: int, step: int) -> None:
    assert period_label_step(months) == step
    assert len(range(0, months, step)) <= 18


@pytest.fixture(scope="module")
def state_size():
    frame = sample_frame("B", states=1, rows_per_state=9200, seed=2024)
    return load_dataset(frame.to_csv(index=False).encode(), "one_state.csv")


def test_charts_stay_small_for_a_slow_link(state_size) -> None:
    state = state_size.states[0]
    a = Selection(state=state, age_group="u5")
    b = Selection(state=state, age_group="pw")
    for png in (result_chart_png(compute_tpr(state_size, a)),
                comparison_chart_png(compare_selections(state_size, a, b))):  # fmt: skip
        assert png.startswith(b"\x89PNG") and len(png) < 150_000


def test_result_chart_draws_one_bar_per_ward_shown(state_size, tmp_path) -> None:
    import matplotlib.image

    result = compute_tpr(state_size, Selection(state=state_size.states[0], age_group="u5"))
    image = matplotlib.image.imread(io.BytesIO(result_chart_png(result, top=5)))[:, :, :3]
    red = np.all(np.abs(image - np.array([0xC0, 0x39, 0x2B]) / 255) < 0.02, axis=2)
    rows_with_red = np.flatnonzero(red.any(axis=1))
    runs = 1 + int(np.sum(np.diff(rows_with_red) > 1))  # separate bands of bar rows
    assert runs == 5
