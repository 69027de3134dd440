"""The validator contract: ValidatorVerdict, Check (whose subclasses register their kind) and Context.

Also ``parse_check``, which reads any registered kind from a task file, ``validate_state``, and
the evidence a check may use beside the final state: a ``Baseline`` recorded when the task
started (``Check.capture`` stores what a check will compare against; the HOME listing feeds the
side-effect guard) and the ``Trajectory`` of recorded inputs (for checks of the method).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cua.tasks.errors import TaskError, Where
from cua.tasks.targets import a11y_tree
from cua.tasks.validators.ssconvert import read_sheet
from sandbox.base import A11yNode, Sandbox
from sandbox.errors import SandboxError

EPS = 1e-9
#: How much of a file or an output a reason quotes.
QUOTE = 60


@dataclass(frozen=True)
class ValidatorVerdict:
    """A validator's outcome: a score in [0, 1] and the reasons behind it, one line each."""

    score: float
    reasons: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """Return whether the task counts as done (the score is 1)."""
        return self.score >= 1.0 - EPS

    def explain(self) -> str:
        """Return the reasons as an indented block of text."""
        return "\n".join(self.reasons)


def ok(text: str) -> ValidatorVerdict:
    """Return a passing verdict with one reason."""
    return ValidatorVerdict(1.0, (f"PASS {text}",))


def fail(text: str, score: float = 0.0) -> ValidatorVerdict:
    """Return a failing verdict (``score``: partial credit) with one reason."""
    return ValidatorVerdict(score, (f"FAIL {text}",))


def quote(text: str) -> str:
    """Return ``text`` quoted for a reason, cut to QUOTE characters."""
    shown = text if len(text) <= QUOTE else text[: QUOTE - 3] + "..."
    return repr(shown)


class NoBaseline(TaskError, LookupError):
    """A check needs what the task's start recorded, and nothing was recorded (or not that).

    Checks catch it and fail with its message; it never escapes a validation.
    """


