"""`tpr_generic_replies_total` means what it says (issue 13).

- It rises: a small model is trained here from the project's data with two deliberate
  breaks: inside the form "status" answers a canned line and drops the form, and
  RulePolicy's core fallback is Rasa's default fallback again (no rule for nlu_fallback).
  A 1-replica stack serves that model; each broken reply counts once, the good ones do not.
- It stays 0: every test story's flow (tests/stories/) is replayed through nginx on the shared
  stack, message by message, with a real dataset for each conversation.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import PrivateRedis
from tests.integration.conftest import require_model
from tests.integration.stack import (
    REPO_ROOT,
    RunningStack,
    save_datasets,
    send,
    start_stack,
    uploaded_message,
)
from tests.integration.test_metrics import scrape, value

pytestmark = pytest.mark.integration

CANNED = "Status: all good."  # the broken rule's reply (asks nothing)


def generic_total(stack: RunningStack) -> float:
    return sum(value(scrape(url), "tpr_generic_replies_total") for url in stack.replica_urls)


def broken_project(directory: Path) -> Path:
    """The project's domain, config and data with the two breaks; returns the directory."""
    shutil.copytree(REPO_ROOT / "data", directory / "data")
    domain = yaml.safe_load((REPO_ROOT / "domain.yml").read_text())
    domain.setdefault("responses", {})
    domain["responses"]["utter_broken_status"] = [{"text": CANNED}]
    domain["responses"]["utter_default"] = [{"text": "Sorry, I didn't get that."}]
    (directory / "domain.yml").write_text(yaml.safe_dump(domain, sort_keys=False))

    config = yaml.safe_load((REPO_ROOT / "config.yml").read_text())
    for policy in config["policies"]:
        if policy["name"] == "RulePolicy":
            policy["core_fallback_action_name"] = "action_default_fallback"
    (directory / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    # Inside the form, "status" gets a canned line and the form is dropped (Rasa's
    # documented interruption pattern): the pending question is never asked again.
    (directory / "data" / "rules" / "broken.yml").write_text(
        yaml.safe_dump(
            {
                "version": "3.1",
                "rules": [
                    {
                        "rule": "Broken: status inside the form drops the form",
                        "condition": [{"active_loop": "tpr_form"}],
                        "steps": [
                            {"intent": "status"},
                            {"action": "utter_broken_status"},
                            {"action": "action_deactivate_loop"},
                            {"active_loop": None},
                        ],
                    }
                ],
            },
            sort_keys=False,
        )
    )
    smalltalk = directory / "data" / "rules" / "smalltalk.yml"
    text = smalltalk.read_text()
    assert "          - intent: nlu_fallback\n" in text
    smalltalk.write_text(text.replace("          - intent: nlu_fallback\n", ""))
    return directory


@pytest.fixture(scope="module")
def broken_stack(
    redis_server: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    require_model()
    project = broken_project(tmp_path_factory.mktemp("broken-project"))
    rasa = REPO_ROOT / ".venv" / "bin" / "rasa"
    result = subprocess.run(
        [
            str(rasa),
            "train",
            "--domain",
            "domain.yml",
            "--config",
            "config.yml",
            "--data",
            "data",
            "--out",
            "models",
            "--fixed-model-name",
            "broken",
            "--quiet",
            "--skip-validation",
        ],  # fmt: skip
        cwd=project,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    model = project / "models" / "broken.tar.gz"
    assert result.returncode == 0 and model.exists(), result.stdout[-2000:] + result.stderr[-2000:]
    stack = start_stack(
        tmp_path_factory.mktemp("broken-stack"), replicas=1, redis_url=redis_server.url, model=model
    )
    yield stack
    stack.down()


def turn_lines_of(stack: RunningStack, sender: str) -> list[dict]:
    conversation = hashlib.sha256(sender.encode()).hexdigest()[:16]
    lines = []
    for line in (stack.var_dir / "log" / "rasa-1.log").read_text().splitlines():
        if line.startswith("{") and f'"conversation":"{conversation}"' in line:
            lines.append(json.loads(line))
    return lines


def test_generic_replies_rise_with_a_broken_rule_and_a_default_fallback(
    broken_stack: RunningStack,
) -> None:
    web = broken_stack.web_url
    in_form = f"broken-form-{uuid.uuid4().hex[:8]}"
    ids = save_datasets(broken_stack.redis_url, [in_form])
    assert generic_total(broken_stack) == 0

    send(web, in_form, uploaded_message(ids[in_form]))  # the form asks for the state
    send(web, in_form, "Adamawa")  # an answer: the form asks the next question
    assert generic_total(broken_stack) == 0
    replies = send(web, in_form, "/status")  # the broken rule: a canned line, no question
    assert [m.get("text") for m in replies] == [CANNED]
    assert generic_total(broken_stack) == 1
    send(web, in_form, "/cancel")  # outside the form now: our own action answers
    assert generic_total(broken_stack) == 1

    outside = f"broken-fallback-{uuid.uuid4().hex[:8]}"
    replies = send(web, outside, "/nlu_fallback")  # no rule: Rasa's default fallback
    assert generic_total(broken_stack) == 2, replies

    flags = [line["generic"] for line in turn_lines_of(broken_stack, in_form)]
    assert flags == [False, False, True, False]
    assert [line["generic"] for line in turn_lines_of(broken_stack, outside)] == [True]


# --- the test stories: replayed through the real stack, the counter stays 0 -----------------


def _story_messages(story: dict[str, Any], dataset_id: str) -> list[str]:
    """What a user (and the widget) sends in a test story, in order."""
    messages = []
    for step in story.get("steps", []):
        if "user" in step:
            text = re.sub(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})", r"\1", step["user"]).strip()
            messages.append(text)
        elif "intent" in step:
            if step["intent"] == "dataset_uploaded":
                messages.append(uploaded_message(dataset_id))
                continue
            entities = {}
            for entity in step.get("entities", []):
                entities.update(entity)
            suffix = json.dumps(entities) if entities else ""
            messages.append(f"/{step['intent']}{suffix}")
    return messages


def test_generic_replies_stay_zero_through_every_test_story(shared_stack: RunningStack) -> None:
    stories = []
    for path in sorted((REPO_ROOT / "tests" / "stories").glob("*.yml")):
        stories += yaml.safe_load(path.read_text()).get("stories", [])
    assert len(stories) >= 40
    senders = [f"story-{i}-{uuid.uuid4().hex[:8]}" for i in range(len(stories))]
    ids = save_datasets(shared_stack.redis_url, senders)
    before = generic_total(shared_stack)
    sent = 0
    for sender, story in zip(senders, stories, strict=True):
        for message in _story_messages(story, ids[sender]):
            send(shared_stack.web_url, sender, message)
            sent += 1
        assert generic_total(shared_stack) == before, f"generic reply in {story['story']!r}"
    assert sent > 3 * len(stories)
