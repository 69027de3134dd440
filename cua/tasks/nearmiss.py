"""Near misses generated from the state diff of a task, to prove that its validator rejects them.

A family's listed near misses only test what its author thought of. These are made from what
the task changes instead: the task is started (state S0) and solved by its oracle (the correct
final state S1); the difference S0 → S1 says what the task is about, and each *operator* makes a
wrong outcome from it. None of them reads the validator (only the method operators look whether
it checks a method at all: an outcome reached by a prescribed method is otherwise not wrong).

File operators work on S1 in place, through the sandbox's file calls, and undo themselves:
``unsaved`` (a changed file back to its S0 bytes), ``missing-output`` (a created file deleted),
``extra-line``, ``changed-content`` (one character of a written text file), ``copy-not-move``
(a moved file's source put back), ``delete-other``, ``modify-other`` and ``create-extra`` (damage
beside the task), and for workbooks ``other-cell`` (a cell the task did not touch overwritten),
``value-as-text``, ``formula-as-value`` and ``wrong-format`` (XLSX bytes under an .ods name...).

GUI operators run an altered oracle from a fresh start, through the sandbox's inputs:
``prefix`` (stopped short), ``skip-step``, ``typo`` (one typed character changed),
``swap-click`` (the same kind of control, another one) and ``repeat-last``. An altered run can
reach the correct state after all (skipping a click that only moved the focus); its state is
compared with S1 first (the files under HOME; for a task that changes no file, the window title
and the accessibility nodes the task changed) and an *equivalent* outcome is not a near miss.

Method operators (``no-inputs``, ``drop-input``) keep S1 and replace the recorded inputs, for a
validator that checks how (a ``trajectory`` check). Every generated near miss must fail.
"""

from __future__ import annotations

import gzip
import re
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

from cua.tasks.errors import OracleFailed, TaskError
from cua.tasks.oracle import ClickStep, OracleRun, OracleRunner, OracleStep, TypeStep
from cua.tasks.runner import baseline_of, start, validate, volatile_paths
from cua.tasks.spec import TaskSpec
from cua.tasks.targets import Target, a11y_tree
from cua.tasks.validators import Move, TrajectoryCheck, ValidatorVerdict, read_home
from cua.tasks.validators.book import cell_ref, detect_format, read_book
from cua.tasks.validators.home import Entry, HomeListing, diff
from cua.tasks.validators.ssconvert import convert_book
from sandbox.base import A11yNode, Sandbox
from sandbox.errors import SandboxError

#: Largest file whose bytes are kept (to undo a file operator); larger files are left alone.
KEEP_BYTES = 4 * 1024 * 1024
#: The most near misses one operator makes for a task, by default: synthesis admits a task
#: only after these pass, and scripts/audit_synthesized.py audits with the same, so the audit
#: never tries an altered run that admission did not (a wandering first click swapped for
#: another was audited but not tried at admission when admission made one per operator).
PER_OPERATOR = 2
#: How long an altered oracle waits on each of its conditions (they may never hold).
LENIENT_WAIT_S = 2.0
#: How long an altered run's outcome may take to stop changing before it is judged.
STABLE_S = 3.0
_SHEETS = {"ods", "xlsx", "gnumeric", "gnumeric-xml", "xls"}
_OTHER_FORMAT = {"ods": "xlsx", "xlsx": "ods", "gnumeric": "xlsx", "gnumeric-xml": "xlsx", "xls": "ods"}
_GNM = "{http://www.gnumeric.org/v10.dtd}"
#: The operators, in the order they are tried and reported.
OPERATORS = (
    "unsaved", "missing-output", "extra-line", "changed-content", "copy-not-move", "delete-other",
    "modify-other", "create-extra", "other-cell", "value-as-text", "formula-as-value",
    "wrong-format", "prefix", "skip-step", "typo", "swap-click", "repeat-last", "no-inputs",
    "drop-input",
)  # fmt: skip


@dataclass(frozen=True)
class Generated:
    """One generated wrong outcome and the validator's verdict on it (it must fail)."""

    operator: str
    name: str
    verdict: ValidatorVerdict

    @property
    def false_pass(self) -> bool:
        """Return whether the validator wrongly accepted this wrong outcome."""
        return self.verdict.passed


