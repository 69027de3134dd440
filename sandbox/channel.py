"""The host end of the guest protocol: length-prefixed JSON frames with a binary payload.

Transport-agnostic: the Xvfb backend hands it one end of a socketpair; a VM backend would hand
it a TCP or virtio-serial stream. Errors the guest reports come back as ``sandbox.errors``
classes; a closed stream or a missed deadline marks the channel broken for good.
The reply decoders (observations, accessibility rows, exec results) live here too, so every
backend that speaks to a guest reads its replies the same way.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from sandbox import errors
from sandbox.base import A11yNode, ExecResult, Observation
from sandbox.profile import AppProfile, SettleWindows

HEADER = struct.Struct("!II")  # json length, payload length; same as sandbox/guest/agent.py

_KINDS: dict[str, type[errors.SandboxError]] = {
    "InvalidAction": errors.InvalidAction,
    "OffScreen": errors.OffScreen,
    "UnknownKey": errors.UnknownKey,
    "BadText": errors.BadText,
    "AppNotReady": errors.AppNotReady,
    "AppCrashed": errors.AppCrashed,
    "DisplayDied": errors.DisplayDied,
    "ExecTimeout": errors.ExecTimeout,
    "GuestError": errors.GuestError,
}


class GuestChannel:
    """A request/response channel to one guest agent; one request at a time (thread-safe)."""

    def __init__(self, sock: socket.socket, on_lost: Callable[[str], errors.SandboxError]) -> None:
        """Wrap a connected stream; ``on_lost`` turns a broken stream into the right error."""
        self._sock = sock
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self._next_id = 1
        self._broken: errors.SandboxError | None = None

    @property
    def broken(self) -> errors.SandboxError | None:
        """Return the error that broke the channel, or None while it works."""
        return self._broken

    def receive(self, timeout_s: float) -> tuple[dict[str, Any], bytes]:
        """Read one frame (used for the guest's unsolicited hello)."""
        with self._lock:
            return self._recv(time.monotonic() + timeout_s, "hello")

    def request(
        self, op: str, args: dict[str, Any] | None = None, blob: bytes = b"", timeout_s: float = 10.0
    ) -> tuple[dict[str, Any], bytes]:
        """Send one request and return (result, payload); raise the guest's error as ours."""
        with self._lock:
            if self._broken is not None:
                raise self._broken
            rid = self._next_id
            self._next_id += 1
            data = json.dumps({"id": rid, "op": op, "args": args or {}}).encode()
            deadline = time.monotonic() + timeout_s
            try:
                self._sock.settimeout(timeout_s)
                self._sock.sendall(HEADER.pack(len(data), len(blob)) + data)
                if blob:
                    self._sock.sendall(blob)
            except TimeoutError:
                raise self._break(
                    errors.GuestHung(f"guest did not accept '{op}' within {timeout_s} s")
                ) from None
            except OSError as exc:
                raise self._break(self._on_lost(f"sending '{op}' failed: {exc}")) from None
            msg, payload = self._recv(deadline, op)
        if msg.get("ok"):
            result = msg.get("result")
            return (result if isinstance(result, dict) else {}), payload
        kind = str(msg.get("kind", "GuestError"))
        message = str(msg.get("message", "guest error"))
        cls = _KINDS.get(kind, errors.GuestError)
        if issubclass(cls, errors.SandboxCrashed):
            raise self._break(cls(message))
        raise cls(message)

    def _recv(self, deadline: float, op: str) -> tuple[dict[str, Any], bytes]:
        try:
            jlen, blen = HEADER.unpack(self._read(HEADER.size, deadline))
            msg = json.loads(self._read(jlen, deadline))
            payload = self._read(blen, deadline) if blen else b""
        except TimeoutError:
            raise self._break(errors.GuestHung(f"guest did not answer '{op}' in time")) from None
        except (OSError, EOFError, ValueError) as exc:
            raise self._break(self._on_lost(f"connection lost during '{op}': {exc}")) from None
        if not isinstance(msg, dict):
            raise self._break(errors.GuestError(f"malformed reply to '{op}'"))
        return msg, payload

    def _read(self, n: int, deadline: float) -> bytes:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self._sock.settimeout(remaining)
            k = self._sock.recv_into(view[got:], n - got)
            if k == 0:
                raise EOFError("guest closed the connection")
            got += k
        return bytes(buf)

    def _break(self, exc: errors.SandboxError) -> errors.SandboxError:
        self._broken = exc
        return exc

    @property
    def busy(self) -> bool:
        """Return whether a request is in flight right now."""
        return self._lock.locked()

    def close(self, reason: errors.SandboxError | None = None) -> None:
        """Close the stream; later requests raise ``reason`` (or the error that broke it)."""
        if self._broken is None:
            self._broken = reason or errors.SandboxClosed("sandbox is closed")
        try:
            self._sock.close()
        except OSError:
            pass


def a11y_node(row: dict[str, Any]) -> A11yNode:
    """Build an accessibility node from one row of a guest reply."""
    x, y, w, h = row["bbox"]
    return A11yNode(
        role=row["role"],
        name=row["name"],
        text=row["text"],
        states=tuple(row["states"]),
        bbox=(int(x), int(y), int(w), int(h)),
        depth=int(row["depth"]),
        path=tuple(row["path"]),
        app=row["app"],
    )


#: ``poll`` here makes every step settle by comparing screenshots, even where DAMAGE works;
#: ``damage`` makes it wait out the profile's windows, without watching the sandbox's threads.
SETTLE_ENV = "CUA_SETTLE"
SETTLE_MODES = ("poll", "damage")
#: ``full`` here makes every settled frame a grab of the whole screen (not the last frame patched
#: where the X server says it drew); ``check`` patches and compares with a full grab as well,
#: counting mismatches (``capture_differs`` in the act reply): for tests and benchmarks.
CAPTURE_ENV = "CUA_CAPTURE"
CAPTURE_MODES = ("full", "check")


def settle_args(profile: AppProfile | None) -> dict[str, Any]:
    """Return the ``settle`` argument of an ``act`` request: the profile's windows, the mode."""
    windows = profile.settle if profile is not None else SettleWindows()
    args: dict[str, Any] = {
        "app": profile.name if profile is not None else "",
        "quiet_s": windows.quiet_ms / 1000,
        "idle_s": windows.idle_ms / 1000,
        "timer_s": windows.timer_ms / 1000,
    }
    mode = os.environ.get(SETTLE_ENV, "")
    if mode in SETTLE_MODES:
        args["mode"] = mode
    capture = os.environ.get(CAPTURE_ENV, "")
    if capture in CAPTURE_MODES:
        args["capture"] = capture
    return args


def exec_result(meta: dict[str, Any]) -> ExecResult:
    """Build the result of an ``exec`` reply (output travels base64-encoded)."""
    return ExecResult(
        int(meta["returncode"]), base64.b64decode(meta["stdout"]), base64.b64decode(meta["stderr"])
    )


def frame_args(previous: Image.Image | None, seq: int | None) -> dict[str, Any]:
    """Return the part of an ``observe``/``act`` request naming the frame this side holds.

    The guest sends "same" or a patch only against that frame (``seq`` from its last reply);
    with none (None), the whole frame.
    """
    return {"base": seq if previous is not None else None}


def observation(
    meta: dict[str, Any], blob: bytes, previous: Image.Image | None, timings: dict[str, float]
) -> Observation:
    """Build an observation from an ``observe``/``act`` reply; ``previous`` serves a "same" frame.

    Fills ``timings`` with 'decode' (and 'a11y' when the tree was asked for).
    """
    t0 = time.monotonic()
    w, h = meta["size"]
    if meta.get("same") and previous is not None:
        image = previous  # unchanged screen: the guest did not send it again
    elif meta.get("patch") is not None:
        if previous is None or previous.size != (w, h):
            raise errors.GuestError("the guest sent a patch for a frame this sandbox does not hold")
        # Whole-width runs of rows drawn since the last frame, pasted into a copy of it.
        image = previous.copy()
        at = 0
        for y, rows in meta["patch"]:
            size = w * rows * 4
            image.paste(Image.frombuffer("RGB", (w, rows), blob[at : at + size], "raw", "BGRX", 0, 1), (0, y))
            at += size
    elif meta.get("encoding") == "png":
        image = Image.open(io.BytesIO(blob)).convert("RGB")
    else:
        # A read-only view of the bytes: Pillow copies it before any drawing, so it may be shared.
        image = Image.frombuffer("RGB", (w, h), blob, "raw", "BGRX", 0, 1)
    timings["decode"] = (time.monotonic() - t0) * 1000
    a11y = None
    if "a11y" in meta:
        a11y = tuple(a11y_node(row) for row in meta["a11y"])
        timings["a11y"] = float(meta.get("a11y_ms", 0.0))
    app = meta.get("app") or {}
    return Observation(
        screenshot=image,
        cursor=(int(meta["cursor"][0]), int(meta["cursor"][1])),
        window_title=meta.get("title"),
        app_running=bool(app.get("running")),
        a11y=a11y,
        changed=bool(meta.get("changed", True)),
        damage=tuple((int(x), int(y), int(w), int(h)) for x, y, w, h in meta.get("damage") or ()),
        timings=timings,
    )
