"""The facade that the CLI and the desktop app call: runs, evaluations, replays, records, memory.

Nothing here prints. Long operations report progress as plain-Python events (small frozen
dataclasses: the agent's ``StepEvent``, the episode's ``Phase``, and ``Notice``,
``EvalStarted``, ``EpisodeDone`` from here), either through an ``on_event`` callback or, for a
run, as a generator (``run_events``) that a GUI worker thread iterates; each accepts an
``AgentControl`` (pause, resume, cancel, take-over, questions) held by the caller's thread.

    service = Service(data_dir)
    outcome = service.run(RunRequest(policy, instruction="open the file menu", app="mousepad"),
                          control=AgentControl(interactive=True), on_event=print)

Sandboxes come from ``sandbox_factory`` (default: an ``XvfbSandbox`` sized for the
application's profile, or ``HostScreen`` with ``real_screen``); tests pass ``FakeSandbox``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from cua.agent import Agent, AgentConfig, AgentControl, SafetyGuard, StepEvent, drive
from cua.critic import Critic
from cua.critic import overrule as critic_overrule
from cua.episode import EpisodeEvent, EpisodeOutcome, Phase, episode_steps
from cua.errors import UsageError
from cua.eval.suite import Episode, EvalReport, evaluate, select_tasks
from cua.explore import ExploreDB, Explorer, ExploreSettings, TaskRow, WalkResult
from cua.explore.report import build as build_report
from cua.explore.report import memory_png, success_png
from cua.memory.admission import AdmissionConfig, admit
from cua.memory.index import ExperienceIndex, Item
from cua.memory.session import memory_hooks
from cua.policies.recall import RecallPolicy
from cua.policies.registry import BUNDLED, MODEL, check_policy_name, policy_factory
from cua.policies.replay import DEFAULT_WAIT_S, load_recording
from cua.policy import Policy, instruction_problem
from cua.replay import ReplayResult, replay
from cua.store import (
    Run,
    RunSource,
    RunStatus,
    Step,
    TrajectoryStore,
    Verdict,
    export_dataset,
    export_folder,
    export_html,
    resolve_data_dir,
)
from cua.tasks import TaskSpec, builtin_families, resolve_task
from sandbox.base import Sandbox
from sandbox.pool import Pool
from sandbox.profile import AppProfile


# -- events ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Notice:
    """A line of information for the person (what a terminal prints, what a status bar shows)."""

    text: str


@dataclass(frozen=True)
class EvalStarted:
    """An evaluation begins: how many episodes it will run."""

    tasks: int


@dataclass(frozen=True)
class EpisodeDone:
    """One evaluated episode finished (``done`` of ``total``)."""

    episode: Episode
    done: int
    total: int


ServiceEvent = StepEvent | Phase | Notice | EvalStarted | EpisodeDone
OnEvent = Callable[[ServiceEvent], None]
SandboxFactory = Callable[[str], Sandbox]
"""Builds the sandbox for an application profile name (not yet reset)."""


# -- requests and results -------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRequest:
    """One run: a task (its setup, instruction and validator) or a free instruction on an app."""

    policy: Policy | None = None
    """The policy that drives the run (a request without one can only be checked)."""
    instruction: str | None = None
    app: str | None = None
    task: TaskSpec | str | None = None
    """A TaskSpec, or what ``cua.tasks.resolve_task`` accepts (an id, a file, FILE#ID)."""
    max_steps: int | None = None
    """Step budget (default: the task's, else 15)."""
    history_screenshots: int = 2
    secrets: Mapping[str, str] = field(default_factory=dict)
    guard: SafetyGuard | None = None
    real_screen: bool = False
    """Act on the user's own display: no isolation (only when the person asked for it)."""
    critic: Critic | None = None
    """Who judges a free run (default: heuristics only); a task's validator decides a task run."""
    memory: str = "off"
    """Experience memory: on, off, or auto (on when the memory has items)."""
    encoder: str = "static"
    key_screenshots: int = 0


@dataclass(frozen=True)
class RunDetail:
    """A recorded run with its steps and every verdict."""

    run: Run
    steps: list[Step]
    verdicts: list[Verdict]


@dataclass(frozen=True)
class MemoryMatch:
    """What a run would be shown for an instruction: ranked items, and the prompt text."""

    positives: list[tuple[Item, float, float, float]]
    """(item, similarity, utility, score), best first."""
    pitfalls: list[tuple[Item, float, float, float]]
    text: str | None


# -- the service ----------------------------------------------------------------------------------
class Service:
    """Everything a front end does, over one data directory (None: ``$CUA_DATA_DIR`` or the default)."""

    def __init__(
        self, data_dir: Path | None = None, *, sandbox_factory: SandboxFactory | None = None
    ) -> None:
        self.data_dir = data_dir
        self.sandbox_factory = sandbox_factory

    def store(self) -> TrajectoryStore:
        """Open the trajectory store (a context manager; close it when done)."""
        return TrajectoryStore(self.data_dir)

    # -- running ------------------------------------------------------------------------------
    def run(
        self, request: RunRequest, *, control: AgentControl | None = None, on_event: OnEvent | None = None
    ) -> EpisodeOutcome:
        """Run one instruction or task in a fresh sandbox, recorded and judged; return the outcome."""
        return drive(self.run_events(request, control=control), on_event)

    def run_task(
        self, task: TaskSpec | str, policy: Policy, *, control: AgentControl | None = None,
        on_event: OnEvent | None = None, **options: Any,
    ) -> EpisodeOutcome:  # fmt: skip
        """Run ``task`` (a spec or an id, file, FILE#ID): its setup, instruction and validator."""
        return self.run(RunRequest(policy=policy, task=task, **options), control=control, on_event=on_event)

    def run_instruction(
        self, instruction: str, app: str, policy: Policy, *, control: AgentControl | None = None,
        on_event: OnEvent | None = None, **options: Any,
    ) -> EpisodeOutcome:  # fmt: skip
        """Run a free instruction on ``app``, judged by the request's critic."""
        request = RunRequest(policy=policy, instruction=instruction, app=app, **options)
        return self.run(request, control=control, on_event=on_event)

    def run_events(
        self, request: RunRequest, *, control: AgentControl | None = None
    ) -> Generator[ServiceEvent, None, EpisodeOutcome]:
        """Run as :meth:`run` does, yielding each event; the generator returns the outcome.

        Checks the request before anything starts (UsageError says what is wrong).
        """
        task, instruction, app, steps = self.check(request)
        if request.policy is None:
            raise UsageError("a run needs a policy")
        policy = request.policy
        sandbox, app_arg = self._sandbox(app, request.real_screen)
        name = app_arg.name if isinstance(app_arg, AppProfile) else app_arg
        with self.store() as store, sandbox as sb:
            memory = memory_hooks(request.memory, store, encoder=request.encoder,
                                  key_screenshots=request.key_screenshots)  # fmt: skip
            with memory as open_hook:
                # Unlike an evaluation, a run may be shown earlier runs of its own task: that is the point.
                hook = open_hook(name, None) if open_hook is not None else None
                if hook is not None:
                    where = f"{hook.index.count()} items in {hook.index.path}"
                    yield Notice(f"memory: {where} (--memory off to run without)")
                screen = "on your screen" if request.real_screen else "in a sandbox"
                yield Notice(f"starting {name} {screen} ...")
                config = AgentConfig(max_steps=steps, history_screenshots=request.history_screenshots)
                if hook is not None and policy.name == BUNDLED:  # it reads no prose: memory hands over
                    policy = RecallPolicy(policy, sb, store)
                agent = Agent(policy, sb, store=store, config=config, guard=request.guard,
                              memory=hook, control=control)  # fmt: skip
                episode: Generator[EpisodeEvent, None, EpisodeOutcome] = episode_steps(
                    agent, task=task, instruction=instruction, app=app_arg, source=RunSource.RUN,
                    critic=request.critic, secrets=request.secrets,
                )  # fmt: skip
                outcome = yield from episode
        return outcome

    def check(self, request: RunRequest) -> tuple[TaskSpec | None, str, str, int]:
        """Return (task, instruction, app, step budget) of a request; UsageError says what is wrong."""
        task = request.task
        instruction, app = request.instruction, request.app
        if isinstance(task, str):
            _, task = resolve_task(task)
        if task is not None:
            if instruction is not None:
                raise UsageError("give an INSTRUCTION or --task, not both")
            instruction, app = task.instruction, app or task.app
            if app != task.app:
                raise UsageError(f"task {task.id} runs on {task.app}, not {app}")
            if request.real_screen:
                raise UsageError(
                    "--task sets up files and processes; it runs in a sandbox, not with --real-screen"
                )
        if instruction is None or app is None:
            raise UsageError(
                'give an INSTRUCTION and --app APP (e.g. cua run "open the file menu" --app mousepad)'
            )
        problem = instruction_problem(instruction)
        if problem is not None:
            raise UsageError(problem)
        steps = request.max_steps if request.max_steps is not None else (task.max_steps if task else 15)
        if steps < 1:
            raise UsageError("--max-steps must be at least 1")
        return task, instruction, app, steps

    def _sandbox(self, app: str, real_screen: bool) -> tuple[Sandbox, str | AppProfile]:
        if self.sandbox_factory is not None:
            return self.sandbox_factory(app), app
        from sandbox import XvfbSandbox, find_profile
        from sandbox.host import HostScreen

        profile = find_profile(app)
        if real_screen:
            return HostScreen(consent=True), profile
        return XvfbSandbox(profile.screen), profile

    # -- evaluating ---------------------------------------------------------------------------
    def evaluate(
        self,
        suite: str | Sequence[TaskSpec],
        policy: str,
        *,
        model: Policy | Callable[[], Policy] | None = None,
        parallel: int = 2,
        instances: int | None = None,
        include_slow: bool = True,
        seed: int = 0,
        settle_s: float = 1.0,
        memory: str = "off",
        encoder: str = "static",
        key_screenshots: int = 0,
        pool: Pool | None = None,
        control: AgentControl | None = None,
        on_event: OnEvent | None = None,
    ) -> EvalReport:
        """Evaluate ``policy`` (oracle, noop, random, or model: ``model``) on a suite; return the report.

        ``model`` may be a function that builds it, called once the arguments check out.

        ``suite`` is what ``select_tasks`` accepts, or the tasks themselves. Memory, when on, never
        shows the evaluated task's own runs nor the held-out families.
        """
        check_policy_name(policy)
        if parallel < 1:
            raise UsageError("--parallel must be at least 1")
        label = suite if isinstance(suite, str) else "custom"
        if isinstance(suite, str):
            tasks = select_tasks(suite, instances=instances, include_slow=include_slow)
        else:
            tasks = list(suite)
        if not tasks:
            raise UsageError(f"suite {label!r} has no tasks with these options")
        if policy == MODEL and model is None:
            raise UsageError("--policy model needs a model: --model DIR or --endpoint URL --model-name NAME")
        built: Policy | None = None
        if policy == MODEL and model is not None:
            built = model() if callable(model) and not hasattr(model, "act") else model  # type: ignore[assignment]
        factory = policy_factory(policy, built, bundled=self._bundled() if policy == BUNDLED else None)
        emit = on_event or (lambda event: None)
        held_out = frozenset(f.id for f in builtin_families() if f.split == "eval")
        hooks = partial(
            memory_hooks, memory, encoder=encoder, key_screenshots=key_screenshots, held_out=held_out
        )
        with self.store() as store, hooks(store) as open_hook:
            memory_factory = None
            if open_hook is not None:
                hook_of = open_hook

                def memory_factory(task: TaskSpec) -> Any:
                    return hook_of(task.app, task.id)

                if policy == BUNDLED:  # it reads no prose: the memory reaches it through the hand-over
                    bundled_factory = factory

                    def factory(task: TaskSpec, sandbox: Sandbox, seed: int) -> Policy:
                        return RecallPolicy(bundled_factory(task, sandbox, seed), sandbox, store)

                emit(Notice(
                    f"memory on: {store.data_dir / 'memory'}; the evaluated task's own runs and the "
                    f"{len(held_out)} held-out families are never retrieved"
                ))  # fmt: skip
            emit(EvalStarted(len(tasks)))
            done = [0]
            lock = threading.Lock()

            def finished(ep: Episode) -> None:
                with lock:
                    done[0] += 1
                    emit(EpisodeDone(ep, done[0], len(tasks)))

            return evaluate(
                tasks, factory, policy_name=policy, suite=label, parallel=parallel, store=store, pool=pool,
                settle_s=settle_s, seed=seed, on_episode=finished, memory=memory_factory, control=control,
            )  # fmt: skip

    # -- replaying ----------------------------------------------------------------------------
    def replay(
        self,
        run_id: str,
        *,
        task_id: str | None = None,
        fallback: Policy | None = None,
        move_window: bool = False,
        require_verified: bool = True,
        wait_s: float = DEFAULT_WAIT_S,
        control: AgentControl | None = None,
        on_event: OnEvent | None = None,
    ) -> ReplayResult:
        """Replay a verified run on a fresh sandbox (recorded as a ``replay`` run); return the result."""
        with self.store() as store:
            recording = load_recording(store, run_id, require_verified=require_verified)  # before a sandbox
            if self.sandbox_factory is not None:
                sandbox = self.sandbox_factory(recording.run.app)
            else:
                from sandbox.xvfb import XvfbSandbox

                sandbox = XvfbSandbox()
            with sandbox as sb:
                return replay(
                    store, run_id, sb, task_id=task_id, fallback=fallback, move_window=move_window,
                    require_verified=require_verified, wait_s=wait_s, control=control, on_step=on_event,
                )  # fmt: skip

    # -- records ------------------------------------------------------------------------------
    def list_runs(self, **filters: Any) -> list[Run]:
        """Return runs, newest first; ``filters`` as in ``TrajectoryStore.list_runs`` (status, app...)."""
        with self.store() as store:
            return store.list_runs(**filters)

    def show_run(self, run_id: str) -> RunDetail:
        """Return a run with its steps and verdicts."""
        with self.store() as store:
            return RunDetail(store.get_run(run_id), store.steps(run_id), store.verdicts(run_id))

    def export_runs(self, run_ids: Sequence[str], dest: Path, *, kind: str = "folder") -> Path:
        """Export runs: ``html`` (one run, one page), ``folder`` (JSONL and images) or ``dataset``."""
        with self.store() as store:
            if kind == "html":
                if len(run_ids) != 1:
                    raise UsageError("an HTML export holds one run: give exactly one run id")
                return export_html(store, run_ids[0], dest)
            if kind == "folder":
                return export_folder(store, run_ids, dest)
            if kind == "dataset":
                return export_dataset(store, run_ids, dest)
        raise UsageError(f"export kind is html, folder or dataset, not {kind!r}")

    def overrule(self, run_id: str, success: bool | None, reason: str) -> Verdict:
        """Record a person's verdict on a run (it becomes the run's current verdict)."""
        with self.store() as store:
            return critic_overrule(store, run_id, success, reason)

    def delete_run(self, run_id: str) -> None:
        """Delete a run and the screenshots no other run uses."""
        with self.store() as store:
            store.delete_run(run_id)

    # -- memory -------------------------------------------------------------------------------
    def _index(self) -> AbstractContextManager[ExperienceIndex]:

        return ExperienceIndex.beside(resolve_data_dir(self.data_dir))

    def memory_build(
        self, *, include_oracle: bool = False, capacity: int = 50_000, pitfall_capacity: int = 10_000,
        encoder: str = "static",
    ) -> dict[str, Any]:  # fmt: skip
        """Admit the store's verified runs into memory; return the admission report as JSON data."""
        from cua.models.embed import make_encoder

        text_encoder = make_encoder(encoder)
        with self.store() as store, self._index() as index:
            report = admit(
                store, index, text_encoder, AdmissionConfig(include_oracle, capacity, pitfall_capacity)
            )
            where = {"items": index.count(), "index": str(index.path), "encoder": index.encoder_name}
            return {**report.to_json(), **where}

    def memory_admit_run(self, run_id: str, *, include_oracle: bool = False, encoder: str = "static") -> str:
        """Admit one recorded run into memory (a person's request); return what happened, in words.

        Only a verified success or a failure qualifies, as in ``memory_build``; an earlier
        ``memory_forget_run`` of the run is lifted.
        """
        from cua.memory.admission import admit_run
        from cua.models.embed import make_encoder

        with self.store() as store, self._index() as index:
            return admit_run(store, index, make_encoder(encoder), run_id, include_oracle=include_oracle)

    def memory_forget_run(self, run_id: str, reason: str) -> str:
        """Take one run out of memory, for good (``memory_build`` skips it); return what happened."""
        if not reason.strip():
            raise UsageError("say why the run is taken out of memory: a reason is required")
        with self.store() as store:
            store.get_run(run_id)  # an unknown run id fails here, named
        with self._index() as index:
            item = index.item_of_run(run_id)
            index.exclude_run(run_id, reason)
            left = item is not None and bool(index.items([item]))
        if item is None:
            return "taken out of memory: it was not in memory, and builds will now skip it"
        if left:
            return f"taken out of memory: item {item} stays, supported by other runs"
        return f"taken out of memory: item {item} deleted (this run alone supported it)"

    def memory_state(self, run_id: str) -> str:
        """Return where a run stands with memory, in words (for a review screen)."""
        if not ExperienceIndex.path_beside(resolve_data_dir(self.data_dir)).exists():
            return "not in memory (no memory built yet)"
        with self._index() as index:
            excluded = index.excluded_runs().get(run_id)
            if excluded is not None:
                return f"taken out of memory ({excluded})"
            item = index.item_of_run(run_id)
            if item is None:
                return "not in memory"
            found = index.items([item])
            kind = found[0].kind if found else "?"
            return f"in memory: {kind} item {item}"

    def memory_items(self, *, kind: str | None = None, limit: int = 50) -> list[Item]:
        """Return memory items, best utility first (``kind``: success or pitfall)."""
        if kind not in (None, "success", "pitfall"):
            raise UsageError(f"kind must be 'success' or 'pitfall', not {kind!r}")
        with self._index() as index:
            return index.items(kind=kind, limit=limit)  # type: ignore[arg-type]

    def memory_query(
        self, instruction: str, *, app: str | None = None, top: int = 5, budget_tokens: int = 400,
        encoder: str = "static",
    ) -> MemoryMatch:  # fmt: skip
        """Return what a run of ``instruction`` would be shown (without a screen)."""
        from cua.memory.hook import ExperienceMemory, MemoryConfig
        from cua.memory.render import render
        from cua.models.embed import make_encoder

        with self._index() as index:
            config = MemoryConfig(top_k=top, budget_tokens=budget_tokens)
            mem = ExperienceMemory(index, make_encoder(encoder), app=app, config=config)
            ranked = mem.search(instruction, None, app=app, limit=max(top, 1))
            hits = ranked.positives[:top] + ranked.pitfalls[: config.pitfalls]
            items = {it.id: it for it in index.items([h.item_id for h in hits])}

            def rows(found: Sequence[Any]) -> list[tuple[Item, float, float, float]]:
                return [
                    (items[h.item_id], h.similarity, h.utility, h.score) for h in found if h.item_id in items
                ]

            text = render(
                [(items[h.item_id], 0) for h in ranked.positives[: config.top_k] if h.item_id in items],
                [items[h.item_id] for h in ranked.pitfalls[: config.pitfalls] if h.item_id in items],
                budget_tokens,
            )
            return MemoryMatch(rows(ranked.positives[:top]), rows(ranked.pitfalls[: config.pitfalls]), text)

    # -- exploring ------------------------------------------------------------------------------
    def explore(
        self,
        settings: ExploreSettings,
        *,
        progress: Callable[[WalkResult, dict[str, Any]], None] | None = None,
        explorer: list[Explorer] | None = None,
        model: Policy | None = None,
    ) -> dict[str, Any]:
        """Run (or resume) an exploration until its budget is spent; return its summary.

        ``explorer``: a list the running ``Explorer`` is appended to, so a front end can call
        its ``stop()`` from another thread. ``settings.policy`` names the attempting policy
        (a baseline, or ``model`` with ``model`` built from the model options).
        """
        from cua.synth.shell import route
        from sandbox import find_profile

        profile = find_profile(settings.app)  # an unknown app fails here, with the profiles listed
        how, why = route(profile)
        if how is None:
            raise UsageError(
                f"{settings.app} cannot be explored: {why}; pick an application with an "
                "accessibility tree or a shell (`cua sandbox profiles`)"
            )
        factory = self.sandbox_factory
        if factory is not None:
            make: Callable[[], Sandbox] = lambda: factory(settings.app)  # noqa: E731
        else:
            from sandbox import XvfbSandbox

            screen = find_profile(settings.app).screen
            make = lambda: XvfbSandbox(screen)  # noqa: E731
        check_policy_name(settings.policy)
        running = Explorer(
            settings,
            resolve_data_dir(self.data_dir),
            make,
            progress,
            policy_factory(
                settings.policy, model, bundled=self._bundled() if settings.policy == BUNDLED else None
            ),
        )
        if explorer is not None:
            explorer.append(running)
        try:
            return running.run()
        finally:
            running.db.close()

    # -- learning -----------------------------------------------------------------------------
    def train(self, settings: Any = None, *, progress: Callable[[str], None] | None = None) -> Any:
        """Run one learning round (``cua.explore.rounds``) on this data directory; return its report.

        Rows come only from synthesized tasks and their verified runs; the candidate is promoted
        only when the paired gate says so. UsageError when nothing was explored yet.
        """
        from cua.explore.rounds import RoundSettings, learning_round

        factory = self.sandbox_factory

        def make() -> Sandbox:
            if factory is not None:
                return factory("galculator")
            from sandbox import XvfbSandbox

            return XvfbSandbox()

        return learning_round(
            resolve_data_dir(self.data_dir), make, settings or RoundSettings(), progress=progress
        )

    def models(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Return every registered model (of ``kind``), oldest first, with its decisions (a models view)."""
        from cua.learn.registry import ModelRegistry

        root = resolve_data_dir(self.data_dir)
        if not (root / "models" / "registry.sqlite").is_file():
            return []
        with ModelRegistry(root) as reg:
            current = {k: reg.current(k) for k in {e.kind for e in reg.list()}}
            out = []
            for e in reg.list(kind):
                now = current.get(e.kind)
                item = {**e.as_dict(), "current": now is not None and now.id == e.id}
                item["decisions"] = [d.as_dict() for d in reg.decisions(e.id)]
                out.append(item)
            return out

    def model_promote(self, model_id: str, reason: str) -> dict[str, Any]:
        """Make a registered model current by hand (recorded as a person's decision); return it."""
        from cua.learn.registry import ModelRegistry

        with ModelRegistry(resolve_data_dir(self.data_dir)) as reg:
            return reg.promote(model_id, reason).as_dict()

    def model_rollback(self, reason: str, kind: str = "bundled") -> dict[str, Any]:
        """Retire the current model of ``kind``; return the one now current (UsageError: none left)."""
        from cua.learn.registry import ModelRegistry

        with ModelRegistry(resolve_data_dir(self.data_dir)) as reg:
            return reg.rollback(kind, reason).as_dict()

    def bundled_checkpoint(self) -> tuple[Path, str]:
        """Return the bundled policy's checkpoint now and its name (a registry id, or 'shipped')."""
        from cua.explore.rounds import current_checkpoint

        return current_checkpoint(resolve_data_dir(self.data_dir))

    def _bundled(self) -> Path:
        """Return the bundled policy's checkpoint now: the registry's current one, else the shipped one."""
        from cua.explore.rounds import current_checkpoint

        return current_checkpoint(resolve_data_dir(self.data_dir))[0]

    def explorable_apps(self) -> list[str]:
        """Return the application profiles exploration can walk (an accessibility tree, or a shell)."""
        from cua.synth.shell import route
        from sandbox import find_profile, list_profiles

        return sorted(name for name in list_profiles() if route(find_profile(name))[0] is not None)

    def explore_report(self, dest: Path, *, app: str | None = None) -> Path:
        """Write the HTML exploration report to ``dest``; UsageError when nothing was explored."""
        path = resolve_data_dir(self.data_dir) / "explore.sqlite"
        if not path.exists():
            raise UsageError(f"no explorations in {path.parent}: run `cua explore --app APP` first")
        dest.write_text(build_report(path, app))
        return dest

    def explore_plot(self, app: str) -> bytes | None:
        """Return the PNG plot of attempt success per task kind of ``app`` (None: no attempts yet)."""
        path = resolve_data_dir(self.data_dir) / "explore.sqlite"
        return success_png(path, app) if path.exists() else None

    def memory_plot(self, app: str) -> bytes | None:
        """Return the PNG plot of the memory's growth over ``app``'s exploration attempts (None: none)."""
        path = resolve_data_dir(self.data_dir) / "explore.sqlite"
        return memory_png(path, app) if path.exists() else None

    def explored_tasks(self, app: str | None = None) -> list[TaskRow]:
        """Return the tasks exploration proved and admitted (for ``app``), oldest first."""
        path = resolve_data_dir(self.data_dir) / "explore.sqlite"
        if not path.exists():
            return []
        db = ExploreDB(path)
        try:
            return db.tasks(app)
        finally:
            db.close()

    def explorations(self) -> list[dict[str, Any]]:
        """Return every exploration in the data directory, each with its summary, newest first."""
        path = resolve_data_dir(self.data_dir) / "explore.sqlite"
        if not path.exists():
            return []
        db = ExploreDB(path)
        try:
            return [{**e, "summary": db.summary(e["id"])} for e in db.explorations()]
        finally:
            db.close()

    def learning_rounds(self, app: str | None = None) -> list[dict[str, Any]]:
        """Return the learning rounds of the explorations (of ``app``), oldest first.

        Each is its gate decision's figures, with the exploration it ran in.
        """
        path = resolve_data_dir(self.data_dir) / "explore.sqlite"
        if not path.exists():
            return []
        db = ExploreDB(path)
        try:
            found = [
                {**r, "exploration": e["id"]}
                for e in db.explorations()
                if app is None or e["app"] == app
                for r in db.learning_rounds(e["id"])
            ]
        finally:
            db.close()
        return sorted(found, key=lambda r: r["at"])


__all__ = [
    "EpisodeDone",
    "EvalStarted",
    "MemoryMatch",
    "Notice",
    "OnEvent",
    "RunDetail",
    "RunRequest",
    "RunStatus",
    "SandboxFactory",
    "Service",
    "ServiceEvent",
]
