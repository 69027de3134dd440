"""Training rows for the bundled policy, built only from the agent's own verified experience.

Where rows come from:

- **demonstrations**: every task that exploration synthesized and proved (``explore.sqlite``
  lists them; their task files live under ``<data dir>/synth/``) is *re-enacted* from a fresh
  reset: before each step of its demonstration the screen is read with
  ``cua.locators.read_screen``, exactly as the agent loop reads it for the policy, and the step
  becomes a row (what the policy saw -> the step as a :class:`~cua.policies.screen_features.Target`);
  a final row says ``done``. The rows are kept only when the task's validator passes at the end.
- **attempts**: runs recorded in the trajectory store whose task is one of those synthesized
  tasks (``task_hash``) and that a validator verified as successes are re-enacted the same way,
  from their recorded actions.
- **paraphrases**: each demonstration again under each of its task's paraphrases (the grammar's
  other phrasings of the same request, ``cua/synth/grammar.yaml``), with the same screens and
  actions: what to do should not hang on one wording. Synthesized instructions quote their values
  ('notes.txt'); people often do not, so each wording is also taken with its one-word values
  unquoted (:func:`unquoted`), wherever the policy still finds every value it types as a span.
- **corrections**: a failed attempt is re-enacted up to the first step where it left the path of
  a verified sibling (the same task's demonstration) from an equivalent screen (the same step
  number, and the sibling's target on screen); that state, with the sibling's action, is a row.
  Often that row is exactly one of the demonstration's (same screen, same history): it is then
  dropped as a duplicate and counted in the report.

Nothing else reaches the rows: a run whose task the exploration database does not know (a
built-in task, a person's instruction) is skipped and counted, so built-in tasks stay evaluation
only (``tests/cua/learn/test_dataset.py`` proves it). Each row also records which options the
step's action changed (gone, or their state changed): the transition the early-experience head
learns from.

Rows are plain JSON objects (:class:`Row`); :func:`save_rows` / :func:`load_rows` keep them as
JSON lines beside a manifest, and :func:`to_hf_dataset` / :func:`from_hf_dataset` convert to and
from a Hugging Face ``datasets`` dataset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from cua import actions as act
from cua.agent.loop import policy_input
from cua.errors import CuaError, UsageError
from cua.locators import read_screen
from cua.policies import screen_features as sf
from cua.policy import HistoryItem, PolicyInput
from cua.store import TrajectoryStore, VerdictSource
from cua.tasks.errors import OracleFailed, TaskError
from cua.tasks.oracle import OracleRunner, OracleStep, WaitStep
from cua.tasks.runner import start, validate
from cua.tasks.spec import TaskSpec, load_file, task_hash
from cua.tasks.validators.base import Move
from sandbox.base import A11yNode, Observation, Sandbox, TextBox
from sandbox.errors import SandboxError

log = logging.getLogger(__name__)

#: How long an outcome may take to stop changing before the validator's verdict counts.
SETTLE_VERDICT_S = 2.0
ROWS_FILE = "rows.jsonl"
MANIFEST_FILE = "manifest.json"
_BLANK = Image.new("RGB", (1, 1))


class DatasetError(CuaError):
    """A dataset folder cannot be read (missing, malformed, from another version); says what to do."""


@dataclass
class Row:
    """One step of verified experience, as the bundled policy saw it and what it should have done."""

    task_id: str
    task_hash: str
    app: str
    kind: str
    """The synthesized task's change kind (rows are balanced across kinds)."""
    source: str
    """'demonstration', 'attempt' or 'correction'."""
    step: int
    instruction: str
    screen_size: tuple[int, int]
    history: list[str]
    """The earlier steps as the policy remembers them (``screen_features.history_line``)."""
    a11y: list[dict[str, Any]]
    ocr: list[dict[str, Any]]
    target: dict[str, Any]
    changed: list[int] = field(default_factory=list)
    """Indices of the options this step's action changed (early experience)."""
    run_id: str | None = None

    def policy_input(self) -> PolicyInput:
        """Return the policy input this row describes (through the loop's own ``policy_input``)."""
        nodes = [A11yNode(**{**n, "states": tuple(n["states"]), "bbox": tuple(n["bbox"]),
                             "path": tuple(n["path"])}) for n in self.a11y]  # fmt: skip
        boxes = [TextBox(b["text"], tuple(b["bbox"]), float(b["score"])) for b in self.ocr]
        obs = Observation(_BLANK, (0, 0), None, True)
        inp = policy_input(
            self.instruction, obs, [HistoryItem(h) for h in self.history], 1, step=self.step,
            screen=(nodes, boxes),
        )  # fmt: skip
        return _with_size(inp, self.screen_size)

    def target_of(self) -> sf.Target:
        """Return the row's target."""
        return sf.Target(**self.target)

    def key(self) -> str:
        """Return what makes two rows the same example (dedup)."""
        labels = [(n["role"], n["name"], tuple(n["states"])) for n in self.a11y]
        data = [self.instruction, self.history, labels, [b["text"] for b in self.ocr], self.target]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """Return the row as a JSON object."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Row:
        """Read a row back; KeyError/TypeError for a malformed one (callers say where)."""
        return cls(**{**data, "screen_size": tuple(data["screen_size"])})


def _with_size(inp: PolicyInput, size: tuple[int, int]) -> PolicyInput:
    return replace(inp, screen_size=size)


def _node_json(n: A11yNode) -> dict[str, Any]:
    return {"role": n.role, "name": n.name, "text": n.text[:200], "states": list(n.states),
            "bbox": list(n.bbox), "depth": n.depth, "path": list(n.path), "app": n.app}  # fmt: skip


def _box_json(b: TextBox) -> dict[str, Any]:
    return {"text": b.text, "bbox": list(b.bbox), "score": round(b.score, 3)}


def _sandbox_to_action(move: Mapping[str, Any]) -> act.Action | None:
    """Return the agent action of a move an oracle step sent (None for those the policy lacks)."""
    kind = move.get("type")
    if kind == "click":
        return act.Click(
            int(move["x"]), int(move["y"]), move.get("button", "left"), int(move.get("count", 1))
        )
    if kind == "type":
        return act.TypeText(str(move["text"]))
    if kind == "key":
        keys = tuple(move["keys"])
        return act.Key(keys[0]) if len(keys) == 1 else act.Hotkey(keys)
    return None


def _changed(before: Sequence[sf.Option], after: Sequence[sf.Option]) -> list[int]:
    """Return the indices of ``before``'s options that are gone or whose state changed in ``after``."""
    now = Counter((o.role, o.label(), o.states) for o in after)
    labels = Counter((o.role, o.label()) for o in after)
    out = []
    for i, o in enumerate(before):
        if now[(o.role, o.label(), o.states)] == 0 or labels[(o.role, o.label())] == 0:
            out.append(i)
    return out


