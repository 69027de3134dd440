"""What the test modules that try to fool the built-in validators share (``test_fooling_*.py``).

Starting a family's instance, running a shell line in HOME, driving the application with
oracle-style steps, and asserting that a verdict fails for the real reason.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from typing import Any

from cua.tasks import TaskSpec, builtin_families, start, validate
from cua.tasks.errors import Where
from cua.tasks.oracle import OracleRunner, parse_steps
from cua.tasks.params import HOME
from cua.tasks.validators import Move, ValidatorVerdict
from sandbox.base import Sandbox

Setup = Callable[..., tuple[TaskSpec, dict[str, Any]]]


def starter(sb: Sandbox) -> Setup:
    """Return ``begin(family_id, index=0)``: start that instance on ``sb``; give (task, params)."""
    families = {f.id: f for f in builtin_families()}

    def begin(family_id: str, index: int = 0) -> tuple[TaskSpec, dict[str, Any]]:
        task = families[family_id].instance(index)
        start(sb, task)
        return task, dict(task.params)

    return begin


def shell(sb: Sandbox, script: str, timeout_s: float = 60) -> None:
    """Run ``script`` in HOME inside the sandbox; it must succeed."""
    result = sb.exec(["sh", "-c", f"cd {shlex.quote(HOME)} && {script}"], timeout_s=timeout_s)
    assert result.ok, result.stderr.decode(errors="replace")


def gui(sb: Sandbox, steps: list[Any]) -> tuple[Move, ...]:
    """Drive the application with oracle steps (task-file form); return the inputs they sent."""
    return tuple(OracleRunner(sb, settle_s=0.2).run(parse_steps(steps, Where("test", "steps"))).moves)


def judge(sb: Sandbox, task: TaskSpec, moves: Sequence[Move] = ()) -> ValidatorVerdict:
    """Validate ``task`` on ``sb`` with ``moves`` as the run's recorded inputs."""
    return validate(sb, task, trajectory=moves)


def fails_for(verdict: ValidatorVerdict, *words: str) -> None:
    """Assert the verdict fails and its reasons mention each of ``words``."""
    text = verdict.explain()
    print(text)  # shown with -s
    assert not verdict.passed, text
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"


def passes(verdict: ValidatorVerdict) -> None:
    """Assert the verdict passes."""
    assert verdict.passed, verdict.explain()


def q(value: Any) -> str:
    """Quote a value for a shell line."""
    return shlex.quote(str(value))
