r"""Oracle solutions as data: GUI actions on targets found on the live screen, and waits on conditions.

An oracle is a list of steps in the task file; every pointer action names its target as an
accessibility node (see ``cua.tasks.targets``), resolved against the screen when the step runs,
so an oracle survives windows that open elsewhere. It drives the application only through the
sandbox's mouse and keyboard, like an agent; it never writes result files itself::

    oracle:
      - click: {role: toggle button, name: "7"}           # waits until the node is shown
      - click: {role: table cell, name: report.txt}
        count: 2                                          # double click; button: right for menus
      - type: "Hello\n"                                   # newline types Return
      - key: ctrl+s                                       # a hotkey
        id: save                                          # a name near misses can refer to
        until: {file_changed: notes.txt}                  # act, then wait for this
      - drag: {from: {name: a.txt}, to: {name: archive}}
      - scroll: {target: {role: table}, dy: 3}
      - wait_for: {node: {role: dialog, name: Save As}}

Waits poll a condition with a bounded timeout (``timeout_s``, default 10 s); there is no fixed
sleep. Conditions: ``node`` / ``gone`` (a target appears / disappears), ``changed`` (a target's
text differs from before the action), ``file_exists``,
``file_absent``, ``file_changed`` (its content differs from before the action), ``title`` (the
focused window's title matches a regex), ``command`` (exits 0).
"""

from __future__ import annotations

import abc
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from cua.tasks.errors import OracleFailed, Where
from cua.tasks.targets import Target, a11y_tree, describe_tree, parse_target
from cua.tasks.validators.base import Move
from sandbox.actions import Click, Drag, Key, SandboxAction, Scroll, TypeText, canonical_keys, check_text
from sandbox.base import Sandbox
from sandbox.errors import SandboxError

DEFAULT_TIMEOUT_S = 10.0
POLL_S = 0.05


# -- conditions -------------------------------------------------------------------------------
class Condition(abc.ABC):
    """Something about the sandbox that becomes true; polled, never slept on."""

    kind: ClassVar[str]

    def snapshot(self, sandbox: Sandbox) -> Any:
        """Record what the condition compares against, just before the action (default: nothing)."""
        return None

    @abc.abstractmethod
    def holds(self, sandbox: Sandbox, before: Any) -> bool:
        """Return whether the condition is true now."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Return a short description for logs and errors."""

    @abc.abstractmethod
    def to_json(self) -> Any:
        """Return the task-file form (without the kind key)."""


@dataclass(frozen=True)
class NodeShown(Condition):
    """A target is in the accessibility tree."""

    target: Target
    kind: ClassVar[str] = "node"

    def holds(self, sandbox: Sandbox, before: Any) -> bool:
        """Look for the target."""
        return self.target.find(a11y_tree(sandbox)) is not None

    def describe(self) -> str:
        """Describe it."""
        return f"{self.target.describe()} is shown"

    def to_json(self) -> Any:
        """Return the target."""
        return self.target.to_json()


@dataclass(frozen=True)
class NodeGone(Condition):
    """A target is no longer in the accessibility tree."""

    target: Target
    kind: ClassVar[str] = "gone"

    def holds(self, sandbox: Sandbox, before: Any) -> bool:
        """Look for the target."""
        return self.target.find(a11y_tree(sandbox)) is None

    def describe(self) -> str:
        """Describe it."""
        return f"{self.target.describe()} is gone"

    def to_json(self) -> Any:
        """Return the target."""
        return self.target.to_json()


@dataclass(frozen=True)
class NodeChanged(Condition):
    """A target's text (or name) differs from what it was just before the action.

    For results whose value the oracle should not presume (a calculator display, a field), so
    the same oracle also runs unchanged in near misses that produce a different value.
    """

    target: Target
    kind: ClassVar[str] = "changed"

    def _value(self, sandbox: Sandbox) -> tuple[str, str] | None:
        node = self.target.find(a11y_tree(sandbox))
        return None if node is None else (node.name, node.text)

    def snapshot(self, sandbox: Sandbox) -> Any:
        """Remember the node's name and text."""
        return self._value(sandbox)

    def holds(self, sandbox: Sandbox, before: Any) -> bool:
        """Compare with the value before."""
        now = self._value(sandbox)
        return now is not None and now != before

    def describe(self) -> str:
        """Describe it."""
        return f"{self.target.describe()} changed"

    def to_json(self) -> Any:
        """Return the target."""
        return self.target.to_json()