@dataclass
class NearMissReport:
    """What the generator made for one task and how its validator judged each."""

    task: str
    generated: list[Generated] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    """Alterations that reached the correct state after all (not near misses)."""
    skipped: list[str] = field(default_factory=list)
    """Alterations that could not be carried out (a control to swap to did not exist), with why."""
    error: str | None = None
    seconds: float = 0.0

    @property
    def false_passes(self) -> list[Generated]:
        """Return the near misses the validator accepted (each one is a hole in it)."""
        return [g for g in self.generated if g.false_pass]

    @property
    def ok(self) -> bool:
        """Return whether generation ran and every near miss failed."""
        return self.error is None and not self.false_passes

    def per_operator(self) -> dict[str, int]:
        """Return how many near misses each operator made."""
        counts = Counter(g.operator for g in self.generated)
        return {op: counts[op] for op in OPERATORS if counts[op]}

    def report(self) -> str:
        """Return a readable account, one line per near miss."""
        head = "OK" if self.ok else "NOT OK"
        lines = [
            f"{head} {self.task}: {len(self.generated)} generated near misses, "
            f"{len(self.false_passes)} passed the validator ({self.seconds:.1f} s)"
        ]
        for g in self.generated:
            lines.append(f"  {g.name}: {'PASSES (bad)' if g.false_pass else 'fails (good)'}")
            if g.false_pass:
                lines += [f"      {r}" for r in g.verdict.reasons]
        lines += [f"  equivalent (not a near miss): {e}" for e in self.equivalent]
        lines += [f"  skipped: {s}" for s in self.skipped]
        if self.error:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)


# -- the observed state --------------------------------------------------------------------------
@dataclass(frozen=True)
class _State:
    home: HomeListing | None
    title: str
    nodes: frozenset[tuple[str, str, str, tuple[str, ...]]]
    books: dict[str, str]
    """Each workbook's typed cells and format (saving one again changes its bytes, not its state)."""


_KEPT_STATES = frozenset({"checked", "selected", "pressed", "expanded", "editable", "sensitive"})


def _observe(sandbox: Sandbox, task: TaskSpec) -> _State:
    listing = read_home(sandbox, volatile_paths(task))
    try:
        title = sandbox.observe().window_title or ""
        tree = a11y_tree(sandbox)
    except SandboxError:
        title, tree = "", ()
    home = listing if isinstance(listing, HomeListing) else None
    books: dict[str, str] = {}
    for path, entry in home.entries.items() if home else ():
        if entry.kind == "f" and _is_sheet(sandbox, path):
            book = read_book(sandbox, path)
            books[path] = book if isinstance(book, str) else repr((book.format, book.sheets))
    return _State(home, title, frozenset(_node_key(n) for n in tree), books)


#: What an application adds to accessible names that changes on its own (Chromium's tab names
#: end in "- Memory usage - 24.0 MB"): not part of a state.
_NOISE = re.compile(r" - Memory usage - [\d.,]+ [KMGT]?B")


def _observe_stable(sandbox: Sandbox, task: TaskSpec) -> _State:
    """Return the state once two observations in a row agree (at most ``STABLE_S`` of trying)."""
    deadline = time.monotonic() + STABLE_S
    state = _observe(sandbox, task)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        again = _observe(sandbox, task)
        if again == state:
            break
        state = again
    return state


def _node_key(node: A11yNode) -> tuple[str, str, str, tuple[str, ...]]:
    name, text = _NOISE.sub("", node.name), _NOISE.sub("", node.text or "")
    return (node.role, name, text, tuple(sorted(set(node.states) & _KEPT_STATES)))