@dataclass
class BuildReport:
    """What a build did: rows per source and kind, and everything it skipped, with why."""

    rows: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    tasks: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "rows": self.rows,
            "by_source": dict(self.by_source),
            "by_kind": dict(self.by_kind),
            "skipped": dict(self.skipped),
            "tasks": self.tasks,
            "seconds": round(self.seconds, 1),
        }


@dataclass(frozen=True)
class SynthTask:
    """A synthesized task the exploration database lists, loaded from its task file."""

    task: TaskSpec
    kind: str
    hash: str


def synthesized_tasks(listed: Iterable[tuple[str, str]]) -> tuple[list[SynthTask], Counter[str]]:
    """Return the synthesized tasks whose files load, and why the others were skipped.

    ``listed`` holds (task file, change kind) pairs: what the exploration database lists
    (``cua.explore.rounds.listed_tasks``); nothing else may be a training task.
    """
    out: list[SynthTask] = []
    skipped: Counter[str] = Counter()
    for path, kind in listed:
        try:
            task = load_file(Path(path))[0].instance(0)
        except (OSError, TaskError, CuaError, IndexError) as exc:
            skipped[f"task file unreadable: {type(exc).__name__}"] += 1
            log.warning("dataset: %s: %s", path, exc)
            continue
        if task.oracle is None and task.generated != "template":
            skipped["task without a demonstration"] += 1
            continue  # a template has none by design: its verified attempts are its rows
        out.append(SynthTask(task, kind, task_hash(task)))
    return out, skipped


