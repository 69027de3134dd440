"""Evaluation: run a suite of tasks with a policy in a sandbox pool, record and score every episode.

Each episode: the pool hands out a sandbox reset for the task's application and setup, and
``cua.episode`` does the rest (the task's post-launch setup, the agent loop with the task's step
budget recording every step as an ``eval`` run, the validator, the critic's stored verdict,
memory settle). The report groups episodes by application and by difficulty with a 95 % Wilson
interval on the success rate. Success means the validator passed, whatever the agent claimed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cua.agent import Agent, AgentConfig, AgentControl
from cua.episode import run_episode
from cua.errors import CuaError
from cua.policy import Policy
from cua.store import RunSource, TrajectoryStore
from cua.tasks import TaskSpec, builtin_families, load_path
from cua.tasks.builtin import is_task_path
from sandbox.base import Sandbox
from sandbox.pool import Job, Pool, SandboxPool

#: Heavy applications, left out by ``--no-slow``.
SLOW_APPS = frozenset({"libreoffice-calc", "chromium"})

PolicyFactory = Callable[[TaskSpec, Sandbox, int], Policy]
"""Builds the policy for one episode: (task, its sandbox, episode seed) -> policy."""

MemoryFactory = Callable[[TaskSpec], Any]
"""Builds the memory hook of one episode (e.g. ``cua.memory.ExperienceMemory``); it must never
retrieve runs of the task itself nor of held-out families. ``outcome(passed)`` is called on it
after validation, so that what it showed is credited or blamed."""


def select_tasks(
    suite: str = "all", *, instances: int | None = None, include_slow: bool = True
) -> list[TaskSpec]:
    """Return the tasks of a suite: built-in ('all', 'train', 'eval', an app, a family id) or a path.

    A path is a task file or a folder of task files: the suite is every task in it.
    ``instances`` caps the tasks taken from each family (the first ones, which are fixed).
    """
    families = builtin_families()
    if suite in ("all", "builtin"):
        chosen = list(families)
    elif suite in ("train", "eval"):
        chosen = [f for f in families if f.split == suite]
    else:
        chosen = [f for f in families if f.app == suite or f.id == suite]
        if not chosen and is_task_path(suite):
            chosen = load_path(suite)
        elif not chosen:
            apps = sorted({f.app for f in families})
            raise CuaError(
                f"unknown suite {suite!r}: use all, train, eval, an application ({', '.join(apps)}), "
                "a family id (`cua tasks list`), or a task file or folder of task files"
            )
    if not include_slow:
        chosen = [f for f in chosen if f.app not in SLOW_APPS]
    tasks = []
    for family in chosen:
        family_tasks = family.tasks()
        tasks.extend(family_tasks[:instances] if instances else family_tasks)
    return tasks


@dataclass(frozen=True)
class Episode:
    """One evaluated episode."""

    task: str
    family: str
    app: str
    difficulty: int
    split: str
    run_id: str | None
    status: str
    """How the agent loop ended (success means the agent said done)."""
    passed: bool
    """What the validator said: the episode's real outcome."""
    score: float
    steps: int
    wall_s: float
    error: str | None = None