@dataclass(frozen=True)
class PathExists(Condition):
    """A path exists."""

    path: str
    kind: ClassVar[str] = "file_exists"

    def holds(self, sandbox: Sandbox, before: Any) -> bool:
        """Ask the sandbox."""
        return sandbox.exec(["test", "-e", self.path], timeout_s=10).ok

    def describe(self) -> str:
        """Describe it."""
        return f"{self.path} exists"

    def to_json(self) -> Any:
        """Return the path."""
        return self.path


@dataclass(frozen=True)
class PathAbsent(Condition):
    """Nothing exists at a path."""

    path: str
    kind: ClassVar[str] = "file_absent"

    def holds(self, sandbox: Sandbox, before: Any) -> bool:
        """Ask the sandbox."""
        return not sandbox.exec(["test", "-e", self.path], timeout_s=10).ok

    def describe(self) -> str:
        """Describe it."""
        return f"{self.path} is absent"

    def to_json(self) -> Any:
        """Return the path."""
        return self.path


def _digest(sandbox: Sandbox, path: str) -> str | None:
    try:
        return hashlib.sha256(sandbox.read_file(path)).hexdigest()
    except SandboxError:
        return None


@dataclass(frozen=True)
class FileChanged(Condition):
    """A file's content differs from what it was just before the action (created counts)."""

    path: str
    kind: ClassVar[str] = "file_changed"

    def snapshot(self, sandbox: Sandbox) -> Any:
        """Remember the content's digest (None: no file)."""
        return _digest(sandbox, self.path)

    def holds(self, sandbox: Sandbox, before: Any) -> bool:
        """Compare the digest with the one before."""
        now = _digest(sandbox, self.path)
        return now is not None and now != before

    def describe(self) -> str:
        """Describe it."""
        return f"{self.path} changed"

    def to_json(self) -> Any:
        """Return the path."""
        return self.path


@dataclass(frozen=True)
class TitleMatches(Condition):
    """The focused window's title matches a regex."""

    pattern: str
    kind: ClassVar[str] = "title"

    def holds(self, sandbox: Sandbox, before: Any) -> bool:
        """Read the title from X."""
        return re.search(self.pattern, sandbox.observe().window_title or "") is not None

    def describe(self) -> str:
        """Describe it."""
        return f"the window title matches {self.pattern!r}"

    def to_json(self) -> Any:
        """Return the pattern."""
        return self.pattern


@dataclass(frozen=True)
class CommandSucceeds(Condition):
    """A command run in the sandbox exits 0."""

    argv: tuple[str, ...]
    kind: ClassVar[str] = "command"

    def holds(self, sandbox: Sandbox, before: Any) -> bool:
        """Run it."""
        return sandbox.exec(list(self.argv), timeout_s=10).ok

    def describe(self) -> str:
        """Describe it."""
        return f"`{' '.join(self.argv)}` succeeds"

    def to_json(self) -> Any:
        """Return the argv."""
        return list(self.argv)


CONDITION_KINDS = (
    "node",
    "gone",
    "changed",
    "file_exists",
    "file_absent",
    "file_changed",
    "title",
    "command",
)


