"""FakeSandbox: a test double that replays scripted screens, for tests that need no X server.

It implements the whole ``Sandbox`` contract in memory: screens are images with a title and
an accessibility tree; clicks inside a region, key combinations and typed strings move to
another screen. HOME is a dict of files, ``exec`` understands a handful of commands (``echo``,
``cat``, ``true``, ``false``, ``ls``) plus any handler a test registers, and ``crash()`` or
``hang()`` simulate a dying or frozen application. It passes ``check_sandbox`` like every backend.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from PIL import Image, ImageDraw

from sandbox import errors
from sandbox.actions import Click, Drag, Key, Move, SandboxAction, Scroll, TypeText, Wait, validate
from sandbox.base import A11yNode, ExecResult, Observation, Sandbox
from sandbox.ocr import ScreenText, with_text
from sandbox.profile import AppProfile, SetupStep, run_setup

Region = tuple[int, int, int, int]
ExecHandler = Callable[[Sequence[str], bytes, dict[str, bytes]], ExecResult]


@dataclass
class FakeScreen:
    """One scripted screen and where each input leads from it."""

    image: Image.Image
    title: str | None = None
    a11y: tuple[A11yNode, ...] = ()
    on_click: list[tuple[Region, str]] = field(default_factory=list)
    """(x, y, w, h) regions; a click inside one goes to the named screen."""
    on_key: dict[tuple[str, ...], str] = field(default_factory=dict)
    """Canonical key combinations (as in ``Key.keys``) and the screen each leads to."""
    on_type: dict[str, str] = field(default_factory=dict)
    """Exact typed strings and the screen each leads to."""


def button_screen(
    size: tuple[int, int], label: str, region: Region, title: str, colour: str = "#dfe6ee"
) -> Image.Image:
    """Draw a plain screen with one labelled button; handy for building fake scenarios."""
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    x, y, w, h = region
    draw.rectangle((0, 0, size[0], 28), fill="#3c5a80")
    draw.text((10, 8), title, fill="white")
    draw.rectangle((x, y, x + w, y + h), fill="#ffffff", outline="#204060", width=2)
    draw.text((x + 10, y + h // 2 - 6), label, fill="black")
    return image


def demo_screens(size: tuple[int, int] = (1280, 800)) -> dict[str, FakeScreen]:
    """Return a two-screen scenario: a dialog with an OK button, and the screen after it."""
    ok = (560, 380, 160, 40)
    node = A11yNode("push button", "OK", "", ("enabled", "focusable"), ok, 1, (0, 0), "fake")
    frame = A11yNode("frame", "Confirm", "", ("active", "enabled"), (0, 0, *size), 0, (0,), "fake")
    return {
        "start": FakeScreen(
            button_screen(size, "OK", ok, "Confirm"), "Confirm", (frame, node), on_click=[(ok, "done")]
        ),
        "done": FakeScreen(
            button_screen(size, "Done", (560, 380, 160, 40), "Finished", "#e8f5e0"), "Finished"
        ),
    }


class FakeSandbox(Sandbox):
    """A scripted, in-memory sandbox (test double shipped with the package)."""

    def __init__(
        self,
        screens: Mapping[str, FakeScreen] | None = None,
        start: str = "start",
        screen: tuple[int, int] = (1280, 800),
        exec_handlers: Mapping[str, ExecHandler] | None = None,
    ) -> None:
        """Build a fake from named screens (default: :func:`demo_screens`) starting at ``start``."""
        self._screens = dict(screens) if screens is not None else demo_screens(screen)
        if start not in self._screens:
            raise errors.ProfileError(f"start screen {start!r} is not among {sorted(self._screens)}")
        for name, scr in self._screens.items():
            if scr.image.size != screen:
                raise errors.ProfileError(f"screen {name!r} is {scr.image.size}, expected {screen}")
        self._start = start
        self._screen = screen
        self._handlers: dict[str, ExecHandler] = {**_BUILTIN, **(exec_handlers or {})}
        self._current: str | None = None
        self._cursor = (screen[0] // 2, screen[1] // 2)
        self._files: dict[str, bytes] = {}
        self._profile: AppProfile | None = None
        self._app_running = False
        self._hung = False
        self._closed = False
        self.actions: list[SandboxAction] = []
        """Every action executed since the last reset, in order."""
        self._text = ScreenText()  # OCR of the scripted screens, for observe(ocr=True)

    @property
    def current_screen(self) -> str | None:
        """Return the name of the screen shown now."""
        return self._current

    def crash(self) -> None:
        """Simulate the application dying: the next step or ping raises AppCrashed."""
        self._app_running = False

    def hang(self) -> None:
        """Simulate a frozen guest: every later request raises GuestHung."""
        self._hung = True

    def _check(self) -> None:
        if self._closed:
            raise errors.SandboxClosed("fake sandbox is closed")
        if self._hung:
            raise errors.GuestHung("fake guest is hung")
        if self._current is None:
            raise errors.SandboxError("fake sandbox has no application yet: call reset(profile) first")

    def reset(
        self,
        profile: AppProfile | str,
        setup: Sequence[SetupStep] = (),
        app_args: Sequence[str] = (),
    ) -> Observation:
        """Go back to the start screen with an empty HOME, then apply the setup steps."""
        if self._closed:
            raise errors.SandboxClosed("fake sandbox is closed")
        if self._hung:
            raise errors.GuestHung("fake guest is hung")
        name = profile.name if isinstance(profile, AppProfile) else str(profile)
        self._profile = (
            profile if isinstance(profile, AppProfile) else AppProfile(name=name, command=(name, *app_args))
        )
        self._files = {}
        self._current = self._start
        self._cursor = (self._screen[0] // 2, self._screen[1] // 2)
        self._app_running = True
        self.actions = []
        run_setup(self, setup)
        return self.observe()

    def step(self, action: SandboxAction, *, settle_s: float = 1.0) -> Observation:
        """Validate the action, follow the scripted transition if any, and observe."""
        t0 = time.monotonic()
        self._check()
        action = validate(action, self._screen)
        if not self._app_running:
            raise errors.AppCrashed("fake application is not running; reset it to continue", -9)
        self.actions.append(action)
        before = self._current
        assert before is not None
        screen = self._screens[before]
        target: str | None = None
        if isinstance(action, Move | Click | Drag | Scroll):
            self._cursor = (action.to_x, action.to_y) if isinstance(action, Drag) else (action.x, action.y)
        if isinstance(action, Click):
            for (x, y, w, h), dest in screen.on_click:
                if x <= action.x < x + w and y <= action.y < y + h:
                    target = dest
                    break
        elif isinstance(action, Key):
            target = screen.on_key.get(action.keys)
        elif isinstance(action, TypeText):
            target = screen.on_type.get(action.text)
        elif isinstance(action, Wait):
            time.sleep(min(action.seconds, 0.01))
        if target is not None:
            if target not in self._screens:
                raise errors.GuestError(f"fake screen {before!r} leads to unknown screen {target!r}")
            self._current = target
        obs = self._observe(False)
        return Observation(
            obs.screenshot,
            obs.cursor,
            obs.window_title,
            obs.app_running,
            None,
            changed=self._current != before,
            damage=((0, 0, *self._screen),) if self._current != before else (),  # the whole screen
            timings={"action": 0.0, "settle": 0.0, "total": (time.monotonic() - t0) * 1000},
        )

    def _observe(self, a11y: bool) -> Observation:
        assert self._current is not None
        screen = self._screens[self._current]
        return Observation(
            screenshot=screen.image.copy(),
            cursor=self._cursor,
            window_title=screen.title,
            app_running=self._app_running,
            a11y=screen.a11y if a11y else None,
            changed=True,
            timings={"total": 0.0},
        )

    def observe(self, *, a11y: bool = False, ocr: bool = False) -> Observation:
        """Return the current scripted screen (with the text OCR reads on its image, if asked)."""
        self._check()
        obs = self._observe(a11y)
        if ocr:
            timings = dict(obs.timings)
            obs = with_text(self._text, obs, timings)
            timings["total"] = timings["ocr"]
            obs = replace(obs, timings=timings)
        return obs

    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float = 30.0,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run a built-in or registered fake command; unknown commands exit 127 like a shell."""
        self._check()
        if isinstance(argv, str) or not argv:
            raise errors.GuestError("exec takes a non-empty argv list, e.g. ['ls', '-l']")
        handler = self._handlers.get(argv[0])
        if handler is None:
            return ExecResult(127, b"", f"{argv[0]}: command not found in FakeSandbox\n".encode())
        return handler(argv, stdin, self._files)

    def read_file(self, path: str) -> bytes:
        """Return a file written earlier in this episode."""
        self._check()
        key = _key(path)
        if key not in self._files:
            raise errors.GuestError(f"cannot read {path}: No such file or directory")
        return self._files[key]

    def write_file(self, path: str, content: bytes, mode: int = 0o644) -> None:
        """Store a file in the fake HOME."""
        self._check()
        self._files[_key(path)] = bytes(content)

    def home_listing(self) -> dict[str, tuple[str, int, str]]:
        """Return the fake HOME as {relative path: (kind, size, SHA-256)}, folders implied by files.

        The task validators' HOME listing reads this instead of running python3 in the sandbox.
        """
        self._check()
        out: dict[str, tuple[str, int, str]] = {}
        for key, data in self._files.items():
            if key.startswith("/"):
                continue
            parts = key.split("/")
            for i in range(1, len(parts)):
                out["/".join(parts[:i])] = ("d", 0, "")
            out[key] = ("f", len(data), hashlib.sha256(data).hexdigest())
        return out

    def ping(self, timeout_s: float = 2.0) -> None:
        """Raise GuestHung or AppCrashed as simulated."""
        self._check()
        if not self._app_running:
            raise errors.AppCrashed("fake application is not running", -9)

    def close(self) -> None:
        """Mark the fake closed; idempotent."""
        self._closed = True


def _key(path: str) -> str:
    return path[len("/home/user/") :] if path.startswith("/home/user/") else path


def _echo(argv: Sequence[str], stdin: bytes, files: dict[str, bytes]) -> ExecResult:
    return ExecResult(0, (" ".join(argv[1:]) + "\n").encode(), b"")


def _cat(argv: Sequence[str], stdin: bytes, files: dict[str, bytes]) -> ExecResult:
    if len(argv) == 1:
        return ExecResult(0, stdin, b"")
    out = b""
    for path in argv[1:]:
        if _key(path) not in files:
            return ExecResult(1, out, f"cat: {path}: No such file or directory\n".encode())
        out += files[_key(path)]
    return ExecResult(0, out, b"")


def _ls(argv: Sequence[str], stdin: bytes, files: dict[str, bytes]) -> ExecResult:
    return ExecResult(0, "".join(f"{name}\n" for name in sorted(files)).encode(), b"")


_BUILTIN: dict[str, ExecHandler] = {
    "echo": _echo,
    "cat": _cat,
    "ls": _ls,
    "true": lambda argv, stdin, files: ExecResult(0, b"", b""),
    "false": lambda argv, stdin, files: ExecResult(1, b"", b""),
}