class _Reenactment:
    """Re-enacts one episode of a task on a sandbox, turning each step into a row."""

    def __init__(
        self, sandbox: Sandbox, st: SynthTask, source: str, run_id: str | None, settle_s: float
    ) -> None:
        self.sandbox, self.st, self.source, self.run_id = sandbox, st, source, run_id
        self.settle_s = settle_s
        self.rows: list[Row] = []
        self.history: list[str] = []
        self.moves: list[Move] = []
        self.spans = sf.spans_of(st.task.instruction)
        self.pending: tuple[Row, list[sf.Option]] | None = None

    def screen(self) -> tuple[tuple[A11yNode, ...], tuple[TextBox, ...], list[sf.Option]]:
        nodes, boxes = read_screen(self.sandbox)
        return nodes, boxes, sf.options_of(nodes, boxes)

    def _close_pending(self, options: Sequence[sf.Option]) -> None:
        if self.pending is not None:
            row, before = self.pending
            row.changed = _changed(before, options)
            self.pending = None

    def observe_step(self, actions: Sequence[act.Action]) -> bool:
        """Read the screen and add one row per action about to be sent; False when one has no target."""
        nodes, boxes, options = self.screen()
        self._close_pending(options)
        size = self.sandbox.observe().size
        for action in actions:
            target = sf.target_of(action, options, self.spans)
            if target is None:
                return False
            row = Row(
                self.st.task.id, self.st.hash, self.st.task.app, self.st.kind, self.source, len(self.rows),
                self.st.task.instruction, size, list(self.history), [_node_json(n) for n in nodes],
                [_box_json(b) for b in boxes], _target_json(target), run_id=self.run_id,
            )  # fmt: skip
            self.rows.append(row)
            self.pending = (row, options)
            self.history.append(sf.history_line(target, options, self.spans))
        return True

    def finish(self) -> bool:
        """Add the final ``done`` row; return whether the task's validator passes now (within a grace)."""
        deadline = time.monotonic() + SETTLE_VERDICT_S
        passed = validate(self.sandbox, self.st.task, trajectory=self.moves).passed
        while not passed and time.monotonic() < deadline:
            time.sleep(0.2)
            passed = validate(self.sandbox, self.st.task, trajectory=self.moves).passed
        if passed:
            self.observe_step([act.Done()])
            self.pending = None
        return passed


def _target_json(t: sf.Target) -> dict[str, Any]:
    return {k: v for k, v in asdict(t).items() if v is not None}


def reenact_demonstration(sandbox: Sandbox, st: SynthTask, *, settle_s: float = 0.2) -> list[Row]:
    """Return the rows of ``st``'s demonstration re-enacted from a fresh reset (empty: not verified).

    Raises OracleFailed/TaskError/SandboxError when the demonstration no longer replays.
    """
    assert st.task.oracle is not None
    r = _Reenactment(sandbox, st, "demonstration", None, settle_s)
    start(sandbox, st.task)
    runner = OracleRunner(sandbox, settle_s=settle_s)
    for step in st.task.oracle:
        actions = _oracle_actions(runner, step, r)
        if actions is None:
            return []
    return r.rows if r.finish() else []


def _oracle_actions(runner: OracleRunner, step: OracleStep, r: _Reenactment) -> list[act.Action] | None:
    """Run one oracle step, adding its rows (the screen read before it acts); None when the policy lacks one.

    The step's targets are resolved on the live screen first (as the runner does), then the
    screen is read for the rows, then the actions are sent and the step's condition awaited.
    """
    actions = [_sandbox_to_action({"type": a.type, **asdict(a)}) for a in step.actions(runner)]
    typed = [a for a in actions if a is not None]
    if len(typed) < len(actions) or (step.is_action and not r.observe_step(typed)):
        return None
    condition = step.condition if isinstance(step, WaitStep) else step.until
    snap = condition.snapshot(runner.sandbox) if condition is not None else None
    for a in typed:
        for low in act.to_sandbox(a):
            runner.sandbox.step(low, settle_s=r.settle_s)
            r.moves.append(Move({"type": low.type, **asdict(low)}, None))
    if condition is not None:
        runner.wait(condition, snap, step.timeout_s)
    return typed