@dataclass(frozen=True)
class _Judge:
    """Compares an outcome with the correct one on what the task changes (module docstring)."""

    s0: _State
    s1: _State

    def files_changed(self) -> bool:
        return bool(self.s0.home and self.s1.home and diff(self.s0.home, self.s1.home).all())

    def equivalent(self, other: _State) -> bool:
        if self.s1.home is None or other.home is None:
            return False
        mine, theirs = self.s1.home.entries, other.home.entries
        if set(mine) != set(theirs):
            return False
        for path, entry in mine.items():
            same_book = path in self.s1.books and self.s1.books[path] == other.books.get(path)
            if theirs[path] != entry and not same_book:
                return False
        if self.files_changed():
            return True
        changed = {(k[0], k[1]) for k in self.s0.nodes ^ self.s1.nodes}

        def pick(state: _State) -> set[tuple[str, str, str, tuple[str, ...]]]:
            return {k for k in state.nodes if (k[0], k[1]) in changed}

        same_title = self.s0.title == self.s1.title or other.title == self.s1.title
        return same_title and pick(other) == pick(self.s1)


# -- the generator -------------------------------------------------------------------------------
def generate(
    sandbox: Sandbox,
    task: TaskSpec,
    *,
    settle_s: float = 0.2,
    gui: bool = True,
    per_operator: int = PER_OPERATOR,
) -> NearMissReport:
    """Generate near misses of ``task`` from its state diff and validate each (see the module docstring).

    ``gui``: also run the altered oracles (each from a fresh start; slower). ``per_operator``:
    the most near misses one operator makes for the task.
    """
    t0 = time.monotonic()
    out = NearMissReport(task.id)
    if task.oracle is None:
        out.error = "the task has no oracle: there is no correct final state to start from"
        return out
    try:
        _generate(sandbox, task, out, settle_s, gui, per_operator)
    except (OracleFailed, TaskError, SandboxError) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    out.seconds = time.monotonic() - t0
    return out


def _generate(
    sandbox: Sandbox, task: TaskSpec, out: NearMissReport, settle_s: float, gui: bool, per_op: int
) -> None:
    assert task.oracle is not None
    start(sandbox, task)
    baseline = baseline_of(sandbox, task)
    s0 = _observe(sandbox, task)
    initial = _keep_bytes(sandbox, s0.home)
    prefix_points = _prefix_points(task.oracle, per_op)
    checkpoints: dict[int, tuple[_State, ValidatorVerdict]] = {}
    runner = OracleRunner(sandbox, settle_s=settle_s)
    position = {"index": 0}

    def before(step: OracleStep) -> None:
        index = position["index"]
        position["index"] += 1
        if index in prefix_points:
            verdict = validate(sandbox, task, trajectory=runner.current.moves, baseline=baseline)
            checkpoints[index] = (_observe(sandbox, task), verdict)

    run = runner.run(task.oracle, before)
    solved = validate(sandbox, task, trajectory=run.moves, baseline=baseline)
    if not solved.passed:
        raise TaskError(f"the oracle's own result fails the validator:\n{solved.explain()}")
    s1 = _observe(sandbox, task)
    judge = _Judge(s0, s1)

    def add(operator: str, name: str, state: _State | None, verdict: ValidatorVerdict) -> None:
        if state is not None and judge.equivalent(state):
            out.equivalent.append(name)
        else:
            out.generated.append(Generated(operator, name, verdict))

    for index, (state, verdict) in sorted(checkpoints.items()):
        add("prefix", f"prefix: stopped before step {index + 1}", state, verdict)
    # File operators, on S1 in place (each undone before the next).
    for operator, name, mutate in _file_mutations(sandbox, s0.home, s1.home, initial, per_op):
        final = _keep_bytes(sandbox, s1.home)
        try:
            mutate()
            verdict = validate(sandbox, task, trajectory=run.moves, baseline=baseline)
            add(operator, name, None, verdict)
        except _NotApplicable as exc:
            out.skipped.append(f"{name}: {exc}")
        finally:
            _restore(sandbox, s1.home, final)
    # Method operators: S1 with other recorded inputs.
    if any(isinstance(c, TrajectoryCheck) for c in task.validator.walk()):
        add("no-inputs", "no-inputs: the same screen, no recorded inputs", None,
            validate(sandbox, task, trajectory=(), baseline=baseline))  # fmt: skip
        for i in _spread([i for i, m in enumerate(run.moves) if m.action.get("type") != "wait"], per_op + 1):
            moves = run.moves[:i] + run.moves[i + 1 :]
            add("drop-input", f"drop-input: without input {i + 1} ({_show(run.moves[i])})", None,
                validate(sandbox, task, trajectory=moves, baseline=baseline))  # fmt: skip
    if gui:
        for operator, name, steps in _altered_oracles(task.oracle, per_op):
            _altered(sandbox, task, out, add, operator, name, steps, settle_s)


