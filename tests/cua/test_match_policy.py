"""The ``match`` baseline on real applications: quoted values clicked, spelled out, or typed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cua.agent import Agent, AgentConfig
from cua.episode import run_episode
from cua.policies.match import MatchPolicy, quoted_values
from cua.policies.registry import make_baseline
from cua.tasks.spec import TaskSpec, parse_document
from sandbox.xvfb import XvfbSandbox

pytestmark = pytest.mark.x11


def task(app: str, instruction: str, validator: dict[str, object]) -> TaskSpec:
    doc = {"id": "t", "app": app, "difficulty": 1, "instruction": instruction, "validator": validator}
    return parse_document(doc)[0].instance(0)


@pytest.fixture(scope="module")
def sb() -> Iterator[XvfbSandbox]:
    with XvfbSandbox() as box:
        yield box


def attempt(sb: XvfbSandbox, t: TaskSpec) -> bool:
    agent = Agent(MatchPolicy(sb), sb, config=AgentConfig(max_steps=10, settle_s=0.5))
    outcome = run_episode(agent, task=t)
    return bool(outcome.verdict and outcome.verdict.passed)


def test_quoted_values_in_order() -> None:
    assert quoted_values("Get the 'Bold' box on and show '15'.") == ["Bold", "15"]
    assert quoted_values("nothing quoted") == []


def test_a_number_is_spelled_out_on_the_keypad(sb: XvfbSandbox) -> None:
    display = {"a11y": {"target": {"role": "text"}, "text_equals": "407"}}
    assert attempt(sb, task("galculator", "Get the text field in galculator to show '407'.", display))


def test_a_value_no_control_has_is_typed_into_the_field(sb: XvfbSandbox) -> None:
    editor = {"a11y": {"target": {"role": "text"}, "text_equals": "meadow"}}
    assert attempt(sb, task("mousepad", "Leave Mousepad with 'meadow' displayed in the text field.", editor))


def test_without_a_quoted_value_it_gives_up_at_once(sb: XvfbSandbox) -> None:
    t = task("galculator", "Compute something", {"a11y": {"target": {"role": "text"}, "text_equals": "9"}})
    assert not attempt(sb, t)


def test_the_registry_builds_it(sb: XvfbSandbox) -> None:
    t = task("galculator", "x", {"file_absent": "x"})
    assert isinstance(make_baseline("match", t, sb, 0), MatchPolicy)
