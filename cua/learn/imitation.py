"""Teach a checkpoint to solve a task by imitating its oracle (behaviour cloning, overfit).

The oracle is played through the same input builder as the agent loop; each step's input
and the oracle's action, rendered in the model's output format, become one training example.
With a tiny checkpoint this makes, in CPU seconds, a real model that solves a real task end to
end: ``scripts/run.sh`` uses it for the demo, the tests for ``cua run --model``. It is a
miniature of the learning loop, not a way to train a useful general model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cua import actions as act
from cua.agent import policy_input
from cua.models.overfit import OverfitConfig, OverfitExample, OverfitResult, overfit
from cua.models.tiny import TinySpec, build_tiny_model
from cua.models.transformers_policy import TransformersPolicy
from cua.policies.oracle import OraclePolicy
from cua.policy import HistoryItem, PolicyInput
from cua.tasks import OracleFailed, TaskSpec, start
from sandbox.base import Sandbox


@dataclass(frozen=True)
class Demonstration:
    """One oracle step: what the agent loop would show the policy, and what the oracle did."""

    inp: PolicyInput
    thought: str
    actions: tuple[act.Action, ...]


def demonstrate(task: TaskSpec, sandbox: Sandbox, history_screenshots: int = 2) -> list[Demonstration]:
    """Play ``task``'s oracle on ``sandbox`` and return every step, the final Done included.

    Raises OracleFailed when the oracle has not said Done within the task's ``max_steps``.
    """
    obs = start(sandbox, task)
    oracle = OraclePolicy(task, sandbox)
    history: list[HistoryItem] = []
    steps: list[Demonstration] = []
    for index in range(task.max_steps):
        inp = policy_input(task.instruction, obs, history, history_screenshots, step=index)
        out = oracle.act(inp)
        actions = tuple(out.actions or ())
        steps.append(Demonstration(inp, out.text, actions))
        if any(isinstance(a, act.Done) for a in actions):
            return steps
        for action in actions:
            for low in act.to_sandbox(action):
                obs = sandbox.step(low)
        history.append(HistoryItem("", inp.screenshot))  # output filled in by the caller's renderer
    raise OracleFailed(f"the oracle of {task.id} did not finish within {task.max_steps} steps")


def build_task_model(
    task: TaskSpec,
    sandbox: Sandbox,
    out_dir: Path,
    *,
    format_name: str = "ui-tars-1.5",
    spec: TinySpec | None = None,
    config: OverfitConfig | None = None,
) -> OverfitResult:
    """Build a tiny checkpoint in ``out_dir`` that answers every step of ``task`` like its oracle."""
    out_dir = Path(out_dir)
    spec = spec or TinySpec()
    base = build_tiny_model(out_dir / "base", spec)
    min_pixels, max_pixels = spec.pixels()
    # The tiny model sees a few dozen patches: pass these pixel limits to `cua run` as well.
    policy = TransformersPolicy(base, format_name, min_pixels=min_pixels, max_pixels=max_pixels)
    demos = demonstrate(task, sandbox)
    examples: list[OverfitExample] = []
    history: list[HistoryItem] = []
    for demo in demos:
        # Rebuild each input with the rendered outputs of the earlier steps, as the loop will.
        window = zip(history, demo.inp.history, strict=True)
        earlier = tuple(HistoryItem(h.output, d.screenshot) for h, d in window)
        inp = PolicyInput(
            demo.inp.instruction, demo.inp.screenshot, demo.inp.screen_size, earlier, step=demo.inp.step
        )
        target = policy.output_format.render(
            list(demo.actions), inp.screen_size, inp.screenshot.size, thought=demo.thought
        )
        examples.append(OverfitExample(policy.messages(inp), target))
        history.append(HistoryItem(target, demo.inp.screenshot))
    result = overfit(policy.model, examples, config or OverfitConfig(max_steps=600))
    policy.model.save(out_dir)
    record = {
        "task": task.id,
        "format": format_name,
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
        "targets": [e.target for e in examples],
        "overfit_steps": result.steps,
        "overfit_seconds": round(result.seconds, 2),
    }
    (out_dir / "imitation.json").write_text(json.dumps(record, indent=2) + "\n")
    return result