@dataclass
class Capture:
    """What ``Check.capture`` records at a task's start: values by key, read back at validation."""

    sandbox: Sandbox
    data: dict[str, Any] = field(default_factory=dict)

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` (a check names its keys after its kind and path)."""
        self.data[key] = value


@dataclass(frozen=True)
class Baseline:
    """The state a task started from: the values its checks captured, and HOME's listing.

    ``home`` is a ``cua.tasks.validators.home.HomeListing`` (None when it could not be read).
    """

    task_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    home: Any = None


@dataclass(frozen=True)
class Move:
    """One recorded input of a run and what it hit: the unit a ``trajectory`` check reads.

    ``action``: the action's JSON form (``cua.actions.to_json``: ``{"type": "click", ...}``);
    ``hit``: what a pointer action landed on, as recorded (``{"role": ..., "name": ...}``), or
    None when unknown.
    """

    action: Mapping[str, Any]
    hit: Mapping[str, Any] | None = None


Trajectory = tuple[Move, ...]


@dataclass
class Context:
    """What checks of one validation share: the sandbox, the evidence, caches of expensive reads."""

    sandbox: Sandbox
    base: Path | None = None
    """The folder relative host paths are resolved against (the task file's folder)."""
    baseline: Baseline | None = None
    """What the task's start recorded (None: validated without a start, e.g. a bare check)."""
    trajectory: Trajectory | None = None
    """The run's recorded inputs (None: not recorded)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Reads that checks of one validation share, by the reading module's key."""
    _tree: tuple[A11yNode, ...] | None = None
    _title: tuple[str | None] | None = None
    _sheets: dict[tuple[str, str | int], list[list[str]] | str] = field(default_factory=dict)

    def captured(self, key: str) -> Any:
        """Return what a check captured under ``key`` at the start; NoBaseline when there is none."""
        if self.baseline is None:
            raise NoBaseline(
                "no baseline was recorded for this validation (start the task with cua.tasks.runner.start)"
            )
        if key not in self.baseline.data:
            raise NoBaseline(f"the task's start recorded no {key!r} (the check was added after the start?)")
        return self.baseline.data[key]

    def tree(self) -> tuple[A11yNode, ...]:
        """Return the accessibility tree, read once per validation."""
        if self._tree is None:
            self._tree = a11y_tree(self.sandbox)
        return self._tree

    def title(self) -> str | None:
        """Return the focused window's title, read once per validation."""
        if self._title is None:
            self._title = (self.sandbox.observe().window_title,)
        return self._title[0]

    def host_path(self, path: str) -> Path:
        """Return a host file named in a check: relative paths are under ``base`` when known."""
        named = Path(path)
        return self.base / named if self.base is not None and not named.is_absolute() else named

    def read_text(self, path: str) -> str | None:
        """Return a file's text, or None when it does not exist or cannot be read."""
        try:
            return self.sandbox.read_file(path).decode("utf-8", "replace")
        except SandboxError:
            return None

    def sheet(self, path: str, sheet: str | int = 0, upload: bytes | None = None) -> list[list[str]] | str:
        """Return one sheet of a spreadsheet as rows of displayed values, or an error message.

        ``upload``: the file's bytes, written to a scratch folder in the sandbox first (for an
        expected file that lives on the host).
        """
        key = (path if upload is None else f"upload:{hash(upload)}:{path}", sheet)
        if key not in self._sheets:
            self._sheets[key] = read_sheet(self.sandbox, path, sheet, upload)
        return self._sheets[key]


#: Every check class by its kind, in the order they were declared (the order errors list them).
_KINDS: dict[str, type[Check]] = {}


class Check(abc.ABC):
    """One check of the final state; a subclass that sets ``kind`` registers under it.

    ``from_json`` reads the task-file form (the value under the kind key) and ``to_json`` writes
    it; ``parse_check`` finds the class by the kind key. A kind is declared once: a second class
    with the same kind is a TypeError.
    """

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if kind is None:
            return  # an abstract intermediate class
        known = _KINDS.get(kind)
        # The same class again (its module reloaded) replaces itself; another class is a mistake.
        if known is not None and _name(known) != _name(cls):
            raise TypeError(f"check kind {kind!r} is declared by both {_name(known)} and {_name(cls)}")
        _KINDS[kind] = cls

    @classmethod
    @abc.abstractmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key); TaskSpecError naming the field."""

    @abc.abstractmethod
    def run(self, ctx: Context) -> ValidatorVerdict:
        """Score the sandbox's current state."""

    @abc.abstractmethod
    def to_json(self) -> Any:
        """Return the task-file form of this check (without the kind key)."""

    def capture(self, cap: Capture) -> None:  # noqa: B027 - optional hook, most checks need nothing
        """Record, at the task's start, what ``run`` will compare against (default: nothing)."""

    def paths(self) -> tuple[str, ...]:
        """Return the sandbox paths this check judges: changes there are the task's, not side effects."""
        return ()

    def children(self) -> tuple[Check, ...]:
        """Return the checks this one is made of (combinators); capture and paths recurse through them."""
        return ()

    def walk(self) -> tuple[Check, ...]:
        """Return this check and every check inside it, depth first."""
        out: list[Check] = [self]
        for child in self.children():
            out.extend(child.walk())
        return tuple(out)

    def data(self) -> dict[str, Any]:
        """Return the task-file form with its kind: ``{kind: ...}``."""
        return {self.kind: self.to_json()}


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def check_kinds() -> tuple[str, ...]:
    """Return every registered check kind, in declaration order."""
    return tuple(_KINDS)


def parse_check(data: Any, where: Where) -> Check:
    """Parse a validator mapping (one key naming the check kind); errors name the field."""
    kinds = list(_KINDS)
    if not isinstance(data, dict) or len(data) != 1:
        raise where.error(f"a mapping with exactly one check kind among {kinds}", data)
    kind, value = next(iter(data.items()))
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise where.error(f"a check kind among {kinds}", kind)
    return cls.from_json(value, where.at(str(kind)))


def capture_state(sandbox: Sandbox, check: Check) -> dict[str, Any]:
    """Run every ``capture`` inside ``check`` on ``sandbox`` now; return what they stored."""
    cap = Capture(sandbox)
    for part in check.walk():
        part.capture(cap)
    return cap.data


def validate_state(
    sandbox: Sandbox,
    check: Check,
    base: Path | None = None,
    *,
    baseline: Baseline | None = None,
    trajectory: Trajectory | None = None,
) -> ValidatorVerdict:
    """Run ``check`` against ``sandbox``'s current state.

    ``base``: the folder that relative host paths in the check (expected files) are under,
    normally the task file's folder. ``baseline`` and ``trajectory``: the evidence checks of
    change and of method read (a check that needs one and lacks it fails, saying so). A wrong
    outcome is a low score with reasons, never an exception; a sandbox that broke (crashed,
    hung) raises its ``SandboxError``: that is no verdict on the task.
    """
    return check.run(Context(sandbox, base, baseline, trajectory))