class _NotApplicable(Exception):
    """An operator cannot make this near miss here (no such control, no such file)."""


def _altered(
    sandbox: Sandbox,
    task: TaskSpec,
    out: NearMissReport,
    add: Callable[[str, str, _State | None, ValidatorVerdict], None],
    operator: str,
    name: str,
    steps: Callable[[OracleRunner], OracleRun],
    settle_s: float,
) -> None:
    start(sandbox, task)
    baseline = baseline_of(sandbox, task)
    runner = OracleRunner(sandbox, settle_s=settle_s, lenient_wait_s=LENIENT_WAIT_S)
    try:
        run = steps(runner)
    except (OracleFailed, _NotApplicable) as exc:
        out.skipped.append(f"{name}: {exc}")
        return
    state = _observe_stable(sandbox, task)  # an altered run's last wait may have been cut short
    verdict = validate(sandbox, task, trajectory=run.moves, baseline=baseline)
    add(operator, name, state, verdict)


def _show(move: Move) -> str:
    hit = (move.hit or {}).get("name")
    return f"{move.action.get('type')} {hit!r}" if hit else str(move.action.get("type"))


def _spread(items: Sequence[int], n: int) -> list[int]:
    """Return up to ``n`` of ``items``, spread from the last backwards (the end matters most)."""
    if len(items) <= n:
        return list(items)
    step = len(items) / n
    return sorted({items[len(items) - 1 - int(k * step)] for k in range(n)})


def _prefix_points(oracle: Sequence[OracleStep], n: int) -> set[int]:
    """Return the indices of action steps to stop before (not the first: that is 'do nothing')."""
    actions = [i for i, s in enumerate(oracle) if s.is_action and i > 0]
    return set(_spread(actions, n + 1))


# -- altered oracles ------------------------------------------------------------------------------
def _altered_oracles(
    oracle: tuple[OracleStep, ...], n: int
) -> list[tuple[str, str, Callable[[OracleRunner], OracleRun]]]:
    out: list[tuple[str, str, Callable[[OracleRunner], OracleRun]]] = []
    actions = [i for i, s in enumerate(oracle) if s.is_action]
    for i in _spread(actions[:-1] if len(actions) > 1 else actions, n):
        steps = oracle[:i] + oracle[i + 1 :]
        out.append(("skip-step", f"skip-step: without step {i + 1} ({oracle[i].describe()})", _plain(steps)))
    typed = [i for i, s in enumerate(oracle) if isinstance(s, TypeStep) and any(c.isalnum() for c in s.text)]
    for i in _spread(typed, n):
        step = oracle[i]
        assert isinstance(step, TypeStep)
        wrong = replace(step, text=_typo(step.text))
        steps = (*oracle[:i], wrong, *oracle[i + 1 :])
        out.append(("typo", f"typo: step {i + 1} types {wrong.text!r}", _plain(steps)))
    clicks = [i for i, s in enumerate(oracle) if isinstance(s, ClickStep) and s.target.locator.role]
    for i in _spread(clicks, n):
        out.append(
            ("swap-click", f"swap-click: step {i + 1} clicks another {_role(oracle[i])}", _swapped(oracle, i))
        )
    if actions:
        last = oracle[actions[-1]]
        again = replace(last, until=None, id=None)
        out.append(
            ("repeat-last", f"repeat-last: step {actions[-1] + 1} done twice", _plain((*oracle, again)))
        )
    return out


def _role(step: OracleStep) -> str:
    return step.target.locator.role or "control" if isinstance(step, ClickStep) else "control"


def _plain(steps: Sequence[OracleStep]) -> Callable[[OracleRunner], OracleRun]:
    return lambda runner: runner.run(steps)


