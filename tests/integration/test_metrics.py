"""Operators can see the promise hold (issue 13): on a real 2-replica stack, a known set of
messages (small talk inside the form, a repeated message id, a refused upload) must add up
exactly in the `/metrics` of both replicas and the action server, each message must have its
JSON turn line with no sender id or text in any log, `deploy/stack.py status` must give the
same figures, and nginx must hide `/metrics`."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import PrivateRedis
from tests.integration.conftest import require_model
from tests.integration.stack import STACK_SCRIPT, RunningStack, start_stack

pytestmark = pytest.mark.integration

TURN_FIELDS = {
    "time",
    "replica",
    "conversation",
    "message_id",
    "intent",
    "requested_slot_before",
    "requested_slot_after",
    "actions",
    "ms",
    "outcome",
}


def scrape(base_url: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, read with prometheus-client's own parser."""
    reply = requests.get(f"{base_url}/metrics", timeout=30)
    assert reply.status_code == 200, f"{base_url}/metrics -> {reply.status_code}"
    assert reply.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    """The sum of `name` over the series whose labels include `labels`; the series must exist."""
    found = [
        v
        for (sample, sample_labels), v in samples.items()
        if sample == name and set(labels.items()) <= set(sample_labels)
    ]
    assert found, f"no series {name}{labels}"
    return sum(found)


def over_replicas(stack: RunningStack, name: str, **labels: str) -> float:
    return sum(value(scrape(url), name, **labels) for url in stack.replica_urls)


