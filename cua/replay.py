r"""Replay a verified recorded run on a fresh sandbox, for its task or another of its family.

The policy that plays the record back (locators, parameter rewriting, hand-over to a model)
is :class:`cua.policies.replay.ReplayPolicy`. This module sets the task up, optionally moves
and resizes the window (``move_and_resize_window``, with ``xdotool``: the condition the replay
benchmark measures under) and runs it as an episode (``cua.episode``: recorded as a
``replay`` run with its task hash, validated, judged by the critic). It touches only the
sandbox and the store it is given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cua.agent import Agent, AgentConfig, AgentControl, StepEvent
from cua.episode import run_episode
from cua.errors import SandboxError
from cua.policies.replay import (
    DEFAULT_WAIT_S,
    ParamMap,
    Recording,
    ReplayError,
    ReplayPolicy,
    ReplayStats,
    load_recording,
)
from cua.policy import Policy
from cua.store import RunSource, TrajectoryStore
from cua.tasks import TaskSpec, find_task
from sandbox.base import Observation, Sandbox


# -- moving the window --------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowChange:
    """The focused window's geometry (x, y, w, h) before and after ``move_and_resize_window``."""

    before: tuple[int, int, int, int]
    after: tuple[int, int, int, int]

    @property
    def shift_px(self) -> float:
        """Return how far the window's top-left corner moved."""
        return math.hypot(self.after[0] - self.before[0], self.after[1] - self.before[1])

    @property
    def scale(self) -> float:
        """Return the relative change of the window's area side, e.g. 0.25 for 25 % larger."""
        b = math.sqrt(self.before[2] * self.before[3])
        a = math.sqrt(self.after[2] * self.after[3])
        return abs(a - b) / b if b else 0.0


def window_geometry(sandbox: Sandbox) -> tuple[int, int, int, int]:
    """Return (x, y, w, h) of the focused window, from xdotool inside the sandbox."""
    res = sandbox.exec(["xdotool", "getactivewindow", "getwindowgeometry", "--shell"])
    if not res.ok:
        raise ReplayError(f"xdotool could not read the window: {res.stderr.decode(errors='replace')[-200:]}")
    values = dict(line.split("=", 1) for line in res.stdout.decode().splitlines() if "=" in line)
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


def move_and_resize_window(
    sandbox: Sandbox,
    *,
    shift_px: int = 200,
    scale: float = 0.25,
    margin: int = 30,
    settle_s: float = 0.5,
) -> WindowChange:
    """Move the focused window by ``shift_px``, resize it by ``scale``; return its geometry.

    Growing is tried first; a window too large to grow on this screen is shrunk instead. The
    shift goes right, else left, else down, else up, whichever keeps the window on the screen.
    A maximized window (LibreOffice opens so) is restored first with ``wmctrl``, since the
    window manager neither moves nor resizes it otherwise; both changes are measured from the
    geometry it had before.
    """
    sw, sh = sandbox.screen_size
    x, y, w, h = before = window_geometry(sandbox)
    wid = sandbox.exec(["xdotool", "getactivewindow"]).stdout.decode().strip()
    state = sandbox.exec(["xprop", "-id", wid, "_NET_WM_STATE"])
    if b"MAXIMIZED" in state.stdout:
        argv = ["wmctrl", "-i", "-r", wid, "-b", "remove,maximized_vert,maximized_horz"]
        try:
            res = sandbox.exec(argv)
        except SandboxError as exc:
            hint = "wmctrl comes with scripts/setup_system.sh"
            raise ReplayError(f"cannot restore the maximized window ({exc}); {hint}") from exc
        if not res.ok:
            raise ReplayError(
                f"{' '.join(argv)} failed: {res.stderr.decode(errors='replace')[-200:]} "
                "(wmctrl comes with scripts/setup_system.sh)"
            )
    for factor in (1 + scale, 1 - scale):
        nw, nh = round(w * factor), round(h * factor)
        moves = [(x + shift_px, y), (x - shift_px, y), (x, y + shift_px), (x, y - shift_px)]
        fits = [(mx, my) for mx, my in moves if mx >= 0 and my >= 0 and mx + nw <= sw and my + nh <= sh]
        if fits:
            break
    else:
        raise ReplayError(f"no way to move a {w}x{h} window by {shift_px} px on a {sw}x{sh} screen")
    nx, ny = fits[0]
    for argv in (
        ["xdotool", "windowsize", wid, str(nw), str(nh)],
        ["xdotool", "windowmove", wid, str(nx), str(ny)],
    ):
        res = sandbox.exec(argv)
        if not res.ok:
            raise ReplayError(f"{' '.join(argv)} failed: {res.stderr.decode(errors='replace')[-200:]}")
    time.sleep(settle_s)  # let the application lay itself out again before anything looks at it
    return WindowChange(before, window_geometry(sandbox))


