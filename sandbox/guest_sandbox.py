"""GuestSandbox: the part of a sandbox backend that drives a guest agent over a GuestChannel.

Every isolated backend runs the same guest (``sandbox/guest/agent.py``) and differs only in how
it starts the environment around it and reaches it: ``XvfbSandbox`` a bubblewrap container on
the host over a socketpair, ``QemuSandbox`` a VM over a virtio-serial port. What they say to the
guest is the same and lives here: the profile's part of a reset (restore HOME, setup, launch),
actions, observations, commands and files. A backend starts its environment, sets ``_channel``,
and says which of its parts died (``_dead_part``) and how to get a fresh guest (``_restart_guest``).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from sandbox import channel, errors
from sandbox.actions import SandboxAction, to_json, validate
from sandbox.base import A11yNode, ExecResult, Observation, Sandbox
from sandbox.channel import GuestChannel, settle_args
from sandbox.guest_files import home_archive
from sandbox.ocr import ScreenText, with_text
from sandbox.profile import AppProfile, SetupStep, run_setup

TEMPLATES = Path(__file__).parent / "profiles" / "templates"
#: How long the guest reads an accessibility tree on the host before it returns what it has
#: (``A11Y_BUDGET_S`` of the guest agent); multiplied by the backend's slowdown.
A11Y_BUDGET_S = 5.0


class GuestSandbox(Sandbox):
    """A sandbox whose desktop is driven by a guest agent; subclasses own the environment."""

    id: str

    def _init_guest_state(self, screen: tuple[int, int], request_timeout_s: float, encoding: str) -> None:
        """Set the state every guest-driven backend keeps; call first in the constructor."""
        self._screen = screen
        self._timeout = request_timeout_s
        self._encoding = encoding
        self._channel: GuestChannel | None = None
        self._profile: AppProfile | None = None
        self._last_image: Image.Image | None = None
        self._last_seq: int | None = None  # the guest's name for that frame (it patches it)
        self._text = ScreenText()  # OCR of the screen, for observe(ocr=True)
        #: How the guest settled the last step: 'damage' (X DAMAGE events) or 'poll' (frames).
        self.settle_mode: str | None = None
        #: Which rule ended the last step's wait: calm, quiet, idle, max or poll (docs/profiles.md).
        self.settled_by: str | None = None
        #: Whether the last step was calm without waiting for a timer that was due, because such
        #: timers drew nothing after this kind of action in this application (docs/profiles.md).
        self.timer_skipped = False
        #: How the guest captured the last step's frame: full, patched (the last frame with fresh
        #: pixels where the X server drew), reused (nothing drawn) or poll.
        self.captured: str | None = None
        #: Patched or reused frames that differed from a full grab, with ``CUA_CAPTURE=check``.
        self.capture_differs = 0
        self._closed = False
        self.last_reset_timings: dict[str, float] = {}

    # -- what a backend provides ----------------------------------------------------------
    @abc.abstractmethod
    def _dead_part(self) -> errors.SandboxCrashed | None:
        """Return the error for an outer part that died (the display, the VM), or None."""

    @abc.abstractmethod
    def _restart_guest(self, profile: AppProfile) -> None:
        """Replace a guest whose infrastructure was damaged with a fresh one (channel included)."""

    def _apply_policies(self, profile: AppProfile) -> None:
        """Put the profile's application policies in place before it starts (Chromium's)."""
        if profile.chromium_policies:
            raise errors.SandboxUnavailable(
                f"profile {profile.name!r} sets chromium_policies, which {type(self).__name__} cannot apply"
            )

    # -- the profile's part of a reset ----------------------------------------------------
    def _restore(self, prof: AppProfile) -> dict[str, Any]:
        """Have the guest end every process but its own and restore HOME, /tmp and /dev/shm.

        When the guest reports its infrastructure damaged (a socket removed, a daemon killed), or
        cannot restore (a process that outlived SIGKILL, a file it could not remove), the guest
        is replaced (``_restart_guest``) and asked again.
        """
        folders = [TEMPLATES / "common"]
        if prof.home_template is not None:
            folders.append(Path(prof.home_template))
        archive = home_archive(folders)
        try:
            reply, _ = self._request("restore", blob=archive, timeout_s=20.0)
        except errors.GuestError as exc:
            reply = {"damaged": str(exc)}
        if reply.get("damaged"):
            self._restart_guest(prof)
            reply, _ = self._request("restore", blob=archive, timeout_s=20.0)
            if reply.get("damaged"):
                raise errors.GuestError(f"sandbox {self.id} cannot be restored: {reply['damaged']}")
        return reply

    def _start_app(
        self,
        prof: AppProfile,
        steps: Sequence[SetupStep],
        app_args: Sequence[str],
        timings: dict[str, float],
    ) -> None:
        """Restore the files, run the setup steps, launch the application; fill ``timings``."""
        t1 = time.monotonic()
        restored = self._restore(prof)
        timings["kill_ms"] = float(restored.get("kill_ms", 0.0))
        timings["home_ms"] = float(restored.get("files_ms", 0.0))
        timings["restore_ms"] = (time.monotonic() - t1) * 1000
        self._profile = prof
        self._apply_policies(prof)
        t2 = time.monotonic()
        run_setup(self, steps)
        timings["setup_ms"] = (time.monotonic() - t2) * 1000
        env = prof.launch_env()
        env.setdefault("LANG", prof.locale)
        env.setdefault("LC_ALL", prof.locale)
        ready_s = prof.ready.timeout_s * self._slowdown
        launch, _ = self._request(
            "launch",
            {
                "argv": [*prof.command, *app_args],
                "env": env,
                "ready": {
                    "wm_class": prof.ready.wm_class,
                    "title": prof.ready.title,
                    "timeout_s": ready_s,
                    "paint": prof.ready.paint,
                },
            },
            timeout_s=ready_s + 10.0,
        )
        timings["window_ms"] = float(launch.get("window_ms", 0.0))
        timings["paint_ms"] = float(launch.get("paint_ms", 0.0))
        timings["settle_ms"] = float(launch.get("settle_ms", 0.0))

    # -- requests -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise errors.SandboxClosed(f"sandbox {self.id} is closed")

    def _request(
        self, op: str, args: dict[str, Any] | None = None, blob: bytes = b"", timeout_s: float | None = None
    ) -> tuple[dict[str, Any], bytes]:
        self._check_open()
        if self._channel is None:
            raise errors.SandboxError(f"sandbox {self.id} has no application yet: call reset(profile) first")
        dead = self._dead_part()
        if dead is not None and self._channel.broken is None:
            self._channel.close(dead)
        try:
            return self._channel.request(
                op, args, blob, timeout_s if timeout_s is not None else self._timeout
            )
        except errors.GuestError as exc:
            dead = self._dead_part()
            if dead is not None:
                raise dead from exc
            raise

    def _to_observation(self, meta: dict[str, Any], blob: bytes, timings: dict[str, float]) -> Observation:
        obs = channel.observation(meta, blob, self._last_image, timings)
        self._last_image, self._last_seq = obs.screenshot, meta.get("seq")
        return obs

    def _check_app(self, meta: dict[str, Any]) -> None:
        app = meta.get("app") or {}
        if app.get("launched") and not app.get("running"):
            code = app.get("returncode")
            name = self._profile.name if self._profile else "application"
            how = (
                f"was killed by signal {-code}" if isinstance(code, int) and code < 0 else f"exited ({code})"
            )
            raise errors.AppCrashed(f"{name} {how} in sandbox {self.id}; reset it to continue", code)

    def step(self, action: SandboxAction, *, settle_s: float = 1.0) -> Observation:
        """Validate and execute one action, wait for the screen to settle, return it."""
        t0 = time.monotonic()
        action = validate(action, self._screen)
        timeout = settle_s + self._timeout + (float(getattr(action, "seconds", 0.0)))
        if hasattr(action, "text"):
            timeout += len(action.text) * 0.05
        meta, blob = self._request(
            "act",
            {
                "action": to_json(action),
                "settle_s": settle_s,
                "settle": settle_args(self._profile),
                "encoding": self._encoding,
                **channel.frame_args(self._last_image, self._last_seq),
            },
            timeout_s=timeout,
        )
        t1 = time.monotonic()
        self.settle_mode = meta.get("settle_mode")
        self.settled_by = meta.get("settled_by")
        self.timer_skipped = bool(meta.get("timer_skipped"))
        self.captured = meta.get("captured")
        self.capture_differs = int(meta.get("capture_differs", 0))
        timings = {
            "action": float(meta.get("action_ms", 0.0)),
            "settle": float(meta.get("settle_ms", 0.0)),
            "capture": float(meta.get("capture_ms", 0.0)),
        }
        obs = self._to_observation(meta, blob, timings)
        self._check_app(meta)
        timings["transfer"] = (t1 - t0) * 1000 - timings["action"] - timings["settle"] - timings["capture"]
        timings["total"] = (time.monotonic() - t0) * 1000
        return obs

    def observe(self, *, a11y: bool = False, ocr: bool = False) -> Observation:
        """Return the current screen (and the accessibility tree, the OCR text boxes if asked)."""
        t0 = time.monotonic()
        meta, blob = self._request(
            "observe",
            {
                "a11y": a11y,
                "a11y_budget_s": A11Y_BUDGET_S * self._slowdown,
                "encoding": self._encoding,
                **channel.frame_args(self._last_image, self._last_seq),
            },
            timeout_s=self._timeout + (2 * A11Y_BUDGET_S * self._slowdown if a11y else 0.0),
        )
        timings = {"capture": float(meta.get("capture_ms", 0.0))}
        obs = self._to_observation(meta, blob, timings)
        if ocr:
            obs = with_text(self._text, obs, timings)
        timings["total"] = (time.monotonic() - t0) * 1000
        return obs

    def accessibility_tree(self) -> tuple[A11yNode, ...]:
        """Return the visible, enabled nodes of every application's accessibility tree."""
        budget_s = A11Y_BUDGET_S * self._slowdown
        meta, _ = self._request("a11y", {"a11y_budget_s": budget_s}, timeout_s=self._timeout + 2 * budget_s)
        return tuple(channel.a11y_node(row) for row in meta["rows"])

    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float = 30.0,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run a command in the sandbox (as the application's user, in its HOME)."""
        if isinstance(argv, str) or not argv:
            raise errors.GuestError(
                "exec takes a non-empty argv list, e.g. ['ls', '-l']; use ['sh', '-c', ...]"
            )
        meta, _ = self._request(
            "exec",
            {"argv": list(argv), "timeout_s": timeout_s, "env": dict(env or {})},
            blob=stdin,
            timeout_s=timeout_s + self._timeout,
        )
        return channel.exec_result(meta)

    def read_file(self, path: str) -> bytes:
        """Return a file's content from inside the sandbox."""
        _, blob = self._request("read_file", {"path": path})
        return blob

    def write_file(self, path: str, content: bytes, mode: int = 0o644) -> None:
        """Write a file inside the sandbox as the application's user."""
        if isinstance(content, str):
            content = content.encode()
        self._request("write_file", {"path": path, "mode": mode}, blob=content)