def _swapped(oracle: tuple[OracleStep, ...], i: int) -> Callable[[OracleRunner], OracleRun]:
    def run(runner: OracleRunner) -> OracleRun:
        first = runner.run(oracle[:i])
        step = oracle[i]
        assert isinstance(step, ClickStep)
        nodes = a11y_tree(runner.sandbox)
        meant = step.target.find(nodes)
        role = step.target.locator.role
        others = [
            n for n in nodes
            if n.role == role and n.name and (meant is None or n.name != meant.name)
            and "sensitive" in n.states and n.bbox[2] > 0 and n.bbox[3] > 0
        ]  # fmt: skip
        if not others:
            raise _NotApplicable(f"no other {role} to click instead")
        other = others[0]
        target = Target(replace(step.target.locator, name=other.name, text=None, path=None))
        swapped = replace(step, target=target, until=None)
        rest = runner.run((swapped, *oracle[i + 1 :]))
        return OracleRun(
            first.steps + rest.steps, first.actions + rest.actions, first.seconds + rest.seconds,
            first.log + rest.log, first.moves + rest.moves,
        )  # fmt: skip

    return run


def _typo(text: str) -> str:
    """Return ``text`` with its last letter or digit changed (9 → 0, z → a, Z → A)."""
    chars = list(text)
    for k in range(len(chars) - 1, -1, -1):
        ch = chars[k]
        if ch.isdigit():
            chars[k] = str((int(ch) + 1) % 10)
            return "".join(chars)
        if ch.isalpha() and ch.isascii():
            base = "a" if ch.islower() else "A"
            chars[k] = chr((ord(ch) - ord(base) + 1) % 26 + ord(base))
            return "".join(chars)
    return text + "x"


# -- file operators -------------------------------------------------------------------------------
def _keep_bytes(sandbox: Sandbox, listing: HomeListing | None) -> dict[str, bytes]:
    """Return the bytes of every kept-size file of a listing (to undo file operators)."""
    out: dict[str, bytes] = {}
    for path, entry in listing.entries.items() if listing else ():
        if entry.kind == "f" and entry.size <= KEEP_BYTES:
            try:
                out[path] = sandbox.read_file(path)
            except SandboxError:
                pass
    return out


def _restore(sandbox: Sandbox, listing: HomeListing | None, kept: dict[str, bytes]) -> None:
    """Put HOME back as ``listing`` says: remove what is new, rewrite files that differ."""
    if listing is None:
        return
    now = read_home(sandbox, listing.exclude)
    if isinstance(now, str):
        raise SandboxError(f"undoing a near miss: {now}")
    for path in sorted(set(now.entries) - set(listing.entries), reverse=True):
        sandbox.exec(["rm", "-rf", "--", path], timeout_s=10)
    for path, entry in listing.entries.items():
        if entry.kind == "d" and path not in now.entries:
            sandbox.exec(["mkdir", "-p", "--", path], timeout_s=10)
    for path, entry in listing.entries.items():
        if entry.kind == "f" and now.entries.get(path) != entry and path in kept:
            sandbox.write_file(path, kept[path])


FileMutation = tuple[str, str, Callable[[], None]]