# -- a whole replay -----------------------------------------------------------------------------
@dataclass
class ReplayResult:
    """One replay: the new run, whether the validator passed, and what the replay did."""

    source_run: str
    task: str
    run_id: str | None
    passed: bool
    status: str
    stats: ReplayStats
    window: WindowChange | None
    wall_s: float
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "source_run": self.source_run,
            "task": self.task,
            "run_id": self.run_id,
            "passed": self.passed,
            "status": self.status,
            "replayed": self.stats.replayed,
            "relocated": self.stats.relocated,
            "max_target_shift_px": round(self.stats.max_shift_px, 1),
            "handed_over_at": self.stats.handed_over_at,
            "handover_reason": self.stats.reason,
            "window": None
            if self.window is None
            else {"before": list(self.window.before), "after": list(self.window.after),
                  "shift_px": round(self.window.shift_px, 1), "scale": round(self.window.scale, 3)},
            "wall_s": round(self.wall_s, 2),
            "reasons": self.reasons,
        }  # fmt: skip


def target_task(recording: Recording, task_id: str | None = None) -> tuple[TaskSpec, TaskSpec]:
    """Return (the task the run was recorded on, the task to replay it on: ``task_id`` or the same)."""
    if recording.run.task_id is None:
        raise ReplayError(f"run {recording.run.id} was not recorded for a task; there is nothing to set up")
    _, source = find_task(recording.run.task_id)
    if task_id is None:
        return source, source
    _, target = find_task(task_id)
    if target.family != source.family:
        raise ReplayError(
            f"run {recording.run.id} solved a {source.family} task; {task_id} is of family {target.family}"
        )
    return source, target


def replay(
    store: TrajectoryStore,
    run_id: str,
    sandbox: Sandbox,
    *,
    task_id: str | None = None,
    fallback: Policy | None = None,
    move_window: bool = False,
    settle_s: float = 1.0,
    wait_s: float = DEFAULT_WAIT_S,
    require_verified: bool = True,
    control: AgentControl | None = None,
    on_step: Callable[[StepEvent], None] | None = None,
) -> ReplayResult:
    """Replay run ``run_id`` on ``sandbox`` for its task (or ``task_id`` of the same family).

    Sets the task up, optionally moves and resizes the window, plays the recording through the
    agent loop (so the replay is itself recorded in ``store``), validates and stores the verdict.
    """
    t0 = time.monotonic()
    recording = load_recording(store, run_id, require_verified=require_verified)
    source, task = target_task(recording, task_id)
    params = ParamMap(source.params, task.params) if task.id != source.id else None
    policy = ReplayPolicy(
        recording.steps, sandbox, params=params, fallback=fallback, wait_s=wait_s, source_run=run_id
    )
    agent = Agent(
        policy, sandbox, store=store, config=AgentConfig(max_steps=task.max_steps, settle_s=settle_s),
        control=control, on_step=on_step,
    )  # fmt: skip
    moved: list[WindowChange] = []

    def prepare(box: Sandbox, obs: Observation) -> Observation:
        if not move_window:
            return obs
        moved.append(move_and_resize_window(box))
        return box.observe()

    outcome = run_episode(
        agent, task=task, source=RunSource.REPLAY, prepare=prepare,
        extra={"replay_of": run_id, "moved_window": move_window},
    )  # fmt: skip
    verdict = outcome.verdict
    assert verdict is not None  # a task episode is always validated
    return ReplayResult(
        run_id, task.id, outcome.run_id, verdict.passed, outcome.status.value, policy.stats,
        moved[0] if moved else None, time.monotonic() - t0, list(verdict.reasons),
    )  # fmt: skip
