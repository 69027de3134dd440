"""``cua explore``: seed state → walk → candidates → admission → attempts, in parallel sandboxes.

An application without an accessibility tree whose profile runs a shell (xterm) is walked by
typed commands instead (``cua.synth.shell``: the shell's own command list, usage from
``--help``, names read off the screen by OCR); candidates and admission are the same.

Each walk also draws ``templates`` parametric template tasks from its start state
(``cua.synth.templates``): admitted unproven, proven by the first attempt that passes.

After each walk a worker attempts ``attempts`` admitted tasks, chosen by the curriculum
(``cua.explore.curriculum``) from the success per task kind, with the exploration's policy
(``match`` by default; any policy the options build): each attempt is a recorded episode
(source ``explore``) judged by the task's validator and the critic, and counted per kind.

Walk ``n`` of an exploration always starts from the same seed state and draws the same random
numbers (both come from the exploration's seed and ``n``), so a resumed exploration does not
repeat or skip work: walks already recorded are skipped, walks that were in flight when the
process died are run again. Admitted tasks are written as task files under
``<data dir>/synth/<app>/`` (``cua tasks show FILE``, ``cua eval --suite DIR`` read them) and
listed in ``explore.sqlite`` with every rejection and its reason.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cua.agent import Agent, AgentConfig
from cua.episode import run_episode
from cua.errors import UsageError
from cua.explore.curriculum import Attempt, TaskChoice, choose
from cua.explore.db import MEMORY, ROUND, ExploreDB
from cua.explore.rounds import RoundSettings, current_checkpoint, learning_round
from cua.memory.admission import admit as admit_runs
from cua.memory.index import ExperienceIndex
from cua.models.embed import ENCODERS, TextEncoder, make_encoder
from cua.policies.match import MatchPolicy
from cua.policies.registry import BUNDLED, PolicyFactory, policy_factory
from cua.store import RunSource, StoreError, TrajectoryStore
from cua.synth.admit import RANDOM_ACTIONS, admit
from cua.synth.compose import PER_WALK, compose
from cua.synth.derive import derive
from cua.synth.seeds import seed_task
from cua.synth.shell import STABLE_S as SHELL_STABLE_S
from cua.synth.shell import random_commands, route, shell_walk, vocabulary
from cua.synth.templates import PER_WALK as TEMPLATES_PER_WALK
from cua.synth.templates import is_template, templates
from cua.synth.walk import Novelty, Walk, walk
from cua.synth.words import words
from cua.tasks.errors import OracleFailed, TaskError
from cua.tasks.nearmiss import STABLE_S
from cua.tasks.runner import start, volatile_paths
from cua.tasks.spec import load_file
from sandbox.base import Sandbox
from sandbox.errors import SandboxError
from sandbox.profile import find_profile

log = logging.getLogger(__name__)

#: Moves per walk: a chain is at most this long (the issue: chains of 2 to 6 steps).
MOVES_PER_WALK = 6


@dataclass(frozen=True)
class ExploreSettings:
    """What an exploration does; the same settings resume the same exploration."""

    app: str
    seed: int = 0
    episodes: int | None = 20
    hours: float | None = None
    parallel: int = 1
    moves: int = MOVES_PER_WALK
    random_actions: int = RANDOM_ACTIONS
    gui_near_misses: bool = True
    composed: int = PER_WALK
    """Goal-level candidates composed per walk (``cua.synth.compose``; 0: none)."""
    templates: int = TEMPLATES_PER_WALK
    """Template tasks drawn per walk (``cua.synth.templates``; 0: none): admitted unproven, proven
    by the first attempt that passes."""
    attempts: int = 2
    """Attempts at admitted tasks after each walk (0: explore and admit only)."""
    policy: str = "match"
    """The name of the attempting policy (for the records; the factory builds it)."""
    disk_mb: float | None = None
    """Stop starting walks once the data directory holds more than this many MB (None: no limit)."""
    memory: bool = True
    """Admit each judged attempt to the experience memory as it ends (a verified success, or a
    failure as a pitfall), so the memory grows during the exploration."""
    train_every: int | None = None
    """Run a learning round (``cua.explore.rounds``) after every this many verified episodes: proven
    demonstrations of admitted tasks and attempts a validator passed (None: never)."""

    @property
    def exploration_id(self) -> str:
        """Return the exploration's id: the app, the seed and the walk shape."""
        return f"{self.app}.seed{self.seed}.m{self.moves}"

    def as_dict(self) -> dict[str, Any]:
        """Return the settings that define the exploration (budgets excluded: they may change)."""
        return {
            "app": self.app,
            "seed": self.seed,
            "moves": self.moves,
            "random_actions": self.random_actions,
        }