def parse_condition(data: Any, where: Where) -> Condition:
    """Parse a condition mapping such as ``{file_exists: out.txt}``."""
    if not isinstance(data, dict) or len(data) != 1:
        raise where.error(f"a mapping with one condition among {list(CONDITION_KINDS)}", data)
    kind, value = next(iter(data.items()))
    at = where.at(str(kind))
    if kind == "node":
        return NodeShown(parse_target(value, at))
    if kind == "gone":
        return NodeGone(parse_target(value, at))
    if kind == "changed":
        return NodeChanged(parse_target(value, at))
    if kind in ("file_exists", "file_absent", "file_changed"):
        if not isinstance(value, str) or not value:
            raise at.error("a file path", value)
        if kind == "file_changed":
            return FileChanged(value)
        return PathAbsent(value) if kind == "file_absent" else PathExists(value)
    if kind == "title":
        if not isinstance(value, str):
            raise at.error("a regular expression", value)
        try:
            re.compile(value)
        except re.error as exc:
            raise at.error(f"a valid regular expression ({exc})", value) from None
        return TitleMatches(value)
    if kind == "command":
        argv = ["sh", "-c", value] if isinstance(value, str) else value
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise at.error("a list of strings (or one shell command string)", value)
        return CommandSucceeds(tuple(argv))
    raise where.error(f"a condition among {list(CONDITION_KINDS)}", kind)


# -- steps ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OracleStep(abc.ABC):
    """One oracle step: an action (or a pure wait), an optional id and an optional ``until``."""

    id: str | None = field(default=None, kw_only=True)
    until: Condition | None = field(default=None, kw_only=True)
    timeout_s: float = field(default=DEFAULT_TIMEOUT_S, kw_only=True)
    kind: ClassVar[str]

    @abc.abstractmethod
    def actions(self, runner: OracleRunner) -> list[SandboxAction]:
        """Return the sandbox actions for this step, resolving targets on the live screen."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Return a one-line description for logs."""

    @abc.abstractmethod
    def body(self) -> dict[str, Any]:
        """Return the task-file form of the step's own keys."""

    @property
    def is_action(self) -> bool:
        """Return whether the step sends input (a pure wait does not)."""
        return True

    def to_json(self) -> dict[str, Any]:
        """Return the task-file form."""
        data = self.body()
        if self.id is not None:
            data["id"] = self.id
        if self.until is not None:
            data["until"] = {self.until.kind: self.until.to_json()}
        if self.timeout_s != DEFAULT_TIMEOUT_S:
            data["timeout_s"] = self.timeout_s
        return data


@dataclass(frozen=True)
class ClickStep(OracleStep):
    """Click a target (``count`` 2 double-clicks; ``button`` right opens context menus)."""

    target: Target
    button: str = "left"
    count: int = 1
    kind: ClassVar[str] = "click"

    def actions(self, runner: OracleRunner) -> list[SandboxAction]:
        """Find the target, then click at its point."""
        x, y = runner.locate(self.target, self.timeout_s)
        return [Click(x, y, self.button, self.count)]  # type: ignore[arg-type]

    def describe(self) -> str:
        """Describe it."""
        how = {1: "click", 2: "double-click", 3: "triple-click"}[self.count]
        side = "" if self.button == "left" else f" ({self.button})"
        return f"{how}{side} {self.target.describe()}"

    def body(self) -> dict[str, Any]:
        """Return the mapping form."""
        data: dict[str, Any] = {"click": self.target.to_json()}
        if self.button != "left":
            data["button"] = self.button
        if self.count != 1:
            data["count"] = self.count
        return data


@dataclass(frozen=True)
class TypeStep(OracleStep):
    """Type text (newline types Return, tab types Tab)."""

    text: str
    kind: ClassVar[str] = "type"

    def actions(self, runner: OracleRunner) -> list[SandboxAction]:
        """One TypeText."""
        return [TypeText(self.text)]

    def describe(self) -> str:
        """Describe it."""
        return f"type {self.text!r}"

    def body(self) -> dict[str, Any]:
        """Return the mapping form."""
        return {"type": self.text}