def _file_mutations(
    sandbox: Sandbox,
    before: HomeListing | None,
    after: HomeListing | None,
    initial: dict[str, bytes],
    n: int,
) -> list[FileMutation]:
    if before is None or after is None:
        return []
    changes = diff(before, after)
    a, b = after.entries, before.entries

    def files(paths: Sequence[str]) -> list[str]:
        return [p for p in paths if a.get(p, b.get(p, Entry("?"))).kind == "f"]

    written = files([*changes.created, *changes.modified])
    texts = [p for p in written if not _is_sheet(sandbox, p)]
    sheets = [p for p in written if p not in texts]
    out: list[FileMutation] = []

    def write(path: str, data: bytes) -> Callable[[], None]:
        def mutate() -> None:
            sandbox.write_file(path, data)

        return mutate

    def remove(path: str) -> Callable[[], None]:
        def mutate() -> None:
            _ok(sandbox.exec(["rm", "-f", "--", path], timeout_s=10).ok, f"cannot delete {path}")

        return mutate

    for p in files(changes.modified)[:n]:
        if p in initial:
            out.append(("unsaved", f"unsaved: {p} as it was at the start", write(p, initial[p])))
    for p in files(changes.created)[:n]:
        out.append(("missing-output", f"missing-output: {p} not created", remove(p)))
    for p in texts[:n]:
        data = sandbox.read_file(p)
        sep = b"" if data.endswith(b"\n") or not data else b"\n"
        out.append(("extra-line", f"extra-line: a line added to {p}", write(p, data + sep + b"extra line\n")))
        changed = _typo(data.decode("utf-8", "replace")).encode()
        out.append(("changed-content", f"changed-content: one character of {p} changed", write(p, changed)))
    moved = [
        (src, dst) for src in files(changes.deleted) for dst in files(changes.created)
        if b[src].digest == a[dst].digest and src in initial
    ]  # fmt: skip
    for src, dst in moved[:n]:
        out.append(
            ("copy-not-move", f"copy-not-move: {src} left in place beside {dst}", write(src, initial[src]))
        )
    untouched = [p for p, e in sorted(b.items()) if e.kind == "f" and a.get(p) == e and p in initial]
    if untouched:
        p = untouched[0]
        out.append(("delete-other", f"delete-other: {p} deleted", remove(p)))
        out.append(("modify-other", f"modify-other: {p} changed", write(p, initial[p] + b"x")))
    stray = "stray-near-miss.txt"
    out.append(("create-extra", f"create-extra: {stray} created in HOME", write(stray, b"not asked for\n")))
    for p in sheets[:n]:
        out += _sheet_mutations(sandbox, p, initial.get(p))
    return out


def _ok(done: bool, why: str) -> None:
    if not done:
        raise _NotApplicable(why)


def _is_sheet(sandbox: Sandbox, path: str) -> bool:
    try:
        head = sandbox.read_file(path)
    except SandboxError:
        return False
    return detect_format(head) in _SHEETS


def _sheet_mutations(sandbox: Sandbox, path: str, initial: bytes | None) -> list[FileMutation]:
    """Return the workbook operators for ``path`` (S1), from its cells' difference with S0."""
    got = convert_book(sandbox, path)
    if isinstance(got, str):
        return []
    data, xml, _ = got
    fmt = detect_format(data)
    root = ET.fromstring(_gunzip(xml))
    before_cells: dict[tuple[int, int, int], str] = {}
    if initial is not None:
        old = convert_book(sandbox, f"initial{PurePosixPath(path).suffix}", upload=initial)
        if not isinstance(old, str):
            before_cells = _cell_texts(ET.fromstring(_gunzip(old[1])))
    after_cells = _cell_texts(root)
    changed = [k for k, v in after_cells.items() if before_cells.get(k) != v]
    unchanged = [k for k in after_cells if k not in changed]
    out: list[FileMutation] = []

    def rewrite(edit: Callable[[ET.Element], bool], label: str, operator: str) -> None:
        tree = ET.fromstring(_gunzip(xml))
        if edit(tree):
            out.append((operator, f"{operator}: {label}", lambda: _save_book(sandbox, path, fmt, tree)))

    target = unchanged[0] if unchanged else _free_cell(after_cells)
    rewrite(lambda t: _set_cell(t, target, "junk", "60"), f"{path} {_ref(target)} overwritten", "other-cell")
    attrs = {k: dict(c.attrib) for k in changed if (c := _cell(root, k)) is not None}
    numbers = [k for k in changed if attrs.get(k, {}).get("ValueType") in ("30", "40")]
    if numbers:
        k = numbers[0]
        rewrite(
            lambda t: _set_cell(t, k, after_cells[k], "60"),
            f"{path} {_ref(k)} holds its number as text",
            "value-as-text",
        )
    formulas = [k for k in changed if after_cells[k].startswith("=") and "ExprID" not in attrs.get(k, {})]
    if formulas:
        k = formulas[0]
        value = _formula_value(sandbox, path, k)
        if value is not None:
            rewrite(
                lambda t: _set_cell(t, k, value, "40"),
                f"{path} {_ref(k)} holds the value {value}, not the formula",
                "formula-as-value",
            )
    other = _OTHER_FORMAT.get(fmt)
    if other is not None:
        out.append(("wrong-format", f"wrong-format: {path} saved as {other} under its name",
                    lambda: _convert_in_place(sandbox, path, other)))  # fmt: skip
    return out


