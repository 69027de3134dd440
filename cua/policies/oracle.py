"""OraclePolicy: a task's oracle played through the agent loop, so its episodes are recorded.

A privileged policy: it knows the task's solution and reads the live sandbox to resolve each
oracle step's target (as the oracle runner does) and to wait for the previous step's ``until``
condition before answering. Each answer is typed actions, so the loop executes and records
them like any model's. Used by ``cua eval --policy oracle`` and to produce verified
demonstrations; it is not a model.
"""

from __future__ import annotations

from typing import Any

from cua import actions as act
from cua.errors import PolicyError
from cua.policy import PolicyInput, PolicyOutput
from cua.tasks.errors import OracleFailed
from cua.tasks.oracle import Condition, OracleRunner, WaitStep
from cua.tasks.spec import TaskSpec
from sandbox import actions as low
from sandbox.base import Sandbox


def to_agent_action(action: low.SandboxAction) -> act.Action:
    """Map one low-level sandbox action back to the agent's typed action."""
    match action:
        case low.Click(x, y, button, count):
            return act.Click(x, y, button, count)
        case low.Move(x, y):
            return act.Move(x, y)
        case low.Drag(x, y, to_x, to_y):
            return act.Drag(x, y, to_x, to_y)
        case low.Scroll(x, y, dx, dy):
            if dy:
                return act.Scroll(x, y, "down" if dy > 0 else "up", abs(dy))
            return act.Scroll(x, y, "right" if dx > 0 else "left", max(abs(dx), 1))
        case low.Key(keys):
            return act.Key(keys[0]) if len(keys) == 1 else act.Hotkey(tuple(keys))
        case low.TypeText(text):
            return act.TypeText(text)
        case low.Wait(seconds):
            return act.Wait(seconds)
    raise PolicyError(f"no agent action for {action!r}")


class OraclePolicy:
    """Answers each step with the next oracle step of ``task``, resolved on ``sandbox``."""

    format_name = "pyautogui"

    def __init__(self, task: TaskSpec, sandbox: Sandbox, *, settle_s: float = 0.2) -> None:
        """Prepare to play ``task``'s oracle on ``sandbox`` (already set up for the task)."""
        if task.oracle is None:
            raise PolicyError(f"task {task.id} has no oracle")
        self.task = task
        self.name = f"oracle:{task.family}"
        self._runner = OracleRunner(sandbox, settle_s=settle_s)
        self._sandbox = sandbox
        self._next = 0
        self._pending: tuple[Condition, Any, float] | None = None

    def _finish_pending(self) -> bool:
        if self._pending is None:
            return False
        condition, snap, timeout = self._pending
        self._pending = None
        self._runner.wait(condition, snap, timeout)
        return True

    def settle(self) -> bool:
        """Wait for the last step's ``until`` condition, then any ``wait_for`` steps that follow it.

        Called by the agent loop before it observes, so the recorded screen of the next step (and
        the title a replay waits for) shows the state the oracle waited for.
        """
        try:
            return self._run_waits()
        except OracleFailed as exc:
            raise PolicyError(f"oracle of {self.task.id} failed at step {self._next}: {exc}") from None

    def _run_waits(self) -> bool:
        """Finish the pending condition and the ``wait_for`` steps next in line; return whether any."""
        steps = self.task.oracle or ()
        waited = self._finish_pending()
        while self._next < len(steps) and isinstance(step := steps[self._next], WaitStep):
            self._next += 1
            self._runner.wait(step.condition, step.condition.snapshot(self._sandbox), step.timeout_s)
            waited = True
        return waited

    def act(self, inp: PolicyInput) -> PolicyOutput:
        """Return the next oracle step's actions, or Done when the oracle is complete."""
        steps = self.task.oracle or ()
        try:
            self._run_waits()  # a no-op when the loop already called settle()
            while self._next < len(steps):
                step = steps[self._next]
                self._next += 1
                condition = step.condition if isinstance(step, WaitStep) else step.until
                snap = condition.snapshot(self._sandbox) if condition is not None else None
                actions = [to_agent_action(a) for a in step.actions(self._runner)]
                if condition is not None:
                    self._pending = (condition, snap, step.timeout_s)
                if actions:
                    return PolicyOutput(text=step.describe(), actions=actions)
                self._finish_pending()  # a pure wait: wait now, then go on to the next step
        except OracleFailed as exc:
            raise PolicyError(f"oracle of {self.task.id} failed at step {self._next}: {exc}") from None
        return PolicyOutput(text="the oracle is complete", actions=[act.Done()])

    def provenance(self) -> dict[str, Any]:
        """Name the oracle (there is no model)."""
        return {"backend": "oracle", "model": self.name, "task": self.task.id}