@dataclass(frozen=True)
class KeyStep(OracleStep):
    """Press a key or a hotkey, ``repeat`` times."""

    keys: tuple[str, ...]
    repeat: int = 1
    kind: ClassVar[str] = "key"

    def actions(self, runner: OracleRunner) -> list[SandboxAction]:
        """One Key action per repeat."""
        return [Key(self.keys) for _ in range(self.repeat)]

    def describe(self) -> str:
        """Describe it."""
        return f"key {'+'.join(self.keys)}" + (f" x{self.repeat}" if self.repeat > 1 else "")

    def body(self) -> dict[str, Any]:
        """Return the mapping form."""
        data: dict[str, Any] = {"key": "+".join(self.keys)}
        if self.repeat != 1:
            data["repeat"] = self.repeat
        return data


@dataclass(frozen=True)
class DragStep(OracleStep):
    """Press on one target, move to another, release."""

    source: Target
    dest: Target
    kind: ClassVar[str] = "drag"

    def actions(self, runner: OracleRunner) -> list[SandboxAction]:
        """Find both targets, then drag."""
        x, y = runner.locate(self.source, self.timeout_s)
        tx, ty = runner.locate(self.dest, self.timeout_s)
        return [Drag(x, y, tx, ty)]

    def describe(self) -> str:
        """Describe it."""
        return f"drag {self.source.describe()} to {self.dest.describe()}"

    def body(self) -> dict[str, Any]:
        """Return the mapping form."""
        return {"drag": {"from": self.source.to_json(), "to": self.dest.to_json()}}


@dataclass(frozen=True)
class ScrollStep(OracleStep):
    """Scroll over a target by notches (positive ``dy``: down)."""

    target: Target
    dy: int = 0
    dx: int = 0
    kind: ClassVar[str] = "scroll"

    def actions(self, runner: OracleRunner) -> list[SandboxAction]:
        """Find the target, then scroll there."""
        x, y = runner.locate(self.target, self.timeout_s)
        return [Scroll(x, y, self.dx, self.dy)]

    def describe(self) -> str:
        """Describe it."""
        return f"scroll {self.target.describe()} by ({self.dx}, {self.dy})"

    def body(self) -> dict[str, Any]:
        """Return the mapping form."""
        data: dict[str, Any] = {"target": self.target.to_json()}
        if self.dy:
            data["dy"] = self.dy
        if self.dx:
            data["dx"] = self.dx
        return {"scroll": data}


@dataclass(frozen=True)
class WaitStep(OracleStep):
    """Wait until a condition holds (bounded by ``timeout_s``); sends no input."""

    condition: Condition
    kind: ClassVar[str] = "wait_for"

    def actions(self, runner: OracleRunner) -> list[SandboxAction]:
        """None: the wait is the step's ``until``."""
        return []

    @property
    def is_action(self) -> bool:
        """A wait is not an action."""
        return False

    def describe(self) -> str:
        """Describe it."""
        return f"wait until {self.condition.describe()}"

    def body(self) -> dict[str, Any]:
        """Return the mapping form."""
        return {"wait_for": {self.condition.kind: self.condition.to_json()}}

    def to_json(self) -> dict[str, Any]:
        """Return the task-file form (its condition is its body, not an ``until``)."""
        data = self.body()
        if self.id is not None:
            data["id"] = self.id
        if self.timeout_s != DEFAULT_TIMEOUT_S:
            data["timeout_s"] = self.timeout_s
        return data


STEP_KINDS = ("click", "type", "key", "drag", "scroll", "wait_for")
_COMMON = {"id", "until", "timeout_s"}
_EXTRA = {"click": {"button", "count"}, "key": {"repeat"}}