@dataclass
class WalkResult:
    """One finished walk, as reported to the progress callback."""

    number: int
    moves: int
    candidates: int
    admitted: list[str] = field(default_factory=list)
    unproven: list[str] = field(default_factory=list)
    """The admitted template tasks among ``admitted`` (no demonstration yet)."""
    seconds: float = 0.0
    error: str = ""
    attempts: list[tuple[str, bool]] = field(default_factory=list)
    """(task id, success) of the attempts made after this walk."""


def disk_usage_mb(folder: Path) -> float:
    """Return the megabytes of the files under ``folder`` (the data directory: runs, tasks, state)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue  # removed while walking (a WAL checkpoint)
    return total / 1e6


def _note_proof(path: Path, run_id: str | None, policy: str, steps: int) -> None:
    """Write into a template task's file which attempt proved it (``provenance.proven_by``)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:  # the database holds the proof; the file only repeats it
        log.warning("%s: could not note its proof: %s", path, exc)
        return
    doc.setdefault("provenance", {})["proven_by"] = {"run": run_id, "policy": policy, "steps": steps}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    tmp.replace(path)


def _text_pool(rng: random.Random) -> str:
    """Text a walk types: mostly a word from the word list, sometimes a number."""
    return words(rng, 1)[0] if rng.random() < 0.65 else str(rng.randint(0, 999))