def rephrased(rows: Sequence[Row], instruction: str) -> list[Row]:
    """Return ``rows`` (one demonstration) under another wording of its instruction.

    A typed text keeps its characters: its template and span are read again against the new
    instruction's spans (their order may differ).
    """
    if not rows:
        return []
    old, new = sf.spans_of(rows[0].instruction), sf.spans_of(instruction)
    out = []
    for r in rows:
        target = dict(r.target)
        if target.get("kind") == "type":
            template, span = sf.template_of(r.target_of().text(old), new)
            target = _target_json(sf.Target("type", template=template, span=span))
        out.append(replace(r, instruction=instruction, target=target, source="paraphrase"))
    return out


_QUOTED_WORD = re.compile(r"'([^'\s]+)'")


def unquoted(instruction: str) -> str:
    """Return ``instruction`` with its one-word quoted values bare ('named 'x.txt'' -> 'named x.txt')."""
    return _QUOTED_WORD.sub(r"\1", instruction)


def unquoted_rows(rows: Sequence[Row]) -> list[Row]:
    """Return ``rows`` (one demonstration) under its instruction with one-word values unquoted.

    Empty when nothing was quoted, or when a typed value would no longer be found among the
    bare instruction's spans (the row would then teach typing a literal instead of copying).
    """
    if not rows:
        return []
    bare = unquoted(rows[0].instruction)
    if bare == rows[0].instruction:
        return []
    out = rephrased(rows, bare)
    for before, after in zip(rows, out, strict=True):
        if "{}" in str(before.target.get("template") or "") and "{}" not in str(after.target.get("template")):
            return []
    return out


def reenact_run(
    sandbox: Sandbox,
    st: SynthTask,
    actions: Sequence[Sequence[act.Action]],
    run_id: str,
    *,
    settle_s: float = 0.5,
) -> list[Row]:
    """Return the rows of a recorded run's steps re-enacted from a fresh reset (empty: not verified)."""
    r = _Reenactment(sandbox, st, "attempt", run_id, settle_s)
    start(sandbox, st.task)
    for step in actions:
        sendable = [a for a in step if not isinstance(a, act.Done | act.Fail | act.CallUser)]
        if not sendable:
            continue
        if not r.observe_step(sendable):
            return []
        for a in sendable:
            for low in act.to_sandbox(a):
                sandbox.step(low, settle_s=settle_s)
                r.moves.append(Move({"type": low.type, **asdict(low)}, None))
    return r.rows if r.finish() else []


def correction(
    sandbox: Sandbox, st: SynthTask, failed: Sequence[Sequence[act.Action]], demo: Sequence[Row], run_id: str,
    *, settle_s: float = 0.5,
) -> Row | None:  # fmt: skip
    """Return the correction row of a failed run: its first step off the demonstration's path, or None.

    The failed run is re-enacted from a fresh reset; at step ``i`` its screen is equivalent to the
    demonstration's step ``i`` when the demonstration's target is on it (the same role and label);
    the first step whose action differs from the demonstration's there becomes a row with the
    demonstration's action. None when the run never leaves the path or the screens stop matching.
    """
    r = _Reenactment(sandbox, st, "correction", run_id, settle_s)
    start(sandbox, st.task)
    steps = [[a for a in s if not isinstance(a, act.Done | act.Fail | act.CallUser)] for s in failed]
    for i, step in enumerate(steps):
        if i >= len(demo) or not step:
            return None
        want = demo[i]
        nodes, boxes, options = r.screen()
        mine = sf.target_of(step[0], options, r.spans)
        good = _same_target_on(want, options, r.spans)
        if good is None:
            return None
        if mine != good:
            return Row(
                st.task.id, st.hash, st.task.app, st.kind, "correction", i, st.task.instruction,
                sandbox.observe().size, list(r.history), [_node_json(n) for n in nodes],
                [_box_json(b) for b in boxes], _target_json(good), run_id=run_id,
            )  # fmt: skip
        r.history.append(sf.history_line(good, options, r.spans))
        for a in step:
            for low in act.to_sandbox(a):
                sandbox.step(low, settle_s=settle_s)
    return None


