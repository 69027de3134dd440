"""check_sandbox(): the assertions every sandbox backend must pass, fake and real alike.

Like Gymnasium's ``check_env``: one function, run by the tests against every backend, so that
a new backend (a VM, a remote pool) is held to exactly the same contract.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox import errors
from sandbox.actions import Click, Key, Move, TypeText
from sandbox.base import Observation, Sandbox, TextBox
from sandbox.ocr import ocr_available
from sandbox.profile import AppProfile, WriteFile


class ConformanceError(AssertionError):
    """A backend broke the Sandbox contract; the message names the check."""


@dataclass
class ConformanceReport:
    """The checks that passed, in order, and the backend's step timings."""

    passed: list[str] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)


def _expect_raises(
    report: ConformanceReport, name: str, exc_type: type[Exception], fn: Callable[[], object]
) -> None:
    try:
        fn()
    except exc_type:
        report.passed.append(name)
        return
    except Exception as exc:
        raise ConformanceError(
            f"{name}: expected {exc_type.__name__}, got {type(exc).__name__}: {exc}"
        ) from exc
    raise ConformanceError(f"{name}: expected {exc_type.__name__}, nothing was raised")


def _check_observation(obs: Observation, sb: Sandbox, name: str) -> None:
    if not isinstance(obs, Observation):
        raise ConformanceError(f"{name}: expected an Observation, got {type(obs).__name__}")
    if obs.screenshot.size != sb.screen_size:
        raise ConformanceError(f"{name}: screenshot is {obs.screenshot.size}, screen is {sb.screen_size}")
    if obs.screenshot.mode != "RGB":
        raise ConformanceError(f"{name}: screenshot mode is {obs.screenshot.mode}, expected RGB")
    w, h = sb.screen_size
    if not (0 <= obs.cursor[0] < w and 0 <= obs.cursor[1] < h):
        raise ConformanceError(f"{name}: cursor {obs.cursor} is off the {w}x{h} screen")
    if not isinstance(obs.damage, tuple) or not all(
        isinstance(r, tuple) and len(r) == 4 and all(isinstance(v, int) for v in r) for r in obs.damage
    ):
        raise ConformanceError(f"{name}: damage is not a tuple of (x, y, w, h) int tuples: {obs.damage!r}")
    if "total" not in obs.timings:
        raise ConformanceError(f"{name}: timings lack 'total': {dict(obs.timings)}")
    if not isinstance(obs.text, tuple) or not all(isinstance(b, TextBox) for b in obs.text):
        raise ConformanceError(f"{name}: text is not a tuple of TextBox: {obs.text!r}")


def check_sandbox(sb: Sandbox, profile: AppProfile | str, *, close: bool = True) -> ConformanceReport:
    """Run the contract against ``sb`` with ``profile``; raise ConformanceError on the first breach.

    ``profile`` should start an application that accepts clicks and typing without side
    effects outside HOME (a text editor or terminal). With ``close`` the sandbox is closed at
    the end and the post-close behaviour is checked too.
    """
    report = ConformanceReport()
    setup = (WriteFile("conformance/setup.txt", b"from setup\n"),)
    obs = sb.reset(profile, setup=setup)
    _check_observation(obs, sb, "reset")
    if not obs.app_running:
        raise ConformanceError("reset: the application is not running after reset")
    if sb.profile is None:
        raise ConformanceError("reset: sandbox.profile is None after reset")
    report.passed.append("reset returns an observation of the whole screen")

    if sb.read_file("conformance/setup.txt") != b"from setup\n":
        raise ConformanceError("setup: WriteFile step did not write the file")
    report.passed.append("setup steps run")

    w, h = sb.screen_size
    target = (w // 3, h // 3)
    moved = sb.step(Move(*target))
    _check_observation(moved, sb, "step(Move)")
    if moved.cursor != target:
        raise ConformanceError(f"step(Move): cursor at {moved.cursor}, expected {target}")
    report.step_ms.append(float(moved.timings["total"]))
    report.passed.append("move puts the cursor where asked")

    clicked = sb.step(Click(w // 2, h // 2))
    _check_observation(clicked, sb, "step(Click)")
    report.step_ms.append(float(clicked.timings["total"]))
    report.passed.append("click returns an observation")

    _expect_raises(
        report, "off-screen action is refused", errors.OffScreen, lambda: sb.step(Click(w + 5, 10))
    )
    _expect_raises(report, "negative coordinate is refused", errors.OffScreen, lambda: sb.step(Move(-1, 0)))
    _expect_raises(report, "unknown key is refused", errors.UnknownKey, lambda: sb.step(Key(("hyperdrive",))))
    _expect_raises(
        report, "control characters are refused", errors.BadText, lambda: sb.step(TypeText("a\x07b"))
    )
    _check_observation(sb.observe(), sb, "observe after refused actions")
    report.passed.append("sandbox stays usable after refused actions")

    typed = sb.step(TypeText("ok"))
    _check_observation(typed, sb, "step(TypeText)")
    aliased = sb.step(Key(("Return",)))
    _check_observation(aliased, sb, "step(Key alias)")
    report.passed.append("typing and key aliases work")

    result = sb.exec(["echo", "conformance"])
    if result.returncode != 0 or result.stdout != b"conformance\n":
        raise ConformanceError(f"exec(echo): got {result}")
    if sb.exec(["false"]).returncode == 0:
        raise ConformanceError("exec(false): returncode 0")
    report.passed.append("exec returns status and output")

    sb.write_file("conformance/note.txt", "ünïcode\n".encode())
    if sb.read_file("conformance/note.txt") != "ünïcode\n".encode():
        raise ConformanceError("write_file/read_file: content differs")
    _expect_raises(
        report,
        "reading a missing file is a GuestError",
        errors.GuestError,
        lambda: sb.read_file("no/such/file"),
    )
    report.passed.append("files round-trip")

    tree = sb.observe(a11y=True).a11y
    if tree is None:
        raise ConformanceError("observe(a11y=True): a11y is None")
    report.passed.append("observe(a11y=True) returns a tree")

    if sb.observe().text != ():
        raise ConformanceError("observe(): text boxes without ocr=True")
    if ocr_available():
        read = sb.observe(ocr=True)
        _check_observation(read, sb, "observe(ocr=True)")
        if "ocr" not in read.timings:
            raise ConformanceError(f"observe(ocr=True): timings lack 'ocr': {dict(read.timings)}")
        report.passed.append("observe(ocr=True) returns text boxes")

    sb.ping()
    report.passed.append("ping succeeds on a healthy sandbox")

    sb.reset(profile)
    _expect_raises(
        report, "reset restores HOME", errors.GuestError, lambda: sb.read_file("conformance/note.txt")
    )

    if close:
        sb.close()
        sb.close()
        if not sb.closed:
            raise ConformanceError("close: closed is False after close()")
        _expect_raises(report, "use after close is SandboxClosed", errors.SandboxClosed, sb.observe)
        report.passed.append("close is idempotent")
    return report