def parse_keys(value: Any, where: Where) -> tuple[str, ...]:
    """Parse ``ctrl+s`` or ``[ctrl, s]`` into canonical key names."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split("+")] if value != "+" else ["+"]
        parts = [p for p in parts if p] or [value]
    elif isinstance(value, list) and all(isinstance(k, str) for k in value):
        parts = list(value)
    else:
        raise where.error("a key like 'enter' or a hotkey like 'ctrl+s' (or a list of key names)", value)
    try:
        return canonical_keys(parts)
    except SandboxError as exc:
        raise where.error(f"known key names ({exc})", value) from None


def parse_steps(data: Any, where: Where) -> tuple[OracleStep, ...]:
    """Parse an oracle: a non-empty list of steps."""
    if not isinstance(data, list) or not data:
        raise where.error("a non-empty list of oracle steps", data)
    steps = tuple(parse_step(item, where.at(i)) for i, item in enumerate(data))
    ids = [s.id for s in steps if s.id is not None]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise where.error("unique step ids", dupes)
    return steps


def parse_step(data: Any, where: Where) -> OracleStep:
    """Parse one oracle step."""
    if not isinstance(data, dict):
        raise where.error(f"a step mapping with one of {list(STEP_KINDS)}", data)
    kinds = [k for k in STEP_KINDS if k in data]
    if len(kinds) != 1:
        raise where.error(f"exactly one step kind among {list(STEP_KINDS)}", sorted(map(str, data)))
    kind = kinds[0]
    extra = set(data) - {kind} - _COMMON - _EXTRA.get(kind, set())
    if extra:
        raise where.error(
            f"only the keys {sorted({kind} | _COMMON | _EXTRA.get(kind, set()))}", sorted(extra)
        )
    step_id = data.get("id")
    if step_id is not None and not isinstance(step_id, str):
        raise where.at("id").error("a string", step_id)
    timeout = data.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise where.at("timeout_s").error("a number of seconds in (0, 300]", timeout)
    until = parse_condition(data["until"], where.at("until")) if "until" in data else None
    common: dict[str, Any] = {"id": step_id, "until": until, "timeout_s": float(timeout)}
    value = data[kind]
    at = where.at(kind)
    if kind == "click":
        button = data.get("button", "left")
        if button not in ("left", "middle", "right"):
            raise where.at("button").error("left, middle or right", button)
        count = data.get("count", 1)
        if count not in (1, 2, 3) or isinstance(count, bool):
            raise where.at("count").error("1, 2 or 3", count)
        return ClickStep(parse_target(value, at), button, count, **common)
    if kind == "type":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise at.error("the text to type", value)
        try:
            check_text(str(value))
        except SandboxError as exc:
            raise at.error(f"typeable text ({exc})", value) from None
        return TypeStep(str(value), **common)
    if kind == "key":
        repeat = data.get("repeat", 1)
        if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= 100:
            raise where.at("repeat").error("an integer from 1 to 100", repeat)
        return KeyStep(parse_keys(value, at), repeat, **common)
    if kind == "drag":
        if not isinstance(value, dict) or set(value) != {"from", "to"}:
            raise at.error("a mapping with 'from' and 'to' targets", value)
        return DragStep(
            parse_target(value["from"], at.at("from")), parse_target(value["to"], at.at("to")), **common
        )
    if kind == "scroll":
        if not isinstance(value, dict) or "target" not in value or set(value) - {"target", "dx", "dy"}:
            raise at.error("a mapping with 'target' and 'dy' (and/or 'dx')", value)
        d = {k: value.get(k, 0) for k in ("dx", "dy")}
        for k, v in d.items():
            if not isinstance(v, int) or isinstance(v, bool):
                raise at.at(k).error("an integer number of notches", v)
        return ScrollStep(parse_target(value["target"], at.at("target")), d["dy"], d["dx"], **common)
    if until is not None:
        raise where.at("until").error(
            "no 'until' on a wait_for step (its condition is the wait)", None, show_got=False
        )
    return WaitStep(parse_condition(value, at), **{**common, "until": None})


def count_actions(steps: Sequence[OracleStep]) -> int:
    """Return how many inputs an oracle sends (waits excluded, key repeats counted)."""
    return sum((s.repeat if isinstance(s, KeyStep) else 1) for s in steps if s.is_action)


# -- running ----------------------------------------------------------------------------------
@dataclass
class OracleRun:
    """What running an oracle did: steps, inputs sent, time taken, and a log line per step."""

    steps: int = 0
    actions: int = 0
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    """Every input sent, with the node a click was aimed at: the trajectory validators read."""


class OracleRunner:
    """Runs oracle steps on a sandbox: resolve targets, act, wait on conditions."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        settle_s: float = 0.2,
        poll_s: float = POLL_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        lenient_wait_s: float | None = None,
    ) -> None:
        """``settle_s`` bounds each action's wait for a still screen; conditions do the real waiting.

        ``lenient_wait_s``: for an altered oracle (a generated near miss), whose conditions may
        never hold: each ``until`` waits at most this long and a timeout is no failure.
        Every wait (settle, a target appearing, a condition) is multiplied by the sandbox's
        ``slowdown``: the steps' timeouts are written for a sandbox on the host.
        """
        self.scale = sandbox.slowdown
        self.lenient_wait_s = None if lenient_wait_s is None else lenient_wait_s * self.scale
        self.sandbox = sandbox
        self.settle_s = settle_s * self.scale
        self.poll_s = poll_s
        self._clock = clock
        self._sleep = sleep
        self._aimed: dict[str, str] | None = None
        self.current = OracleRun()

    def locate(self, target: Target, timeout_s: float) -> tuple[int, int]:
        """Return the point of ``target``, polling the tree until it appears; raise OracleFailed.

        ``timeout_s`` is the step's, for the host: it is multiplied by the sandbox's slowdown.
        """
        timeout_s *= self.scale
        deadline = self._clock() + timeout_s
        while True:
            nodes = a11y_tree(self.sandbox)
            node = target.find(nodes)
            if node is not None:
                self._aimed = {"role": node.role, "name": node.name}
                return target.point(node)
            if self._clock() >= deadline:
                raise OracleFailed(
                    f"{target.describe()} did not appear within {timeout_s:g} s; the screen shows: "
                    f"{describe_tree(nodes)}"
                )
            self._sleep(self.poll_s)

    def wait(self, condition: Condition, before: Any, timeout_s: float) -> float:
        """Poll ``condition`` until it holds; return the seconds waited; raise OracleFailed.

        ``timeout_s`` is the step's, for the host: it is multiplied by the sandbox's slowdown.
        """
        timeout_s *= self.scale
        start = self._clock()
        while not condition.holds(self.sandbox, before):
            if self._clock() - start >= timeout_s:
                raise OracleFailed(f"waited {timeout_s:g} s for: {condition.describe()}")
            self._sleep(self.poll_s)
        return self._clock() - start

    def run(
        self, steps: Sequence[OracleStep], before_step: Callable[[OracleStep], None] | None = None
    ) -> OracleRun:
        """Run ``steps`` in order; ``before_step`` is called before each (near-miss checkpoints).

        ``current`` is the run in progress (its ``moves`` so far, for a checkpoint's validation).
        """
        result = self.current = OracleRun()
        t0 = self._clock()
        for index, step in enumerate(steps):
            if before_step is not None:
                before_step(step)
            ts = self._clock()
            try:
                condition = step.condition if isinstance(step, WaitStep) else step.until
                snap = condition.snapshot(self.sandbox) if condition is not None else None
                self._aimed = None
                for action in step.actions(self):
                    self.sandbox.step(action, settle_s=self.settle_s)
                    result.actions += 1
                    hit = self._aimed if action.type in ("click", "drag", "scroll") else None
                    result.moves.append(Move({"type": action.type, **asdict(action)}, hit))
                waited = 0.0
                if condition is not None and self.lenient_wait_s is not None:
                    limit = min(step.timeout_s * self.scale, self.lenient_wait_s)
                    try:
                        waited = self.wait(condition, snap, limit / self.scale)
                    except OracleFailed:
                        waited = limit
                elif condition is not None:
                    waited = self.wait(condition, snap, step.timeout_s)
            except OracleFailed as exc:
                raise OracleFailed(f"oracle step {index + 1} ({step.describe()}): {exc}") from None
            result.steps += 1
            extra = f", waited {waited:.2f} s" if condition is not None else ""
            result.log.append(f"{index + 1:2d}. {step.describe()} ({self._clock() - ts:.2f} s{extra})")
        result.seconds = self._clock() - t0
        return result
