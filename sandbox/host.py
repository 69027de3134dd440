"""HostScreen: the same contract on a display the user already has, without isolation.

For the rare run that must act on the person's real desktop, and only when they ask for it:
the constructor refuses unless ``consent=True``. The guest agent runs as the user on that
display, without D-Bus/window-manager start-up and without the right to kill processes.
Nothing is isolated or restored: ``reset`` launches the application and runs no setup steps
(they would write into the real HOME), ``exec`` runs real commands, and ``close`` leaves the
application running. Use an ``XvfbSandbox`` for everything else.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from sandbox import channel, errors
from sandbox.actions import SandboxAction, to_json, validate
from sandbox.base import ExecResult, Observation, Sandbox
from sandbox.channel import GuestChannel
from sandbox.guest_files import GUEST_MODULES, GUEST_SOURCE, write_bytecode
from sandbox.ocr import ScreenText, with_text
from sandbox.process import kill_group, spawn
from sandbox.profile import AppProfile, SetupStep, find_profile
from sandbox.xvfb import DEFAULT_GUEST_PREFIX


class HostScreen(Sandbox):
    """Acts on an existing X display (default ``$DISPLAY``) as the current user. No isolation."""

    def __init__(self, display: str | None = None, *, consent: bool = False, request_timeout_s: float = 10.0):
        """Connect to ``display``; SandboxError unless ``consent`` says the user asked for this."""
        if not consent:
            raise errors.SandboxError(
                "acting on the real screen needs the user's explicit consent (e.g. `cua run --real-screen`); "
                "use an XvfbSandbox otherwise"
            )
        self._display = display or os.environ.get("DISPLAY", "")
        if not self._display:
            raise errors.SandboxUnavailable("no display: set DISPLAY or pass display=':0'")
        self._timeout = request_timeout_s
        self._profile: AppProfile | None = None
        self._closed = False
        self._last_image: Image.Image | None = None
        self._last_seq: int | None = None  # the guest's name for that frame
        self._text = ScreenText()  # OCR of the screen, for observe(ocr=True)
        prefix = os.environ.get("CUA_GUEST_PREFIX", DEFAULT_GUEST_PREFIX)
        python = f"{prefix}/bin/python" if os.access(f"{prefix}/bin/python", os.X_OK) else sys.executable
        self._dir = Path(tempfile.mkdtemp(prefix="cua-host-"))
        for name in ("run.py", *GUEST_MODULES):
            shutil.copy2(GUEST_SOURCE / name, self._dir / name)
        write_bytecode(self._dir)
        host_end, guest_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ, DISPLAY=self._display)
        try:
            self._guest: subprocess.Popen[bytes] | None = spawn(
                [
                    python,
                    "-s",
                    str(self._dir / "run.py"),
                    "--fd",
                    "0",
                    "--no-infra",
                    "--display",
                    self._display,
                ],
                stdin=guest_end,
                env=env,
                stderr=open(self._dir / "guest.log", "wb"),
            )
        finally:
            guest_end.close()
        self._channel = GuestChannel(
            host_end, lambda detail: errors.GuestDied(f"host-screen guest exited ({detail})")
        )
        try:
            msg, _ = self._channel.receive(timeout_s=20.0)
        except errors.SandboxError:
            log = (self._dir / "guest.log").read_text(errors="replace")[-600:]
            self.close()
            raise errors.GuestDied(f"guest agent did not start on {self._display}: {log}") from None
        if not msg.get("ok"):
            self.close()
            raise errors.SandboxUnavailable(f"cannot use display {self._display}: {msg.get('message')}")
        hello, _ = self._channel.request("hello")
        self._screen = (int(hello["screen"][0]), int(hello["screen"][1]))

    def _request(
        self, op: str, args: dict[str, Any] | None = None, blob: bytes = b"", timeout_s: float | None = None
    ) -> tuple[dict[str, Any], bytes]:
        if self._closed:
            raise errors.SandboxClosed("host screen is closed")
        return self._channel.request(op, args, blob, timeout_s if timeout_s is not None else self._timeout)

    def reset(
        self, profile: AppProfile | str, setup: Sequence[SetupStep] = (), app_args: Sequence[str] = ()
    ) -> Observation:
        """Launch the application on the real desktop; nothing is reset or restored."""
        if setup:
            raise errors.SandboxError(
                "setup steps are refused on the real screen: they would change your files"
            )
        prof = find_profile(profile)
        self._request(
            "launch",
            {
                "argv": [*prof.command, *app_args],
                "env": prof.launch_env(),
                "ready": {
                    "wm_class": prof.ready.wm_class,
                    "title": prof.ready.title,
                    "timeout_s": prof.ready.timeout_s,
                    "paint": prof.ready.paint,
                },
            },
            timeout_s=prof.ready.timeout_s + 10.0,
        )
        self._profile = prof
        return self.observe()

    def _observation(self, meta: dict[str, Any], blob: bytes, timings: dict[str, float]) -> Observation:
        obs = channel.observation(meta, blob, self._last_image, timings)
        self._last_image, self._last_seq = obs.screenshot, meta.get("seq")
        if not (meta.get("app") or {}).get("launched"):
            obs = replace(obs, app_running=True)  # nothing launched: the user's desktop is running
        return obs

    def step(self, action: SandboxAction, *, settle_s: float = 1.0) -> Observation:
        """Execute one action on the real screen and observe it settled."""
        t0 = time.monotonic()
        action = validate(action, self._screen)
        meta, blob = self._request(
            "act",
            {
                "action": to_json(action),
                "settle_s": settle_s,
                "settle": channel.settle_args(self._profile),
                **channel.frame_args(self._last_image, self._last_seq),
            },
            timeout_s=settle_s + self._timeout + float(getattr(action, "seconds", 0.0)),
        )
        timings = {"action": float(meta.get("action_ms", 0.0)), "settle": float(meta.get("settle_ms", 0.0))}
        obs = self._observation(meta, blob, timings)
        timings["total"] = (time.monotonic() - t0) * 1000
        return obs

    def observe(self, *, a11y: bool = False, ocr: bool = False) -> Observation:
        """Return the real screen (its accessibility tree if asked and available, OCR text if asked)."""
        t0 = time.monotonic()
        meta, blob = self._request(
            "observe", {"a11y": a11y, **channel.frame_args(self._last_image, self._last_seq)}
        )
        timings: dict[str, float] = {}
        obs = self._observation(meta, blob, timings)
        if ocr:
            obs = with_text(self._text, obs, timings)
        timings["total"] = (time.monotonic() - t0) * 1000
        return obs

    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float = 30.0,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run a real command as the user (no isolation)."""
        if isinstance(argv, str) or not argv:
            raise errors.GuestError("exec takes a non-empty argv list")
        meta, _ = self._request(
            "exec",
            {"argv": list(argv), "timeout_s": timeout_s, "env": dict(env or {})},
            stdin,
            timeout_s + 10,
        )
        return channel.exec_result(meta)

    def read_file(self, path: str) -> bytes:
        """Read a real file."""
        return self._request("read_file", {"path": path})[1]

    def write_file(self, path: str, content: bytes, mode: int = 0o644) -> None:
        """Write a real file."""
        self._request("write_file", {"path": path, "mode": mode}, content)

    def ping(self, timeout_s: float = 2.0) -> None:
        """Check the guest and the display answer."""
        self._request("ping", timeout_s=timeout_s)

    def close(self) -> None:
        """Stop the guest; the application stays open on the desktop."""
        if self._closed:
            return
        self._closed = True
        if self._channel.broken is None and not self._channel.busy:
            try:
                self._channel.request("shutdown", timeout_s=2.0)
            except errors.SandboxError:
                pass
        self._channel.close()
        kill_group(self._guest)
        self._guest = None
        shutil.rmtree(self._dir, ignore_errors=True)
