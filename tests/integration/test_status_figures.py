"""`make status` figures (deploy/metrics_status.py) against hand-worked numbers: histogram
quantiles as Prometheus' histogram_quantile gives them, counters over a window (a restarted
process counts from zero), sums over replicas and the window kept between runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

from deploy.metrics_status import (
    buckets,
    difference,
    figures,
    parse_samples,
    quantile,
    read_figures,
    summed,
)

EXPOSITION = """# TYPE tpr_message_seconds histogram
tpr_message_seconds_bucket{le="0.1"} 2.0
tpr_message_seconds_bucket{le="0.5"} 6.0
tpr_message_seconds_bucket{le="1.0"} 10.0
tpr_message_seconds_bucket{le="+Inf"} 10.0
tpr_message_seconds_count 10.0
tpr_message_seconds_sum 4.2
# TYPE tpr_messages counter
tpr_messages_total{outcome="ok"} 9.0
tpr_messages_total{outcome="unavailable"} 1.0
tpr_messages_total{outcome="duplicate"} 0.0
# TYPE tpr_generic_replies counter
tpr_generic_replies_total 0.0
"""


def test_quantiles_interpolate_inside_the_bucket() -> None:
    cumulative = buckets(parse_samples(EXPOSITION), "tpr_message_seconds")
    assert cumulative == [(0.1, 2.0), (0.5, 6.0), (1.0, 10.0), (math.inf, 10.0)]
    # p50: rank 5 of 10 lies in (0.1, 0.5] holding ranks 3..6: 0.1 + 0.4 * 3/4.
    assert quantile(0.5, cumulative) == 0.4
    # p95: rank 9.5 in (0.5, 1.0] holding ranks 7..10: 0.5 + 0.5 * 3.5/4.
    assert quantile(0.95, cumulative) == 0.9375
    # In the +Inf bucket the answer is the highest finite bound; no observation: none.
    assert quantile(0.9, [(1.0, 5.0), (math.inf, 10.0)]) == 1.0
    assert quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None


def test_counters_over_a_window_and_a_restarted_process() -> None:
    before = {"c{}": 10.0, "d{}": 4.0}
    now = {"c{}": 3.0, "d{}": 7.0, "e{}": 1.0}
    assert difference(now, before) == {"c{}": 3.0, "d{}": 3.0, "e{}": 1.0}
    assert difference(now, None) == now
    assert summed([{"a{}": 1.0}, {"a{}": 2.0, "b{}": 5.0}]) == {"a{}": 3.0, "b{}": 5.0}


def test_figures_sum_the_replicas() -> None:
    one = parse_samples(EXPOSITION)
    result = figures(summed([one, one]), {}, None, (2, 2, False))
    assert result.messages == {"ok": 18.0, "unavailable": 2.0, "duplicate": 0.0}
    assert result.unavailable == 2.0 and result.generic_replies == 0.0
    assert result.p50_seconds == 0.4  # the same distribution twice: the same quantiles
    assert "since start" in result.lines()[0]


def test_readings_are_kept_for_the_next_run(tmp_path: Path) -> None:
    """Nothing answers at these URLs: the figures say so, and the reading is still kept."""
    result = read_figures(["http://127.0.0.1:9"], "http://127.0.0.1:9", tmp_path)
    assert result.replicas_read == 0 and result.replicas_total == 1
    assert result.action_server_read is False
    kept = json.loads((tmp_path / "metrics-readings.json").read_text())
    assert len(kept) == 1 and kept[0]["replicas"] == {}
