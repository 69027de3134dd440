"""The step loop on the scripted fake sandbox and on a real one, with a real store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from cua import actions as act
from cua.agent import Agent, AgentConfig, AgentControl, Question, StepEvent
from cua.errors import CuaError, PolicyError, UsageError
from cua.policies.scripted import ScriptedPolicy
from cua.store import Actor, RunStatus, TrajectoryStore
from sandbox import XvfbSandbox
from sandbox.fake import FakeSandbox

OK = (640, 400)  # the fake's OK button


@pytest.fixture
def store(tmp_path: Path) -> TrajectoryStore:
    return TrajectoryStore(tmp_path / "data")


def run(policy: ScriptedPolicy, store: TrajectoryStore | None = None, **kw: object) -> tuple[Agent, object]:
    sb = FakeSandbox()
    first = sb.reset("fake")
    config = kw.pop("config", AgentConfig(max_steps=6))
    agent = Agent(policy, sb, store=store, config=config, **kw)  # type: ignore[arg-type]
    return agent, agent.run("press OK", first, app="fake")


def test_scripted_episode_is_recorded_step_by_step(store: TrajectoryStore) -> None:
    agent, result = run(ScriptedPolicy([act.Click(*OK), act.Done("pressed")]), store)
    assert result.status == RunStatus.SUCCESS and result.answer == "pressed" and result.steps == 2
    assert agent.sandbox.current_screen == "done"  # type: ignore[attr-defined]
    run_row = store.get_run(result.run_id)
    assert run_row.status == RunStatus.SUCCESS and run_row.summary == "pressed"
    steps = store.steps(result.run_id)
    assert [s.action["type"] for s in steps] == ["click", "done"]  # type: ignore[index]
    assert steps[0].hit == {"role": "push button", "name": "OK", "app": "fake", "path": [0, 0],
                            "bbox": [560, 380, 160, 40], "offset": [0.5, 0.5]}  # fmt: skip
    assert run_row.provenance.prompt_format == "ui-tars-1.5"


class SettlesAfterClick(ScriptedPolicy):
    """Clicks OK, then (in ``settle``) presses it a second time "in the background" before the look."""

    def __init__(self, sandbox: FakeSandbox, fail: bool = False) -> None:
        super().__init__([act.Click(*OK), act.Done()])
        self.sandbox, self.fail, self.settled = sandbox, fail, 0

    def settle(self) -> bool:
        self.settled += 1
        if self.fail:
            raise PolicyError("the awaited dialog never came")
        self.sandbox.observe()
        self.screen_at_settle = self.sandbox.current_screen
        return True


def test_a_settling_policy_is_awaited_before_the_next_observation(store: TrajectoryStore) -> None:
    sb = FakeSandbox()
    policy = SettlesAfterClick(sb)
    result = Agent(policy, sb, store=store, config=AgentConfig(max_steps=4)).run(  # type: ignore[arg-type]
        "press OK", sb.reset("fake"), app="fake"
    )
    assert result.status == RunStatus.SUCCESS and policy.settled == 1  # not after Done
    assert policy.inputs[1].screenshot.tobytes() == sb.observe().screenshot.tobytes()
    timings = store.steps(result.run_id)[0].timings
    assert "policy_settle" in timings
    failing = SettlesAfterClick(sb2 := FakeSandbox(), fail=True)
    result = Agent(failing, sb2, config=AgentConfig(max_steps=4)).run(  # type: ignore[arg-type]
        "press OK", sb2.reset("fake"), app="fake"
    )
    assert result.status == RunStatus.ERROR and "never came" in result.summary


def test_raw_model_text_is_parsed_and_errors_are_fed_back(store: TrajectoryStore) -> None:
    policy = ScriptedPolicy(
        [
            "Thought: hmm\nAction: clack(start_box='(1,2)')",
            "Thought: press it\nAction: click(start_box='(640,400)')",
        ]
    )
    _, result = run(policy, store)
    assert result.status == RunStatus.SUCCESS
    assert policy.inputs[1].feedback is not None and "could not be parsed" in policy.inputs[1].feedback
    steps = store.steps(result.run_id)
    assert steps[0].parse_error and steps[0].action is None and steps[1].thought == "press it"


def test_unparsable_output_stops_after_the_limit() -> None:
    _, result = run(ScriptedPolicy(["no idea"], then="repeat"), config=AgentConfig(max_parse_errors=3))
    assert result.status == RunStatus.FAILURE and "3 unparsable outputs" in result.summary


def test_repeating_an_action_without_effect_gets_feedback_then_stops() -> None:
    policy = ScriptedPolicy([act.Click(10, 10)], then="repeat")
    _, result = run(policy, config=AgentConfig(max_steps=20, loop_limit=2))
    assert result.status == RunStatus.FAILURE and "repeating" in result.summary
    assert any(i.feedback and "repeated" in i.feedback for i in policy.inputs)
    assert result.steps == 4


def test_step_budget() -> None:
    _, result = run(ScriptedPolicy([act.Wait(0.01), act.Move(5, 5), act.Move(6, 6)], then="repeat"),
                    config=AgentConfig(max_steps=3, loop_limit=10))  # fmt: skip
    assert result.status == RunStatus.FAILURE and "step budget of 3" in result.summary


def test_call_user_ends_a_batch_run_and_asks_in_an_interactive_one() -> None:
    _, result = run(ScriptedPolicy([act.CallUser("which file?")]))
    assert result.status == RunStatus.NEEDS_USER and "which file?" in result.summary
    asked: list[str] = []
    policy = ScriptedPolicy([act.CallUser("which file?"), act.Done()])
    _, result = run(policy, ask_user=lambda q, t: asked.append(q) or "the second one")
    assert result.status == RunStatus.SUCCESS and asked == ["which file?"]
    assert policy.inputs[1].feedback == "The user answered: the second one"


def test_safety_guard_turns_a_destructive_command_into_a_question() -> None:
    _, result = run(ScriptedPolicy([act.TypeText("rm -rf ~\n")]))
    assert result.status == RunStatus.NEEDS_USER and "safety guard" in result.summary
    sb_actions = []
    policy = ScriptedPolicy([act.TypeText("rm -rf /"), act.Done()])
    agent, result = run(policy, ask_user=lambda q, t: "no")
    sb_actions = agent.sandbox.actions  # type: ignore[attr-defined]
    assert result.status == RunStatus.SUCCESS and sb_actions == []
    assert "did not allow" in (policy.inputs[1].feedback or "")


def test_secrets_are_typed_but_never_recorded(store: TrajectoryStore) -> None:
    sb = FakeSandbox()
    first = sb.reset("fake")
    agent = Agent(ScriptedPolicy([act.TypeText("{{secret:PW}}"), act.Done()]), sb, store=store)
    result = agent.run("log in", first, app="fake", secrets={"PW": "hunter2-xyz"})
    assert sb.actions[0].text == "hunter2-xyz"  # type: ignore[attr-defined]
    db = (store.data_dir / "trajectories" / "trajectories.db").read_bytes()
    assert b"hunter2-xyz" not in db
    assert "{{secret:PW}}" in (store.steps(result.run_id)[0].raw_output or "")


def test_pause_resume_and_cancel_from_another_thread() -> None:
    events: list[StepEvent] = []
    sb = FakeSandbox()
    first = sb.reset("fake")
    agent = Agent(ScriptedPolicy([act.Wait(0.01)], then="repeat"), sb,
                  config=AgentConfig(max_steps=10_000, loop_limit=10_000), on_step=events.append)  # fmt: skip
    agent.control.pause()
    result_box: list[object] = []
    thread = threading.Thread(target=lambda: result_box.append(agent.run("wait", first, app="fake")))
    thread.start()
    time.sleep(0.2)
    assert events == []  # paused before the first step
    agent.control.resume()
    deadline = time.monotonic() + 5
    while len(events) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    agent.control.cancel()
    thread.join(5)
    assert not thread.is_alive()
    assert result_box[0].status == RunStatus.CANCELLED and len(events) >= 3  # type: ignore[attr-defined]


@pytest.mark.x11
def test_real_sandbox_episode(store: TrajectoryStore) -> None:
    with XvfbSandbox() as sb:
        first = sb.reset("mousepad")
        policy = ScriptedPolicy(
            [act.Click(640, 400), act.TypeText("hello agent"), act.Hotkey(("ctrl", "a")), act.Done()]
        )
        result = Agent(policy, sb, store=store).run("type hello", first, app="mousepad")
        assert result.status == RunStatus.SUCCESS and result.steps == 4
        assert result.final is not None and result.final.window_title.startswith("*")  # type: ignore[union-attr]
        steps = store.steps(result.run_id)
        assert steps[0].hit is not None and steps[0].hit.get("role") == "text"
        assert all(s.timings.get("policy", -1) >= 0 for s in steps)


def test_steps_yields_one_event_per_recorded_step_and_returns_the_result(store: TrajectoryStore) -> None:
    sb = FakeSandbox()
    agent = Agent(ScriptedPolicy([act.Move(5, 5), act.Click(*OK), act.Done("ok")]), sb, store=store)
    steps = agent.steps("press OK", sb.reset("fake"), app="fake")
    events = []
    for event in steps:
        assert len(store.steps(agent.run_id or "")) == event.index + 1  # recorded before it is yielded
        events.append(event)
    assert [e.index for e in events] == [0, 1, 2]
    assert [type(e.actions[0]).__name__ for e in events] == ["Move", "Click", "Done"]
    result = store.get_run(agent.run_id or "")
    assert result.status == RunStatus.SUCCESS and result.step_count == 3


def test_an_unusable_instruction_is_refused_before_anything_is_recorded(store: TrajectoryStore) -> None:
    sb = FakeSandbox()
    agent = Agent(ScriptedPolicy([act.Done()]), sb, store=store)
    with pytest.raises(UsageError, match="empty"):
        agent.run("   ", sb.reset("fake"), app="fake")
    assert store.list_runs() == []


def test_take_over_records_the_persons_steps_and_the_agent_continues(store: TrajectoryStore) -> None:
    sb = FakeSandbox()
    first = sb.reset("fake")
    policy = ScriptedPolicy([act.Done("it is pressed")])
    events: list[StepEvent] = []
    agent = Agent(policy, sb, store=store, on_step=events.append)
    agent.control.take_over()  # before the agent's first step
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(agent.run("press OK", first, app="fake")))
    thread.start()
    agent.control.person_step(act.Click(*OK))
    deadline = time.monotonic() + 5
    while not events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert policy.inputs == []  # the agent waits while the person drives
    agent.control.hand_back()
    thread.join(5)
    result = box[0]
    assert result.status == RunStatus.SUCCESS and result.steps == 1 and result.person_steps == 1  # type: ignore[attr-defined]
    assert sb.current_screen == "done"
    assert "A person took over" in (policy.inputs[0].feedback or "")
    assert policy.inputs[0].screenshot.tobytes() == sb.observe().screenshot.tobytes()  # from the new screen
    steps = store.steps(result.run_id)  # type: ignore[attr-defined]
    assert [s.actor for s in steps] == [Actor.PERSON, Actor.AGENT]
    assert steps[0].action is not None and steps[0].action["type"] == "click"
    assert steps[0].hit is not None and steps[0].hit["name"] == "OK"
    assert [e.actor for e in events] == [Actor.PERSON, Actor.AGENT]
    with pytest.raises(CuaError, match="take_over"):
        agent.control.person_step(act.Click(*OK))


def test_a_question_is_answered_from_another_thread() -> None:
    sb = FakeSandbox()
    first = sb.reset("fake")
    control = AgentControl(interactive=True)
    announced: list[Question] = []
    control.on_question = announced.append
    policy = ScriptedPolicy([act.CallUser("which file?"), act.Done()])
    agent = Agent(policy, sb, control=control)
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(agent.run("open it", first, app="fake")))
    thread.start()
    deadline = time.monotonic() + 5
    while control.pending_question() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    question = control.pending_question()
    assert question is not None and question.text == "which file?" and question.kind == "call_user"
    assert announced == [question]
    control.answer("the second one")
    thread.join(5)
    assert box[0].status == RunStatus.SUCCESS  # type: ignore[attr-defined]
    assert policy.inputs[1].feedback == "The user answered: the second one"
    assert control.pending_question() is None
    with pytest.raises(CuaError, match="no question"):
        control.answer("late")


def test_a_safety_question_through_the_control_can_be_declined() -> None:
    sb = FakeSandbox()
    control = AgentControl(interactive=True)
    control.on_question = lambda q: threading.Timer(0.05, control.answer, ("no",)).start()
    policy = ScriptedPolicy([act.TypeText("rm -rf /"), act.Done()])
    result = Agent(policy, sb, control=control).run("clean up", sb.reset("fake"), app="fake")
    assert result.status == RunStatus.SUCCESS and sb.actions == []
    assert "did not allow" in (policy.inputs[1].feedback or "")
