"""The action server registers exactly the custom actions the domain names (an abstract helper
class registered as an action makes `python -m actions.service.server` fail at start-up)."""

from __future__ import annotations

from pathlib import Path

import yaml
from rasa_sdk.executor import ActionExecutor

ROOT = Path(__file__).resolve().parents[2]


def test_the_action_server_registers_every_domain_action_and_nothing_else() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    executor = ActionExecutor()
    executor.register_package("actions")
    assert sorted(executor.actions) == sorted(domain["actions"])