def _gunzip(data: bytes) -> bytes:
    return gzip.decompress(data) if data.startswith(b"\x1f\x8b") else data


def _cell_texts(root: ET.Element) -> dict[tuple[int, int, int], str]:
    out: dict[tuple[int, int, int], str] = {}
    for s, sheet in enumerate(root.iter(f"{_GNM}Sheet")):
        for c in sheet.iter(f"{_GNM}Cell"):
            out[(s, int(c.get("Row", "0")), int(c.get("Col", "0")))] = (
                (c.text or "") + "|" + (c.get("ValueType") or "")
            )
    return out


def _cell(root: ET.Element, key: tuple[int, int, int]) -> ET.Element | None:
    for s, sheet in enumerate(root.iter(f"{_GNM}Sheet")):
        if s == key[0]:
            for c in sheet.iter(f"{_GNM}Cell"):
                if (int(c.get("Row", "0")), int(c.get("Col", "0"))) == key[1:]:
                    return c
    return None


def _free_cell(cells: dict[tuple[int, int, int], str]) -> tuple[int, int, int]:
    rows = [k[1] for k in cells if k[0] == 0] or [0]
    return (0, max(rows) + 2, 0)


def _ref(key: tuple[int, int, int]) -> str:
    return cell_ref(key[1], key[2]) + (f" (sheet {key[0] + 1})" if key[0] else "")


def _set_cell(root: ET.Element, key: tuple[int, int, int], text: str, value_type: str) -> bool:
    text = text.split("|", 1)[0]
    sheets = list(root.iter(f"{_GNM}Sheet"))
    if key[0] >= len(sheets):
        return False
    cell = _cell(root, key)
    if cell is None:
        cells = sheets[key[0]].find(f"{_GNM}Cells")
        if cells is None:
            return False
        cell = ET.SubElement(cells, f"{_GNM}Cell", {"Row": str(key[1]), "Col": str(key[2])})
    cell.attrib.pop("ExprID", None)
    cell.set("ValueType", value_type)
    cell.text = text.lstrip("=")
    return True


def _formula_value(sandbox: Sandbox, path: str, key: tuple[int, int, int]) -> str | None:
    book = read_book(sandbox, path)
    if isinstance(book, str):
        return None
    sheet = book.sheet(key[0])
    if sheet is None:
        return None
    cell = sheet.cell(cell_ref(key[1], key[2]))
    return cell.display if cell.display else None


_EXT = {"ods": ".ods", "xlsx": ".xlsx", "xls": ".xls", "gnumeric": ".gnumeric", "gnumeric-xml": ".gnumeric"}


def _save_book(sandbox: Sandbox, path: str, fmt: str, root: ET.Element) -> None:
    """Write an edited Gnumeric XML tree back to ``path`` in the format it had (ssconvert)."""
    ET.register_namespace("gnm", _GNM[1:-1])
    xml = ET.tostring(root, xml_declaration=True, encoding="utf-8")
    scratch = "/tmp/cua-nearmiss"
    sandbox.write_file(f"{scratch}/edit.gnumeric", gzip.compress(xml))
    out = f"{scratch}/out{_EXT.get(fmt, '.gnumeric')}"
    done = sandbox.exec(["sh", "-c", 'ssconvert "$1" "$2" >/dev/null 2>&1 && cp "$2" "$3"', "sh",
                         f"{scratch}/edit.gnumeric", out, path], timeout_s=60)  # fmt: skip
    sandbox.exec(["rm", "-rf", scratch], timeout_s=10)
    _ok(done.ok, f"ssconvert could not write {path} back")


def _convert_in_place(sandbox: Sandbox, path: str, fmt: str) -> None:
    scratch = "/tmp/cua-nearmiss"
    out = f"{scratch}/out{_EXT[fmt]}"
    done = sandbox.exec(["sh", "-c", 'mkdir -p "$4" && ssconvert "$1" "$2" >/dev/null 2>&1 && cp "$2" "$3"',
                         "sh", path, out, path, scratch], timeout_s=60)  # fmt: skip
    sandbox.exec(["rm", "-rf", scratch], timeout_s=10)
    _ok(done.ok, f"ssconvert could not convert {path} to {fmt}")
