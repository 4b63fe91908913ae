"""The alert rules, the Prometheus config and the Grafana dashboard (deploy/prometheus/,
deploy/grafana/) are valid and watch metrics the processes really export: `promtool check
rules`, `promtool check config` and `promtool test rules` (each alert fires on its series),
and every `tpr_*` name in an expression is a metric of the replicas or the action server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from tests.integration.stack import REPO_ROOT

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "tpr-dashboard.json"
# Issue 13: at least these four.
REQUIRED_ALERTS = {"TprGenericReply", "TprReplicaDown", "TprSlowTurns", "TprRedisErrors"}
NAME = re.compile(r"\b(tpr_[a-z_]+)")


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool missing: `make monitoring-deps` installs Debian's prometheus")
    return found


def exported_samples() -> set[str]:
    """Every sample name (with _total, _bucket, ... suffixes) the processes export."""
    import actions.service.metrics  # noqa: F401 - registers the action server's metrics
    import deploy.replica_metrics  # noqa: F401 - registers the replicas' metrics
    import redis_stores._redis  # noqa: F401 - the stores' metrics

    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("tpr_"):
            names.add(family.name)
            if family.type == "counter":
                names.add(family.name + "_total")
            if family.type == "histogram":
                names.update(family.name + s for s in ("_bucket", "_count", "_sum"))
    return names


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def run(*args: str) -> str:
    result = subprocess.run(
        [promtool(), *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_promtool_accepts_the_rules_and_the_config_and_every_alert_fires() -> None:
    assert "SUCCESS" in run("check", "rules", "alerts.yml")
    assert "SUCCESS" in run("check", "config", "prometheus.yml")
    assert "SUCCESS" in run("test", "rules", "alerts_test.yml")


def test_the_required_alerts_exist_and_each_is_unit_tested() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    assert names >= REQUIRED_ALERTS
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())["tests"]
    tested = {
        check["alertname"]
        for case in tests
        for check in case["alert_rule_test"]
        if check["exp_alerts"]  # a firing expectation, not only a quiet one
    }
    assert tested >= REQUIRED_ALERTS


def test_every_expression_names_an_exported_metric() -> None:
    exported = exported_samples()
    assert {"tpr_messages_total", "tpr_uploads_total", "tpr_message_seconds_bucket"} <= exported
    expressions = [rule["expr"] for rule in alert_rules()]
    dashboard = json.loads(DASHBOARD.read_text())
    expressions += [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(expressions) > 10
    for expression in expressions:
        names = NAME.findall(expression)
        assert names or re.search(r"\bup\{", expression), expression
        for name in names:
            assert name in exported, f"{name} in {expression!r} is not exported"


def test_compose_scrapes_every_replica_and_the_action_server() -> None:
    compose = yaml.safe_load((REPO_ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    replicas = sorted(name for name in services if name.startswith("rasa-"))
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {t for c in jobs["tpr-rasa"]["static_configs"] for t in c["targets"]}
    ports = {
        name: services[name]["command"][services[name]["command"].index("--port") + 1]
        for name in replicas
    }
    assert targets == {f"{name}:{port}" for name, port in ports.items()}
    assert [t for c in jobs["tpr-actions"]["static_configs"] for t in c["targets"]] == [
        "actions:5055"
    ]
    prometheus = services["prometheus"]
    assert "monitoring" in prometheus["profiles"]
    for name in replicas:
        assert services[name]["environment"]["TPR_REPLICA"] == name
    assert Path(REPO_ROOT / "deploy" / "prometheus" / "alerts.yml").exists()