@dataclass(frozen=True)
class Group:
    """Success statistics of a group of episodes."""

    name: str
    episodes: int
    successes: int
    rate: float
    ci95: tuple[float, float]
    mean_steps: float
    mean_wall_s: float


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Return the Wilson score interval of a binomial proportion (95 % by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def group(name: str, episodes: Sequence[Episode]) -> Group:
    """Summarise ``episodes`` under ``name``."""
    n = len(episodes)
    wins = sum(e.passed for e in episodes)
    lo, hi = wilson(wins, n)
    return Group(
        name,
        n,
        wins,
        wins / n if n else 0.0,
        (round(lo, 3), round(hi, 3)),
        sum(e.steps for e in episodes) / n if n else 0.0,
        sum(e.wall_s for e in episodes) / n if n else 0.0,
    )


@dataclass
class EvalReport:
    """Every episode and the tables by application and by difficulty."""

    suite: str
    policy: str
    episodes: list[Episode]
    wall_s: float
    pool_events: list[str] = field(default_factory=list)

    def by(self, key: Callable[[Episode], Any]) -> list[Group]:
        """Group the episodes by ``key`` (sorted)."""
        keys = sorted({key(e) for e in self.episodes})
        return [group(str(k), [e for e in self.episodes if key(e) == k]) for k in keys]

    @property
    def overall(self) -> Group:
        """Return the statistics over every episode."""
        return group("all", self.episodes)

    @property
    def episodes_per_min(self) -> float:
        """Return the throughput of the run."""
        return len(self.episodes) / self.wall_s * 60 if self.wall_s else 0.0

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "suite": self.suite,
            "policy": self.policy,
            "overall": asdict(self.overall),
            "by_app": [asdict(g) for g in self.by(lambda e: e.app)],
            "by_difficulty": [asdict(g) for g in self.by(lambda e: e.difficulty)],
            "episodes": [asdict(e) for e in self.episodes],
            "wall_s": round(self.wall_s, 2),
            "episodes_per_min": round(self.episodes_per_min, 2),
            "pool_events": self.pool_events,
        }

    def table(self) -> str:
        """Return the human-readable tables."""
        lines = [
            f"suite {self.suite}, policy {self.policy}: {len(self.episodes)} episodes in {self.wall_s:.1f} s"
        ]
        for title, groups in (
            ("application", self.by(lambda e: e.app)),
            ("difficulty", self.by(lambda e: e.difficulty)),
        ):
            lines.append(f"{title:18} {'n':>4} {'success':>8} {'95% CI':>15} {'steps':>6} {'wall s':>7}")
            for g in [*groups, self.overall]:
                ci = f"[{g.ci95[0]:.2f}, {g.ci95[1]:.2f}]"
                stats = f"{g.rate:8.0%} {ci:>15} {g.mean_steps:6.1f} {g.mean_wall_s:7.1f}"
                lines.append(f"{g.name:18} {g.episodes:4d} {stats}")
            lines.append("")
        errors = [e for e in self.episodes if e.error]
        if errors:
            lines.append(
                f"{len(errors)} episodes ended in an error, e.g. {errors[0].task}: {errors[0].error}"
            )
        return "\n".join(lines).rstrip()


def evaluate(
    tasks: Sequence[TaskSpec],
    make_policy: PolicyFactory,
    *,
    policy_name: str,
    suite: str = "custom",
    parallel: int = 1,
    store: TrajectoryStore | None = None,
    pool: Pool | None = None,
    settle_s: float = 1.0,
    seed: int = 0,
    on_episode: Callable[[Episode], None] | None = None,
    memory: MemoryFactory | None = None,
    control: AgentControl | None = None,
) -> EvalReport:
    """Run every task once with a fresh policy from ``make_policy``; return the report.

    ``pool`` is any ``Pool`` (a local ``SandboxPool``, a ``RayPool``), left open for its owner;
    without one, a local pool of ``parallel`` XvfbSandboxes is made and closed here.

    ``control`` (shared by the parallel episodes) pauses or cancels them all.
    """
    own_pool = pool is None
    pool = pool or SandboxPool(parallel)
    t0 = time.monotonic()

    def episode(sandbox: Sandbox, payload: tuple[int, TaskSpec]) -> Episode:
        index, task = payload
        started = time.monotonic()
        agent = Agent(
            make_policy(task, sandbox, seed + index),
            sandbox,
            store=store,
            config=AgentConfig(max_steps=task.max_steps, settle_s=settle_s),
            memory=memory(task) if memory is not None else None,
            control=control,
        )
        out = run_episode(
            agent, task=task, first=sandbox.observe(), source=RunSource.EVAL, seed=seed + index,
            extra={"suite": suite, "policy": policy_name, "split": task.split},
        )  # fmt: skip
        assert out.verdict is not None  # a task episode is always validated
        ep = Episode(
            task.id, task.family, task.app, task.difficulty, task.split, out.run_id, out.status.value,
            out.verdict.passed, out.verdict.score, out.steps, time.monotonic() - started,
            out.summary if out.status.value == "error" else None,
        )  # fmt: skip
        if on_episode is not None:
            on_episode(ep)
        return ep

    jobs = []
    for index, task in enumerate(tasks):
        pre, args = task.sandbox_setup()
        jobs.append(Job(task.app, (index, task), setup=pre, app_args=args))
    try:
        results = pool.map(episode, jobs, retries=1)
    finally:
        events = [
            f"{e.kind} slot {e.slot}: {e.detail}" for e in pool.events if e.kind not in ("reset", "created")
        ]
        if own_pool:
            pool.close()
    episodes: list[Episode] = []
    for (_, task), res in zip((j.payload for j in jobs), results, strict=True):
        if res.ok and res.value is not None:
            episodes.append(res.value)
        else:
            ep = Episode(task.id, task.family, task.app, task.difficulty, task.split, None, "error",
                         False, 0.0, 0, 0.0, f"{type(res.error).__name__}: {res.error}")  # fmt: skip
            episodes.append(ep)
            if on_episode is not None:
                on_episode(ep)
    return EvalReport(suite, policy_name, episodes, time.monotonic() - t0, events)