@dataclass
class Scenario:
    sender: str
    secret: str  # a word only the small-talk message contains
    sent: list[tuple[str, str]] = field(default_factory=list)  # (message_id, text)
    replies: list[list[dict]] = field(default_factory=list)
    served_by: set[str] = field(default_factory=set)
    upload_statuses: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def metrics_stack(
    redis_server: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    """A stack of its own: its processes' counters start at zero and nothing else talks to it."""
    require_model()
    stack = start_stack(
        tmp_path_factory.mktemp("metrics-stack"), replicas=2, redis_url=redis_server.url
    )
    yield stack
    stack.down()


def post(stack: RunningStack, scenario: Scenario, message_id: str, text: str) -> list[dict]:
    reply = requests.post(
        f"{stack.web_url}/webhooks/rest/webhook",
        json={"sender": scenario.sender, "message": text, "metadata": {"message_id": message_id}},
        timeout=300,
    )
    assert reply.status_code == 200, (text, reply.status_code, reply.text)
    scenario.sent.append((message_id, text))
    scenario.replies.append(reply.json())
    scenario.served_by.add(reply.headers.get("X-Upstream", ""))
    return reply.json()


@pytest.fixture(scope="module")
def scenario(metrics_stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Two uploads (one refused), six processed messages and one repeat, through nginx."""
    from actions.tpr.sample import sample_frame, write_sample_file

    token = uuid.uuid4().hex
    run = Scenario(sender=f"metrics-{token}", secret=f"zqx{token[:10]}")
    web = metrics_stack.web_url
    workbook = write_sample_file(
        sample_frame("A", states=2, rows_per_state=60, seed=3),
        tmp_path_factory.mktemp("metrics-upload") / "two_states.xlsx",
        layout="A",
    )
    uploads = [
        ("report.xlsx", b"%PDF-1.4\n" + b"0" * 5000),  # refused by sniffing: never parsed
        (workbook.name, workbook.read_bytes()),
    ]
    dataset_id = ""
    for name, data in uploads:
        reply = requests.post(
            f"{web}/api/upload", params={"sender": run.sender}, files={"file": (name, data)},
            timeout=600,
        )  # fmt: skip
        run.upload_statuses.append(reply.status_code)
        if reply.status_code == 200:
            dataset_id = reply.json()["dataset_id"]
    assert 400 <= run.upload_statuses[0] < 500 and run.upload_statuses[1] == 200

    ids = [f"m{i}-{uuid.uuid4().hex[:8]}" for i in range(6)]
    post(metrics_stack, run, ids[0], '/dataset_uploaded{"dataset_id": "' + dataset_id + '"}')
    post(metrics_stack, run, ids[1], "Adamawa State")
    # Small talk inside the form (the confirmation is pending): answered, question asked again.
    post(metrics_stack, run, ids[2], f"thanks, you are great {run.secret}")
    post(metrics_stack, run, ids[3], "yes")
    post(metrics_stack, run, ids[4], "Primary")
    post(metrics_stack, run, ids[5], "Under 5")
    # The widget retrying "yes" (same message id): answered from the first processing.
    repeat = post(metrics_stack, run, ids[3], "yes")
    assert repeat == run.replies[3]
    return run


def test_counters_and_histograms_add_up_exactly(
    metrics_stack: RunningStack, scenario: Scenario
) -> None:
    results = " ".join(m.get("text") or "" for m in scenario.replies[5])
    assert "%" in results, f"no results after the last answer: {results[:300]}"
    assert len(scenario.served_by) == 2, f"round robin used one replica: {scenario.served_by}"

    replicas = [scrape(url) for url in metrics_stack.replica_urls]

    def summed(name: str, **labels: str) -> float:
        return sum(value(samples, name, **labels) for samples in replicas)

    # 7 messages went in: 6 processed, 1 repeat; none failed.
    assert summed("tpr_messages_total", outcome="ok") == 6
    assert summed("tpr_messages_total", outcome="duplicate") == 1
    assert summed("tpr_messages_total", outcome="unavailable") == 0
    assert summed("tpr_message_seconds_count") == 7
    assert summed("tpr_message_seconds_bucket", le="+Inf") == 7
    assert summed("tpr_message_seconds_sum") > 0
    # Each processed message took the conversation's lock once; the repeat never did.
    assert summed("tpr_lock_wait_seconds_count") == 6
    assert summed("tpr_generic_replies_total") == 0
    assert summed("tpr_redis_errors_total") == 0
    # Both replicas counted some of them (the sums are not one replica's figures twice).
    per_replica = [value(s, "tpr_message_seconds_count") for s in replicas]
    assert all(count > 0 for count in per_replica) and sum(per_replica) == 7

    action = scrape(metrics_stack.action_url)
    assert value(action, "tpr_uploads_total", outcome="ok") == 1
    assert value(action, "tpr_uploads_total", outcome="refused") == 1
    refused_status = str(scenario.upload_statuses[0])
    assert value(action, "tpr_upload_refusals_total", status=refused_status) == 1
    # The refused file never reached the parse worker (sniffing refused it).
    assert value(action, "tpr_parse_seconds_count") == 1
    assert value(action, "tpr_compute_seconds_count") == 1
    assert value(action, "tpr_redis_errors_total") == 0
    # The replicas expose no action-server metric and vice versa.
    assert not any(name.startswith("tpr_uploads") for name, _ in replicas[0])
    assert not any(name.startswith("tpr_messages") for name, _ in action)


def turn_lines(stack: RunningStack) -> list[dict]:
    lines = []
    for path in sorted((stack.var_dir / "log").glob("rasa-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and "conversation" in record:
                    lines.append(record)
    return lines


def test_every_message_has_its_json_line_and_no_log_names_the_sender_or_the_text(
    metrics_stack: RunningStack, scenario: Scenario
) -> None:
    conversation = hashlib.sha256(scenario.sender.encode()).hexdigest()[:16]
    mine = [line for line in turn_lines(metrics_stack) if line["conversation"] == conversation]
    mine.sort(key=lambda line: line["time"])  # two replicas' files, in the order sent
    assert [line["message_id"] for line in mine] == [mid for mid, _ in scenario.sent]
    for line in mine:
        assert set(line) >= TURN_FIELDS, line
        assert line["replica"] in ("rasa-1", "rasa-2")
        assert line["ms"] > 0
    assert [line["outcome"] for line in mine] == ["ok"] * 6 + ["duplicate"]
    small_talk = mine[2]
    assert small_talk["requested_slot_before"] == "confirmed"
    assert small_talk["requested_slot_after"] == "confirmed"
    assert small_talk["actions"][-2:] == ["tpr_form", "action_listen"]
    assert mine[0]["intent"] == "dataset_uploaded"
    assert mine[5]["requested_slot_before"] == "age_group"
    assert mine[5]["requested_slot_after"] is None
    assert "action_tpr_submit" in mine[5]["actions"]

    logs = sorted((metrics_stack.var_dir / "log").glob("rasa-*.log"))
    # (nginx's own logs show request URLs, the upload's ?sender= included.)
    assert len(logs) == 2
    for path in [*logs, metrics_stack.var_dir / "log" / "actions.log"]:
        text = path.read_text(errors="replace")
        assert scenario.sender not in text, f"{path.name} names the sender id"
        assert scenario.secret not in text, f"{path.name} carries the message text"
        assert "Adamawa State" not in text, f"{path.name} carries the message text"


def test_status_reads_the_same_figures_from_the_metrics_endpoints(
    metrics_stack: RunningStack, scenario: Scenario
) -> None:
    result = subprocess.run(
        [sys.executable, str(STACK_SCRIPT), "status", "--json"],
        env=metrics_stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads(result.stdout)
    assert status["healthy"] is True
    figures = status["figures"]
    assert figures["replicas_read"] == figures["replicas_total"] == 2
    assert figures["action_server_read"] is True
    assert figures["messages"] == {"ok": 6, "unavailable": 0, "duplicate": 1}
    assert figures["generic_replies"] == 0 and figures["unavailable"] == 0
    assert figures["uploads"] == {"ok": 1, "refused": 1}
    assert 0 < figures["p50_seconds"] <= figures["p95_seconds"]
    assert figures["lock_wait_p95_seconds"] is not None
    assert figures["redis_errors"] == 0

    text = subprocess.run(
        [sys.executable, str(STACK_SCRIPT), "status"],
        env=metrics_stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "generic replies  0" in text and "uploads          ok 1, refused 1" in text
    assert "Redis redis://" in text  # the Redis mode, without a password


def test_nginx_hides_metrics_and_unknown_api_routes_are_json_404(
    metrics_stack: RunningStack,
) -> None:
    web = metrics_stack.web_url
    for path in ("/metrics", "/metrics/", "/api/metrics", "/api/metrics/x", "/api/nothing"):
        reply = requests.get(f"{web}{path}", timeout=30)
        assert reply.status_code == 404, f"{path} -> {reply.status_code}"
        assert "tpr_" not in reply.text
        if path.startswith("/api/"):
            assert "error" in reply.json(), path
    # The endpoints exist on the processes' own ports (the 404s are nginx's doing).
    assert "tpr_messages_total" in requests.get(f"{metrics_stack.replica_urls[0]}/metrics").text
    assert "tpr_uploads_total" in requests.get(f"{metrics_stack.action_url}/metrics").text
