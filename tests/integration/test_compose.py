"""deploy/docker-compose.yml describes the same stack as deploy/stack.py: services, images,
commands, ports and variables. No container engine runs here, so the file is parsed and
compared with what the local stack would start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.stack import REPO_ROOT, _stack_module

COMPOSE_FILE = REPO_ROOT / "deploy" / "docker-compose.yml"
REPLICAS = 3


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def local() -> Any:
    """The local stack's configuration with every default (as `make up` without overrides)."""
    stack = _stack_module()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("RASA_PORT", "ACTION_PORT", "WEB_PORT", "STACK_ENDPOINTS", "RASA_MODEL"):
            patch.delenv(name, raising=False)
        patch.setenv("RASA_REPLICAS", str(REPLICAS))
        return stack.StackConfig.from_env()


def replica_names() -> list[str]:
    return [f"rasa-{i}" for i in range(1, REPLICAS + 1)]


def endpoint_variables() -> set[str]:
    """${VAR}s endpoints.yml reads: every replica must be given them."""
    lines = (REPO_ROOT / "endpoints.yml").read_text().splitlines()
    code = "\n".join(line.split("#", 1)[0] for line in lines)
    return set(re.findall(r"\$\{(\w+)\}", code))


def test_same_parts(compose: dict[str, Any]) -> None:
    expected = {"redis", *_stack_module().program_names(REPLICAS)}
    default = {name for name, s in compose["services"].items() if not s.get("profiles")}
    assert default == expected


def test_sentinel_profile_has_a_primary_a_replica_and_three_sentinels(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    profile = {name for name, s in services.items() if "sentinel" in s.get("profiles", [])}
    assert profile == {"redis-primary", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"}
    for name in ("redis-primary", "redis-replica"):
        command = services[name]["command"]
        assert command[command.index("--appendonly") + 1] == "yes", f"{name}: AOF"
        assert any(volume.endswith(":/data") for volume in services[name]["volumes"])
    replica = services["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 :][:2] == ["redis-primary", "6379"]
    master = services["rasa-1"]["environment"]["REDIS_SENTINEL_MASTER"]
    assert master == "${REDIS_SENTINEL_MASTER:-tprmaster}"
    for index in (1, 2, 3):
        script = " ".join(services[f"sentinel-{index}"]["command"])
        assert "--sentinel" in script
        assert "'sentinel monitor tprmaster redis-primary 6379 2'" in script  # quorum 2 of 3
        assert "'port 26379'" in script
    # Every app service passes the Redis mode variables through from the shell.
    for name in ("actions", "rasa-1", "rasa-2", "rasa-3"):
        environment = services[name]["environment"]
        for variable in ("REDIS_SENTINELS", "REDIS_MIN_REPLICAS_ACK", "REDIS_WAIT_MS"):
            assert environment[variable].startswith("${" + variable), (name, variable)
    assert "sentinel-1:26379,sentinel-2:26379,sentinel-3:26379" in COMPOSE_FILE.read_text()


def test_redis_keeps_an_append_only_file(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert re.fullmatch(r"redis:\d+\.\d+", redis["image"]), "pin the Redis image"
    for name in ("redis-primary", "redis-replica", "sentinel-1"):
        assert compose["services"][name]["image"] == redis["image"], name


def test_one_image_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    apps = [s for s in compose["services"].values() if not s["image"].startswith("redis:")]
    assert {s["image"] for s in apps} == {"tpr-assistant:latest"}
    assert {s["build"]["dockerfile"] for s in apps} == {"deploy/Dockerfile"}
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    # rasa 3.6 needs Python 3.10, as the local .venv
    assert re.search(r"^FROM python:3\.10", dockerfile, re.MULTILINE)


def test_replicas_run_the_local_command_on_the_local_ports(
    compose: dict[str, Any], local: Any
) -> None:
    stack = _stack_module()
    for name, port in zip(replica_names(), local.replica_ports, strict=True):
        service = compose["services"][name]
        # Containers listen on all interfaces; everything else is the local command line.
        assert service["command"] == stack.rasa_command(port, interface="0.0.0.0")
        environment = service["environment"]
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["ACTION_ENDPOINT_URL"] == f"http://actions:{local.action_port}/webhook"
        assert environment["RASA_TELEMETRY_ENABLED"] == "false"
        assert environment["PYTHONPATH"] == "/app"
        assert endpoint_variables() <= set(environment), "endpoints.yml needs these variables"


def test_local_replicas_get_the_same_variables(local: Any) -> None:
    env = _stack_module().process_env(local, "redis://127.0.0.1:6379/0")
    assert endpoint_variables() <= set(env)
    assert env["ACTION_ENDPOINT_URL"] == f"http://127.0.0.1:{local.action_port}/webhook"
    assert env["RASA_TELEMETRY_ENABLED"] == "false"
    assert env["PYTHONPATH"] == str(REPO_ROOT)


def test_action_server(compose: dict[str, Any], local: Any) -> None:
    actions = compose["services"]["actions"]
    assert actions["command"] == ["python", "-m", "actions.service.server"]
    assert actions["environment"]["ACTION_PORT"] == str(local.action_port)
    assert actions["environment"]["REDIS_URL"] == "redis://redis:6379/0"


def test_nginx_uses_the_same_template_and_ports(
    compose: dict[str, Any], local: Any, tmp_path: Path
) -> None:
    nginx = compose["services"]["nginx"]
    assert nginx["ports"] == [f"{local.web_port}:{local.web_port}"]
    environment = nginx["environment"]
    assert environment["WEB_PORT"] == str(local.web_port)
    upstreams = environment["RASA_UPSTREAMS"].split(",")
    assert upstreams == [
        f"{name}:{port}" for name, port in zip(replica_names(), local.replica_ports, strict=True)
    ]
    assert environment["ACTION_UPSTREAM"] == f"actions:{local.action_port}"
    assert "deploy/stack.py nginx-config" in " ".join(nginx["command"])
    # Only nginx is published: the Rasa HTTP API stays inside the compose network.
    published = [name for name, s in compose["services"].items() if s.get("ports")]
    assert published == ["nginx"]

    rendered = _stack_module().nginx_config(
        tmp_path, local.web_port, upstreams, environment["ACTION_UPSTREAM"], Path("/app/web")
    )
    for upstream in upstreams:
        assert f"server {upstream} " in rendered
    assert "proxy_next_upstream error timeout;" in rendered
    assert "location /conversations" not in rendered