class Explorer:
    """Runs one exploration over ``parallel`` sandboxes made by ``make_sandbox``."""

    def __init__(
        self,
        settings: ExploreSettings,
        data_dir: Path,
        make_sandbox: Callable[[], Sandbox],
        progress: Callable[[WalkResult, dict[str, Any]], None] | None = None,
        make_policy: PolicyFactory | None = None,
    ) -> None:
        """Open the exploration's database in ``data_dir`` (created when needed).

        ``make_policy`` builds the attempting policy per episode (default: the ``match`` baseline).
        """
        if settings.episodes is None and settings.hours is None:
            raise ValueError("an exploration needs a budget: --episodes N or --hours H")
        if settings.parallel < 1:
            raise ValueError(f"--parallel must be at least 1, got {settings.parallel}")
        self.settings = settings
        self.data_dir = data_dir
        self.tasks_dir = data_dir / "synth" / settings.app
        self.db = ExploreDB(data_dir / "explore.sqlite")
        self.make_sandbox = make_sandbox
        self.progress = progress
        self.make_policy = make_policy or (lambda task, sandbox, seed: MatchPolicy(sandbox))
        self.store = TrajectoryStore(data_dir) if settings.attempts else None
        self.novelty = Novelty()
        self._lock = threading.Lock()
        self._next = 0
        self._done: set[int] = set()
        self._stop = threading.Event()
        self._deadline = float("inf")
        self.resumed = False
        self.lost_on_resume: list[int] = []
        self.budget_spent = ""
        """Which budget other than walks or time ended the exploration (disk), when one did."""
        self.round_settings = RoundSettings()
        """How the learning rounds of ``settings.train_every`` run."""
        self.rounds: list[dict[str, Any]] = []
        """The report of every learning round this run made, in order."""
        self._verified = 0
        self._verified_at_last_round = 0
        self._learning = threading.Lock()
        self._memory: tuple[ExperienceIndex, TextEncoder] | None = None
        self._memory_lock = threading.Lock()

    @property
    def exploration_id(self) -> str:
        """Return the exploration's id."""
        return self.settings.exploration_id

    def stop(self) -> None:
        """Ask the workers to finish their walk in flight and stop."""
        self._stop.set()

    def _claim(self) -> int | None:
        with self._lock:
            if self._stop.is_set() or time.monotonic() >= self._deadline:
                return None
            if self.settings.disk_mb is not None:
                used = disk_usage_mb(self.data_dir)
                if used > self.settings.disk_mb:
                    self.budget_spent = f"disk: {used:.1f} MB used, budget {self.settings.disk_mb:g} MB"
                    return None
            while self._next in self._done:
                self._next += 1
            if self.settings.episodes is not None and self._next >= self.settings.episodes:
                return None
            number = self._next
            self._next += 1
            return number

    def run(self) -> dict[str, Any]:
        """Explore until the budget is spent; return the exploration's summary."""
        s = self.settings
        self.resumed = self.db.open_exploration(self.exploration_id, s.app, s.as_dict())
        self._done = self.db.done_walks(self.exploration_id)
        self.lost_on_resume = self.db.lost_walks(self.exploration_id) if self.resumed else []
        if s.hours is not None:
            self._deadline = time.monotonic() + s.hours * 3600
        self.tasks_dir.mkdir(parents=True, exist_ok=True)
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=self._worker, args=(errors,), name=f"explore-{i}", daemon=True)
            for i in range(s.parallel)
        ]
        status = "finished"
        try:
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.5)
        except KeyboardInterrupt:
            self._stop.set()
            status = "stopped"
            for t in threads:
                t.join()
        if errors:
            status = "failed"
        elif self._stop.is_set():
            status = "stopped"
        self.db.set_status(self.exploration_id, status)
        if self.store is not None:
            self.store.close()
        if self._memory is not None:
            self._memory[0].close()
            self._memory = None
        summary = self.db.summary(self.exploration_id)
        summary["status"] = status
        summary["resumed"] = self.resumed
        summary["disk_mb"] = round(disk_usage_mb(self.data_dir), 2)
        if self.budget_spent:
            summary["budget_spent"] = self.budget_spent
        summary["lost_walks_resumed"] = self.lost_on_resume
        if self.rounds:
            summary["learning_rounds"] = [
                {"model": r["model_id"], "promoted": r["promoted"], "reason": r["decision"].get("reason", "")}
                for r in self.rounds
            ]
        if errors:
            summary["error"] = f"{type(errors[0]).__name__}: {errors[0]}"
        return summary

    def _worker(self, errors: list[BaseException]) -> None:
        """Claim and run walks until the budget is spent.

        A sandbox that dies (the application or the guest crashed, a request timed out) costs
        the walk in flight, recorded with its cause, and the worker goes on in a new sandbox;
        anything else is a defect and ends the exploration, reported.
        """
        sandbox: Sandbox | None = None
        try:
            while True:
                number = self._claim()
                if number is None:
                    return
                self.db.claim(self.exploration_id, number)
                if sandbox is None:
                    sandbox = self.make_sandbox()
                t0 = time.monotonic()
                try:
                    result = self.episode(sandbox, number)
                    if self.settings.attempts and not self._stop.is_set():
                        result.attempts = self.attempt(sandbox, number)
                    proven = len(result.admitted) - len(result.unproven)
                    self._maybe_learn(proven + sum(ok for _, ok in result.attempts))
                except (SandboxError, TaskError, OracleFailed) as exc:
                    result = WalkResult(number, 0, 0, seconds=time.monotonic() - t0)
                    result.error = f"walk {number}: {type(exc).__name__}: {exc}"
                    if not self.db.done_walks(self.exploration_id) >= {number}:
                        self.db.record_walk(self.exploration_id, number, self.settings.seed, [], result.error,
                                            result.seconds, [], [])  # fmt: skip
                    log.warning("%s; going on in a new sandbox", result.error)
                    sandbox.close()
                    sandbox = None
                if self.progress is not None:
                    self.progress(result, self.db.summary(self.exploration_id))
        except BaseException as exc:  # a defect ends the exploration, reported, not lost
            errors.append(exc)
            self._stop.set()
        finally:
            if sandbox is not None:
                sandbox.close()

    def _maybe_learn(self, verified: int) -> None:
        """Count verified episodes; run a learning round each time ``train_every`` more have come.

        One round at a time (the other workers go on exploring). Its gate decision is logged with
        the curriculum's; when the candidate is promoted and the attempts use the bundled policy,
        later attempts use the new checkpoint.
        """
        s = self.settings
        if not s.train_every:
            return
        with self._lock:
            self._verified += verified
            if self._verified - self._verified_at_last_round < s.train_every:
                return
            self._verified_at_last_round = self._verified
        with self._learning:
            try:
                report = learning_round(self.data_dir, self.make_sandbox, self.round_settings)
            except UsageError as exc:  # nothing to learn from yet: said, and the exploration goes on
                self.db.record_decision(self.exploration_id, ROUND, "skipped", {"reason": str(exc)})
                self.rounds.append({"model_id": None, "promoted": False, "decision": {"reason": str(exc)}})
                return
            figures = {
                **report.decision,
                "model": report.model_id,
                "rows": report.rows,
                "parent": report.parent,
            }
            self.db.record_decision(
                self.exploration_id, ROUND, "promoted" if report.promoted else "kept", figures
            )
            self.rounds.append(report.as_dict())
            if report.promoted and s.policy == BUNDLED:
                self.make_policy = policy_factory(BUNDLED, bundled=current_checkpoint(self.data_dir)[0])

    def episode(self, sandbox: Sandbox, number: int) -> WalkResult:
        """Run walk ``number``: seed, walk, derive, admit; record it all at once.

        A broken sandbox raises (SandboxError, TaskError): the worker records the lost walk.
        """
        s = self.settings
        t0 = time.monotonic()
        rng = random.Random(f"{s.seed}:{s.app}:{number}")
        seed = seed_task(s.app, rng, number)
        result = WalkResult(number, 0, 0)
        start(sandbox, seed)
        provenance: dict[str, Any] = {"exploration": self.exploration_id, "walk": number}
        w: Walk
        random_move, stable_s = None, STABLE_S
        shell = route(find_profile(s.app))[0] == "shell"
        if shell:  # no tree: commands typed, names read by OCR
            vocab = vocabulary(sandbox)
            w = shell_walk(
                sandbox, volatile_paths(seed), rng, moves=s.moves, novelty=self.novelty, vocab=vocab
            )
            random_move, stable_s = random_commands(vocab, w.start), SHELL_STABLE_S
            provenance["names_read"] = dict(w.names)
        else:
            w = walk(
                sandbox, volatile_paths(seed), rng, moves=s.moves, novelty=self.novelty, text_pool=_text_pool
            )
        candidates = (
            derive(w, s.app, seed.setup, provenance)
            + compose(w, s.app, seed.setup, provenance, rng, s.composed, shell=shell)
            + templates(w.start, s.app, seed.setup, provenance, rng, s.templates, shell=shell)
        )
        report = admit(
            sandbox,
            candidates,
            rng,
            known=self.db.known_validators(s.app),
            random_actions=s.random_actions,
            gui_near_misses=s.gui_near_misses,
            random_move=random_move,
            stable_s=stable_s,
        )
        rows, tasks = [], []
        for d in report.decisions:
            doc = d.candidate.document
            row = {
                "kind": d.candidate.kind,
                "validator_key": d.candidate.validator_key,
                "instruction": str(doc.get("instruction", "")),
                "admitted": d.admitted,
                "reason": d.reason,
                "reason_kind": d.reason_kind if not d.admitted else "",
                "chain": len(d.candidate.moves),
                "seconds": round(d.seconds, 2),
            }
            template = is_template(doc)
            if d.admitted:
                path = self.tasks_dir / f"{doc['id']}.yaml"
                doc = {**doc, "provenance": {**doc.get("provenance", {}), "near_misses": d.near_misses}}
                path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
                if d.end_screen is not None:
                    shot = d.end_screen.copy()
                    shot.thumbnail((640, 400))
                    shot.save(path.with_suffix(".png"))
                row["task_id"] = doc["id"]
                tasks.append(
                    {
                        "id": doc["id"],
                        "app": s.app,
                        "kind": d.candidate.kind,
                        "validator_key": d.candidate.validator_key,
                        "instruction": row["instruction"],
                        "path": str(path),
                        "chain": row["chain"],
                        "proven": d.proven,
                        "generated": "template" if template else "walk",
                    }
                )
                result.admitted.append(doc["id"])
                if not d.proven:
                    result.unproven.append(doc["id"])
            rows.append(row)
        result.moves = len(w.moves)
        result.candidates = len(candidates)
        result.seconds = time.monotonic() - t0
        self.db.record_walk(
            self.exploration_id,
            number,
            s.seed,
            [m.label for m in w.moves],
            w.ended,
            result.seconds,
            rows,
            tasks,
        )
        return result

    def attempt(self, sandbox: Sandbox, number: int) -> list[tuple[str, bool]]:
        """Attempt the tasks the curriculum picks now; record each attempt and each decision."""
        s = self.settings
        rows = {t.id: t for t in self.db.tasks(s.app)}
        if s.policy == "oracle":  # replays a demonstration: a template has none
            rows = {k: t for k, t in rows.items() if t.generated != "template"}
        if not rows:
            return []
        history = [Attempt(task, kind, ok) for task, kind, ok, _ in self.db.attempts(s.app)]
        picks, decisions = choose(
            [TaskChoice(t.id, t.kind, t.chain) for t in rows.values()], history, s.attempts
        )
        for d in decisions:
            self.db.record_decision(self.exploration_id, d.kind, d.decision, {**d.figures(), "walk": number})
        out: list[tuple[str, bool]] = []
        for index, pick in enumerate(picks):
            row = rows[pick.task_id]
            task = load_file(Path(row.path))[0].instance(0)
            t0 = time.monotonic()
            agent = Agent(
                self.make_policy(task, sandbox, number * 100 + index),
                sandbox,
                store=self.store,
                config=AgentConfig(max_steps=task.max_steps),
            )
            try:
                outcome = run_episode(
                    agent, task=task, source=RunSource.EXPLORE, seed=number * 100 + index,
                    extra={"exploration": self.exploration_id, "policy": s.policy, "walk": number},
                )  # fmt: skip
            except (TaskError, SandboxError):
                # Counted as a failed attempt; the sandbox may be broken, so the worker replaces it.
                self.db.record_attempt(
                    self.exploration_id, row, s.policy, False, 0, time.monotonic() - t0, None
                )
                raise
            ok = bool(outcome.verdict is not None and outcome.verdict.passed)
            self.db.record_attempt(
                self.exploration_id, row, s.policy, ok, outcome.steps, time.monotonic() - t0, outcome.run_id
            )
            if ok and not row.proven and self.db.mark_proven(row.id, outcome.run_id, outcome.steps):
                _note_proof(Path(row.path), outcome.run_id, s.policy, outcome.steps)
            if s.memory and outcome.run_id is not None:
                self.remember(outcome.run_id, number)
            out.append((row.id, ok))
        return out

    def remember(self, run_id: str, walk: int) -> None:
        """Admit one judged attempt to the experience memory; log what happened and the memory's size.

        The same rules as ``cua memory build`` (a verified success, or a judged failure as a
        pitfall; a run a person took out stays out). Each admission is a decision of kind
        ``memory`` with the number of items after it: the report's memory growth.
        """
        assert self.store is not None  # attempts are recorded, so there is a store
        with self._memory_lock:
            try:
                if self._memory is None:
                    index = ExperienceIndex(ExperienceIndex.path_beside(self.data_dir))
                    name = index.encoder_name  # keep the encoder the memory was built with
                    self._memory = (index, make_encoder(name if name in ENCODERS else "static"))
                index, encoder = self._memory
                report = admit_runs(self.store, index, encoder, runs=[self.store.get_run(run_id)])
                items = index.count()
            except StoreError as exc:  # a broken memory costs the memory, not the exploration
                log.warning("memory: run %s not admitted: %s", run_id, exc)
                self.db.record_decision(
                    self.exploration_id, MEMORY, f"not admitted: {exc}", {"run": run_id, "walk": walk}
                )
                return
            if report.admitted or report.pitfalls:
                decision = "pitfall" if report.pitfalls else "success"
            elif report.already:
                decision = "already in memory"
            else:
                decision = ", ".join(report.skipped) or "not admitted"
            self.db.record_decision(
                self.exploration_id, MEMORY, decision,
                {"items": items, "run": run_id, "walk": walk, "merged": report.merged},
            )  # fmt: skip