def _same_target_on(row: Row, options: Sequence[sf.Option], spans: Sequence[str]) -> sf.Target | None:
    """Return ``row``'s target on another screen: the option with the same role and label, or None."""
    t = row.target_of()
    if t.option is None:
        return t
    then = sf.options_of(row.policy_input().a11y, row.policy_input().ocr)
    if t.option >= len(then):
        return None
    want = (then[t.option].role, then[t.option].label())
    for i, o in enumerate(options):
        if (o.role, o.label()) == want:
            return sf.Target(t.kind, option=i)
    return None


def build_rows(
    sandbox_for: Callable[[], Sandbox],
    listed: Iterable[tuple[str, str]],
    store: TrajectoryStore | None = None,
    *,
    only: set[str] | None = None,
    attempts: bool = True,
    paraphrases: bool = True,
    corrections: bool = True,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Row], BuildReport]:
    """Return the rows of every synthesized task ``listed`` (task file, kind) and of the store's runs of them.

    ``sandbox_for()`` returns a sandbox to re-enact on (one is reused for every task). Runs of
    tasks the exploration database does not know are skipped and counted, never used. ``only``
    keeps the tasks with these hashes (a round's training tasks; held-out ones never train).
    """
    t0 = time.monotonic()
    report = BuildReport()
    tasks, skipped = synthesized_tasks(listed)
    report.skipped.update(skipped)
    known = {st.hash for st in tasks}
    if only is not None:
        tasks = [st for st in tasks if st.hash in only]
    report.tasks = len(tasks)
    by_hash = {st.hash: st for st in tasks}
    rows: list[Row] = []
    demos: dict[str, list[Row]] = {}
    sandbox = sandbox_for()
    for n, st in enumerate(tasks):
        if progress is not None:
            progress(f"[{n + 1}/{len(tasks)}] {st.task.id}")
        if st.task.oracle is None:  # a template, proven by an attempt: the runs below give its rows
            continue
        try:
            got = reenact_demonstration(sandbox, st)
        except (OracleFailed, TaskError, SandboxError, act.ActionError) as exc:
            report.skipped["demonstration no longer replays"] += 1
            log.info("dataset: %s: %s", st.task.id, exc)
            continue
        if not got:
            report.skipped["demonstration not verified or outside the action space"] += 1
            continue
        demos[st.hash] = got
        rows += got + unquoted_rows(got)
        if paraphrases:
            for text in st.task.paraphrases:
                worded = rephrased(got, text)
                rows += worded + unquoted_rows(worded)
    if store is not None and (attempts or corrections):
        for run in store.list_runs():
            if run.task_hash is None or run.task_hash not in by_hash:
                held = run.task_hash in known
                report.skipped["run of a held-out task" if held else "run of an unsynthesized task"] += 1
                continue
            st = by_hash[run.task_hash]
            steps = [act.recorded_actions(s.action) for s in store.steps(run.id)]
            try:
                verified = run.verdict is not None and run.verdict.source == VerdictSource.VALIDATOR
                if verified and run.verdict is not None and run.verdict.success and attempts:
                    got = reenact_run(sandbox, st, steps, run.id)
                    rows += got
                    if not got:
                        report.skipped["attempt not verified on re-enactment"] += 1
                elif (
                    verified
                    and run.verdict is not None
                    and run.verdict.success is False
                    and corrections
                    and st.hash in demos
                ):
                    fix = correction(sandbox, st, steps, demos[st.hash], run.id)
                    if fix is not None:
                        rows.append(fix)
            except (OracleFailed, TaskError, SandboxError, act.ActionError) as exc:
                report.skipped["run no longer replays"] += 1
                log.info("dataset: run %s: %s", run.id, exc)
    before = Counter(r.source for r in rows)
    rows = dedup(rows)
    for source, n in (before - Counter(r.source for r in rows)).items():
        # A correction from an equivalent screen is often exactly a demonstration's row: counted here.
        report.skipped[f"{source} row identical to an earlier row"] += n
    report.rows = len(rows)
    report.by_source.update(r.source for r in rows)
    report.by_kind.update(r.kind for r in rows)
    report.seconds = time.monotonic() - t0
    return rows, report


