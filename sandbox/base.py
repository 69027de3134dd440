"""The one contract every sandbox backend implements, and the values it returns.

Like Gymnasium's ``Env``: ``reset`` brings a pristine desktop with an application, ``step`` runs
one action and returns the settled screen, ``close`` releases everything. Behaviour that applies
to every backend (recording, step limits, safety) wraps a sandbox instead of adding flags here.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from PIL import Image

from sandbox.actions import SandboxAction
from sandbox.profile import AppProfile, SetupStep


@dataclass(frozen=True)
class A11yNode:
    """One visible, enabled node of the accessibility tree, linearised in document order."""

    role: str
    name: str
    text: str
    states: tuple[str, ...]
    bbox: tuple[int, int, int, int]
    """(x, y, width, height) in screen pixels."""
    depth: int
    path: tuple[int, ...]
    """Child indices from the application root, for locating the node again."""
    app: str

    def center(self) -> tuple[int, int]:
        """Return the screen point at the middle of the node."""
        x, y, w, h = self.bbox
        return x + w // 2, y + h // 2


@dataclass(frozen=True)
class TextBox:
    """One line or word of text read off the screenshot by OCR (``sandbox.ocr``)."""

    text: str
    bbox: tuple[int, int, int, int]
    """(x, y, width, height) in screen pixels."""
    score: float
    """The recogniser's confidence, 0..1."""

    def center(self) -> tuple[int, int]:
        """Return the screen point at the middle of the box."""
        x, y, w, h = self.bbox
        return x + w // 2, y + h // 2


@dataclass(frozen=True)
class Observation:
    """What the sandbox looks like now."""

    screenshot: Image.Image
    """RGB image of the whole screen."""
    cursor: tuple[int, int]
    window_title: str | None
    """Title of the focused window, read from X (not OCR)."""
    app_running: bool
    a11y: tuple[A11yNode, ...] | None = None
    """The accessibility tree, when it was asked for."""
    changed: bool = True
    """Whether the screen differs from before the action (True for a plain observe)."""
    damage: tuple[tuple[int, int, int, int], ...] = ()
    """The areas (x, y, width, height) the X server reported drawn during the step (merged, at
    most 32); empty for an observe, without change, or where the backend cannot tell."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """Milliseconds spent: 'action', 'settle', 'capture', 'a11y', 'ocr', 'total' (what applies)."""
    text: tuple[TextBox, ...] = ()
    """Text boxes read off the screenshot by OCR, top to bottom, when ``observe(ocr=True)`` asked
    for them; empty otherwise."""

    @property
    def size(self) -> tuple[int, int]:
        """Return (width, height) of the screenshot."""
        return self.screenshot.size


@dataclass(frozen=True)
class ExecResult:
    """The outcome of a command run inside the sandbox."""

    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        """Return whether the command exited with status 0."""
        return self.returncode == 0

    @property
    def text(self) -> str:
        """Return stdout decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stdout.decode("utf-8", "replace")


class Sandbox(abc.ABC):
    """An isolated desktop that runs one application at a time and executes low-level actions.

    Not bound to a profile: each ``reset`` may start a different application. Use as a context
    manager; ``close`` is idempotent. Errors are those of ``sandbox.errors``.

    The state every backend keeps the same way lives here: a backend sets ``_screen`` in its
    constructor (with ``_profile = None`` and ``_closed = False``), updates them on reset and close,
    and inherits the properties.
    """

    _screen: tuple[int, int]
    """(width, height) of the screen; set by each backend's constructor."""
    _profile: AppProfile | None
    """The profile of the last reset (None before the first); set by the constructor, then reset."""
    _closed: bool
    """Whether ``close`` was called; set by the constructor (no class default: a backend whose
    constructor failed early must still read as never opened, e.g. in ``__del__``)."""

    _slowdown: float = 1.0
    """How many times slower than on the host this backend runs applications (see ``slowdown``)."""

    @property
    def slowdown(self) -> float:
        """Return how many times slower than on the host this sandbox runs applications.

        1.0 for a container on the host; more for an emulated VM (QEMU under TCG). Whoever waits
        on the application (an oracle's conditions, a readiness timeout) multiplies its timeouts
        by it, so that a slow backend is not failed for being slow.
        """
        return self._slowdown

    @property
    def screen_size(self) -> tuple[int, int]:
        """Return (width, height) of the screen."""
        return self._screen

    @property
    def profile(self) -> AppProfile | None:
        """Return the profile of the last reset, or None before the first."""
        return self._profile

    @abc.abstractmethod
    def reset(
        self,
        profile: AppProfile | str,
        setup: Sequence[SetupStep] = (),
        app_args: Sequence[str] = (),
    ) -> Observation:
        """Bring back a pristine desktop: no processes, HOME from the template, setup, app started."""

    @abc.abstractmethod
    def step(self, action: SandboxAction, *, settle_s: float = 1.0) -> Observation:
        """Execute one action, wait (at most ``settle_s``) for the screen to settle, observe."""

    @abc.abstractmethod
    def observe(self, *, a11y: bool = False, ocr: bool = False) -> Observation:
        """Return the current screen, cursor, focused title and, if asked, the a11y tree.

        With ``ocr=True`` the observation carries the text boxes OCR reads on the screenshot
        (``sandbox.ocr``: cached by screenshot, recomputed only where the screen changed); it
        needs the ``ocr`` extra and raises SandboxUnavailable without it.
        """

    @abc.abstractmethod
    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float = 30.0,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run a command inside the sandbox (same user, HOME and namespaces as the application)."""

    @abc.abstractmethod
    def read_file(self, path: str) -> bytes:
        """Return a file's bytes from inside the sandbox (relative paths are under HOME)."""

    @abc.abstractmethod
    def write_file(self, path: str, content: bytes, mode: int = 0o644) -> None:
        """Write a file inside the sandbox, creating parent folders (relative paths: HOME)."""

    @abc.abstractmethod
    def ping(self, timeout_s: float = 2.0) -> None:
        """Check the sandbox is alive (display, guest, application); raise a SandboxError if not."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop every process of the sandbox and remove its files; safe to call twice."""

    @property
    def closed(self) -> bool:
        """Return whether ``close`` was called."""
        return self._closed

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
