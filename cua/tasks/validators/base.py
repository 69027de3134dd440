"""The validator contract: ValidatorVerdict, Check (whose subclasses register their kind) and Context.

Also ``parse_check``, which reads any registered kind from a task file, and ``validate_state``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cua.tasks.errors import Where
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


@dataclass
class Context:
    """What checks of one validation share: the sandbox and caches of expensive reads."""

    sandbox: Sandbox
    base: Path | None = None
    """The folder relative host paths are resolved against (the task file's folder)."""
    _tree: tuple[A11yNode, ...] | None = None
    _title: tuple[str | None] | None = None
    _sheets: dict[tuple[str, str | int], list[list[str]] | str] = field(default_factory=dict)

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


def validate_state(sandbox: Sandbox, check: Check, base: Path | None = None) -> ValidatorVerdict:
    """Run ``check`` against ``sandbox``'s current state.

    ``base``: the folder that relative host paths in the check (expected files) are under,
    normally the task file's folder. A wrong outcome is a low score with reasons, never an
    exception; a sandbox that broke (crashed, hung) raises its ``SandboxError``: that is no
    verdict on the task.
    """
    return check.run(Context(sandbox, base))