def dedup(rows: Iterable[Row]) -> list[Row]:
    """Return ``rows`` without repeats of the same example (first kept)."""
    seen: set[str] = set()
    out = []
    for r in rows:
        k = r.key()
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


#: The default cap of a kind never falls below this many rows: with a few rare kinds the median
#: is small, and twice it would throw away most of what the common kinds teach.
MIN_PER_KIND = 256


def balance(rows: Sequence[Row], rng: random.Random, per_kind: int | None = None) -> list[Row]:
    """Return rows with each task kind capped at ``per_kind``.

    The default cap is twice the median kind's count, but at least ``MIN_PER_KIND``. A kind
    with many tasks (field texts) would otherwise drown the rare ones (a toggle).
    """
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.kind, []).append(r)
    if not groups:
        return []
    sizes = sorted(len(g) for g in groups.values())
    cap = per_kind or max(MIN_PER_KIND, 2 * sizes[len(sizes) // 2])
    out: list[Row] = []
    for kind in sorted(groups):
        g = groups[kind]
        out += g if len(g) <= cap else rng.sample(g, cap)
    return out


def manifest(rows: Sequence[Row], report: BuildReport | None = None) -> dict[str, Any]:
    """Return the manifest of a row set: counts, tasks, apps and a content hash (the dataset's identity)."""
    digest = hashlib.sha256()
    for r in rows:
        digest.update(r.key().encode())
    return {
        "rows": len(rows),
        "sha256": digest.hexdigest(),
        "tasks": sorted({r.task_hash for r in rows}),
        "apps": dict(Counter(r.app for r in rows)),
        "kinds": dict(Counter(r.kind for r in rows)),
        "sources": dict(Counter(r.source for r in rows)),
        "build": report.as_dict() if report is not None else None,
    }


def save_rows(rows: Sequence[Row], folder: Path, report: BuildReport | None = None) -> dict[str, Any]:
    """Write ``rows`` (JSON lines) and their manifest into ``folder``; return the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (ROWS_FILE + ".tmp")
    with tmp.open("w") as fh:
        for r in rows:
            fh.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
    tmp.replace(folder / ROWS_FILE)
    data = manifest(rows, report)
    (folder / MANIFEST_FILE).write_text(json.dumps(data, indent=1) + "\n")
    return data


def load_rows(folder: Path) -> list[Row]:
    """Read the rows saved in ``folder``; DatasetError naming the file and line of a bad row."""
    path = folder / ROWS_FILE
    if not path.is_file():
        raise DatasetError(f"{folder}: no {ROWS_FILE}; build a dataset with `cua train --build-only`")
    return list(_read_rows(path))


def _read_rows(path: Path) -> Iterator[Row]:
    with path.open() as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield Row.from_json(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DatasetError(f"{path}:{n}: not a training row ({exc!r}); rebuild the dataset") from None


def to_hf_dataset(rows: Sequence[Row]) -> Any:
    """Return the rows as a Hugging Face ``datasets.Dataset`` (nested fields as JSON strings)."""
    from datasets import Dataset  # type: ignore[import-untyped]

    nested = ("history", "a11y", "ocr", "target", "changed", "screen_size")
    records = []
    for r in rows:
        data = r.to_json()
        records.append({k: json.dumps(v) if k in nested else v for k, v in data.items()})
    return Dataset.from_list(records)


def from_hf_dataset(ds: Any) -> list[Row]:
    """Return the rows of a dataset made by :func:`to_hf_dataset`; UsageError when it is another kind."""
    needed = {"instruction", "a11y", "target", "history"}
    if not needed <= set(ds.column_names):
        raise UsageError(f"not a bundled-policy dataset: columns {ds.column_names} lack {sorted(needed)}")
    nested = ("history", "a11y", "ocr", "target", "changed", "screen_size")
    return [Row.from_json({k: json.loads(v) if k in nested else v for k, v in rec.items()}) for rec in ds]


__all__ = [
    "BuildReport",
    "DatasetError",
    "Row",
    "SynthTask",
    "balance",
    "build_rows",
    "correction",
    "dedup",
    "from_hf_dataset",
    "load_rows",
    "manifest",
    "reenact_demonstration",
    "reenact_run",
    "rephrased",
    "save_rows",
    "synthesized_tasks",
    "to_hf_dataset",
]
