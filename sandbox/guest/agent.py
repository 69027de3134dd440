"""The guest agent: runs inside a sandbox, executes typed JSON actions, captures the screen.

It is the only process of ours inside the sandbox. It talks to the host over one stream socket
(an inherited file descriptor here; a TCP or virtio port in a VM) with length-prefixed JSON
frames, each followed by an optional binary payload (screenshots, file contents). It accepts
only canonical key names and typed actions: no code from the host or a model is ever executed.

Besides actions it keeps the desktop's infrastructure running (session D-Bus, AT-SPI and the
window manager), launches the application, runs commands for setup and validators, and resets
the sandbox on request: every process it did not start itself is killed, and HOME, /tmp and
/dev/shm are restored, all from inside the sandbox as its own user (see docs/security.md).

Processes are told apart by what the guest started, never by a name a process can choose: the
infrastructure's PIDs (with their start times) are recorded as it starts, before any program of
the sandbox's user runs. The application and every command run in a *session*: a nested
bubblewrap with its own user, PID and IPC namespaces, so nothing started there can even name the
guest or the infrastructure, and a session ends with all its processes at once.

Dependencies: the standard library, python-xlib, Pillow (PNG frames only), and PyGObject for AT-SPI.
This file and ``keys.py`` beside it are copied into the sandbox; they import nothing else of ours.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import time
import zlib
from typing import Any

from keys import CANONICAL_KEYS, KEYSYM_NAMES, MODIFIERS  # type: ignore[import-not-found]

PROTOCOL_VERSION = 2
HEADER = struct.Struct("!II")  # json length, payload length
HERE = os.path.dirname(os.path.abspath(__file__))
#: Session bus configuration: activation only from system folders, no activation environment.
SESSION_BUS_CONF = os.path.join(HERE, "session-bus.conf")
#: Window manager configuration with no action that runs a program (written by the host).
OPENBOX_RC = os.path.join(HERE, "openbox-rc.xml")
#: The accessibility bus's configuration, as AT-SPI ships it.
ATSPI_BUS_CONF = "/usr/share/defaults/at-spi2/accessibility.conf"
ATSPI_REGISTRY = "/usr/libexec/at-spi2-registryd"
#: Folders of the sandbox that its user can write and a reset restores (HOME comes from $HOME).
SCRATCH_DIRS = ("/tmp", "/dev/shm")
MAX_A11Y_NODES = 3000
#: How long one read of the accessibility tree may take before it returns what it has (the host
#: asks for more on a slow backend: ``a11y_budget_s``).
A11Y_BUDGET_S = 5.0
MAX_CHILDREN = 500
TOOLTIP_WAIT_S = 2.0  # longest a click waits for a tooltip over its point to go away
#: Longest the accessibility bus and registry may take to start (``--start-timeout``: an
#: emulated VM needs far longer than the host).
START_TIMEOUT_S = 10.0
X_BUTTONS = {"left": 1, "middle": 2, "right": 3}  # X core button numbers
#: Server-side gap between the clicks of a double click: applications (pcmanfm's list) drop a
#: second press stamped the same millisecond as the first, well inside the 400 ms double-click time.
CLICK_GAP_MS = 40
#: ``poll`` in the guest's environment turns DAMAGE off: settling then compares screenshots.
SETTLE_ENV = "CUA_SETTLE"
#: Settle windows (seconds) when the host sends none: quiet after the last damage, idle with none.
DEFAULT_QUIET_S = 0.06
DEFAULT_IDLE_S = 0.15
#: x86-64 system call numbers of the waits whose timeout the activity watcher decodes.
SYS_POLL, SYS_SELECT, SYS_NANOSLEEP, SYS_FUTEX = 7, 23, 35, 202
SYS_CLOCK_NANOSLEEP, SYS_EPOLL_WAIT, SYS_PSELECT6, SYS_PPOLL = 230, 232, 270, 271
SYS_EPOLL_PWAIT, SYS_EPOLL_PWAIT2 = 281, 441
FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_CMD_MASK, FUTEX_CLOCK_REALTIME = 0, 9, 0x7F, 256
TIMER_ABSTIME = 1
CLOCK_REALTIME = 0
#: Settling by activity: nothing drawn and no thread run for CALM_S, checked every TICK_S.
CALM_S = 0.005
TICK_S = 0.002
#: A timed wait due within this much of now (seconds) keeps a step from settling by calm.
DEFAULT_TIMER_S = 0.25
#: Waits for a due timer, after one kind of action in one application, that must all have
#: drawn nothing before such waits are skipped (TimerLog); and every how many skips one is
#: waited out anyway, to see whether the application still draws nothing then.
TIMER_LEARN = 3
TIMER_PROBE_EVERY = 8
#: Timers due within this much of now are always waited for (a toolkit's next frame, a repaint
#: already scheduled); only those further off are learned and skipped.
TIMER_NEAR_S = 0.03
#: More threads than this in a sandbox and the watcher gives up (settling keeps its windows):
#: it holds a descriptor per thread, and a process spawning threads must not exhaust the guest's.
MAX_WATCHED_THREADS = 2000
FOREVER = float("inf")
#: Most damage rectangles reported with one observation (more are merged into bounding boxes).
MAX_DAMAGE_RECTS = 32
#: Above this share of the screen's rows damaged, a settle sends the whole frame, not a patch
#: (a patch costs in proportion to its rows; a window's worth of rows is still a patch).
PATCH_MAX_SHARE = 0.9
#: Rows per band: a patch is whole-width bands of the screen, and the guest knows the frame the
#: host holds by a CRC-32 per band (not its pixels: 4 MB less per sandbox).
BAND_ROWS = 32
#: The X extensions the guest uses (python-xlib loads only these): input, damage and its regions.
X_EXTENSIONS = ("XTEST", "DAMAGE", "XFIXES")


class GuestFailure(Exception):
    """An error reported to the host; ``kind`` names the host-side exception class."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def now() -> float:
    return time.monotonic()


def recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError("host closed the connection")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_msg(sock: socket.socket) -> tuple[dict[str, Any], bytes]:
    jlen, blen = HEADER.unpack(recv_exact(sock, HEADER.size))
    msg = json.loads(recv_exact(sock, jlen))
    return msg, recv_exact(sock, blen) if blen else b""


def send_msg(sock: socket.socket, msg: dict[str, Any], blob: bytes | bytearray | memoryview = b"") -> None:
    data = json.dumps(msg).encode()
    sock.sendall(HEADER.pack(len(data), len(blob)) + data)
    if blob:
        sock.sendall(blob)


class SerialPort:
    """A virtio-serial port (in a VM) offering the two socket calls the guest uses.

    QEMU's character device is the host's end. While no host program is connected to it (after
    a snapshot is restored, until the host reconnects) a read returns nothing at once; that is
    a wait for the host, not the end of the conversation. A write blocks until the host reads.
    """

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)

    def recv(self, n: int) -> bytes:
        while True:
            data = os.read(self.fd, n)
            if data:
                return data
            time.sleep(0.01)

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]


class Capture:
    """A frame as the guest sends it: whole, as bands to patch into the host's last frame, or the same.

    ``how``: full, patched, reused or poll; ``pixels``: the whole frame's BGRX rows, or the
    patched runs' one after the other; ``runs``: (first row, rows) of each run; ``crcs``: every
    band's CRC-32 (a list, for a whole frame) or those of the patched bands (a dict).
    """

    __slots__ = ("crcs", "how", "pixels", "runs")

    def __init__(
        self,
        how: str,
        pixels: bytes = b"",
        runs: list[tuple[int, int]] | None = None,
        crcs: list[int] | dict[int, int] | None = None,
    ) -> None:
        self.how, self.pixels, self.runs, self.crcs = how, pixels, runs or [], crcs


def _band_runs(rects: list[list[int]], height: int) -> list[tuple[int, int]]:
    """Return the runs of whole bands (first row, rows) that the rectangles touch."""
    bands = sorted(
        {b for _, y, _, h in rects if h > 0 for b in range(y // BAND_ROWS, (y + h - 1) // BAND_ROWS + 1)}
    )
    runs: list[tuple[int, int]] = []
    for band in bands:
        if runs and runs[-1][0] + runs[-1][1] == band * BAND_ROWS:
            runs[-1] = (runs[-1][0], runs[-1][1] + BAND_ROWS)
        else:
            runs.append((band * BAND_ROWS, BAND_ROWS))
    return [(y, min(h, height - y)) for y, h in runs]


class Desktop:
    """The X display as the guest sees it: input through the XTEST extension, capture by GetImage.

    Input is XTEST's fake events on one connection, synced, so the server has taken each action
    before settling starts (pyautogui did this before, on an X connection of its own). Pixels
    are read with the core GetImage request on the same connection: a full frame costs a few
    milliseconds more than through a shared-memory segment (mss), but most frames are patched
    from the damaged areas only, and the segment (4 MB, counted in both the guest and Xvfb) and
    mss's bindings (3 MB) were a fifth of what the guest process weighed.
    """

    def __init__(self, display_name: str) -> None:
        import Xlib.ext

        # python-xlib loads every extension the server offers on connecting; these are the ones
        # used (XFIXES for DAMAGE's regions), the rest cost memory for nothing.
        Xlib.ext.__extensions__ = [e for e in Xlib.ext.__extensions__ if e[0] in X_EXTENSIONS]
        from Xlib import X, display

        self.X = X
        self.dpy = display.Display(display_name)
        self.root = self.dpy.screen().root
        self.width = self.dpy.screen().width_in_pixels
        self.height = self.dpy.screen().height_in_pixels
        self.atoms = {
            name: self.dpy.intern_atom(name)
            for name in (
                "_NET_ACTIVE_WINDOW",
                "_NET_WM_NAME",
                "UTF8_STRING",
                "_NET_CLIENT_LIST",
                "_NET_WM_WINDOW_TYPE",
                "_NET_WM_WINDOW_TYPE_TOOLTIP",
            )
        }
        #: CRC-32 of each band of the frame the host holds, or None when the guest cannot tell
        #: (none sent yet, a reset): a patch or "same" is made against it.
        self.bands: list[int] | None = None
        #: Which frame that is: the host names it (``base``) when it asks for the next one.
        self.frame_seq = 0
        #: The whole last frame, kept only after a polled settle (the next one compares with it).
        self.last_frame: bytes = b""
        #: How the last settled frame was captured: full, patched, reused (``capture``) or poll.
        self.captured = ""
        #: Patched or reused frames that differed from a full grab (counted only when checking).
        self.capture_differs = 0
        self._spare: list[int] | None = None
        #: Characters bound to spare keycodes, least recently typed first.
        self._bound: dict[str, int] = {}
        # A plain desktop colour instead of X's black, so windows stand out to people and models.
        colormap = self.dpy.screen().default_colormap
        self.root.change_attributes(background_pixel=colormap.alloc_color(0x3A00, 0x5A00, 0x7A00).pixel)
        self.root.clear_area(0, 0, self.width, self.height)
        self.dpy.sync()
        self.x_state = self.save_x_state()
        #: What tells the guest the screen changed: 'damage' (X DAMAGE events) or 'poll' (frames).
        self.settle_mode = "poll"
        self.damage_dpy: Any = None
        #: Whether damage was seen since the last frame was captured (always True without DAMAGE).
        self.dirty = True
        #: Which rule ended the last settle: calm, quiet, idle, max or poll (see ``settle``).
        self.settled_by = ""
        #: Whether the last settle was calm without waiting for a due timer (TimerLog).
        self.timer_skipped = False
        #: The log and key of that settle until the next request checks what was drawn since.
        self.skipped: tuple[TimerLog, tuple[str, str]] | None = None
        self._init_damage(display_name)

    # -- server state -------------------------------------------------------------------
    def save_x_state(self) -> dict[str, Any]:
        """Record the X server settings a program could change and a reset must put back."""
        info = self.dpy.display.info
        first, count = info.min_keycode, info.max_keycode - info.min_keycode + 1
        atspi = self.dpy.intern_atom("AT_SPI_BUS")
        prop = self.root.get_full_property(atspi, self.X.AnyPropertyType)
        saver = self.dpy.get_screen_saver()
        return {
            "keymap": (first, [list(syms) for syms in self.dpy.get_keyboard_mapping(first, count)]),
            "modifiers": [list(keys) for keys in self.dpy.get_modifier_mapping()],
            "buttons": list(self.dpy.get_pointer_mapping()),
            "saver": (saver.timeout, saver.interval, saver.prefer_blanking, saver.allow_exposures),
            "atspi": (atspi, prop.property_type, prop.format, prop.value) if prop is not None else None,
        }

    def restore_x_state(self) -> None:
        """Put back the keyboard and button mappings, the screen saver and the AT-SPI address.

        A program could swap mouse buttons, remap keys or point new applications at an
        accessibility bus of its own; the next episode must not inherit that.
        """
        state = self.x_state
        first, keymap = state["keymap"]
        self.dpy.change_keyboard_mapping(first, keymap)
        self.dpy.set_modifier_mapping(state["modifiers"])
        self.dpy.set_pointer_mapping(state["buttons"])
        self.dpy.set_screen_saver(*state["saver"])
        self.dpy.force_screen_saver(self.X.ScreenSaverReset)
        if state["atspi"] is not None:
            atom, kind, fmt, value = state["atspi"]
            self.root.change_property(atom, kind, fmt, value)
        else:
            self.root.delete_property(self.dpy.intern_atom("AT_SPI_BUS"))
        self.dpy.sync()
        self._spare = None

    # -- capture ------------------------------------------------------------------------
    def grab(self) -> bytes:
        """Return the whole screen as BGRX pixels."""
        return self.grab_area(0, 0, self.width, self.height)

    def grab_area(self, x: int, y: int, w: int, h: int) -> bytes:
        """Return an area of the screen as BGRX pixels, rows of ``w * 4`` bytes (depth 24 at 32 bpp)."""
        data = self.root.get_image(x, y, w, h, self.X.ZPixmap, 0xFFFFFFFF).data
        return data if isinstance(data, bytes) else bytes(data)

    def band_crcs(self, pixels: bytes, y: int = 0) -> dict[int, int]:
        """Return the CRC-32 of each band in ``pixels``: whole rows of the screen from row ``y``."""
        stride = self.width * 4
        rows = len(pixels) // stride
        return {
            band: zlib.crc32(
                pixels[(band * BAND_ROWS - y) * stride : (min((band + 1) * BAND_ROWS, y + rows) - y) * stride]
            )
            for band in range(y // BAND_ROWS, -(-(y + rows) // BAND_ROWS))
        }

    def full_capture(self, how: str = "full") -> Capture:
        """Grab the whole screen."""
        return self.whole_capture(self.grab(), how)

    def whole_capture(self, pixels: bytes, how: str) -> Capture:
        """Return ``pixels``, the whole screen, as a capture that replaces the host's frame."""
        crcs = self.band_crcs(pixels)
        return Capture(how, pixels, [(0, self.height)], [crcs[b] for b in range(len(crcs))])

    def after(self, cap: Capture) -> list[int] | None:
        """Return the band CRCs of the frame the host holds once it has received ``cap``."""
        if isinstance(cap.crcs, list):
            return cap.crcs
        if self.bands is None:
            return None
        bands = list(self.bands)
        for band, crc in (cap.crcs or {}).items():
            bands[band] = crc
        return bands

    def capture(self, damage: list[list[int]] | None, check: bool = False) -> Capture:
        """Return the frame after a settle, as a patch of the host's last frame where possible.

        ``damage`` lists every area drawn since that frame (None: not known, so the whole
        screen is grabbed). With no area the last frame is the screen (reused); with a few, the
        bands of rows they touch are read from the server and sent to be patched into it (the
        host keeps the frame, the guest only its band CRCs), which costs the guest, the X server
        and the transfer a fraction of a full frame. ``captured`` says which it was; with
        ``check`` a full grab is compared as well and ``capture_differs`` counts the frames that
        did not match it (tests, benchmarks).
        """
        if damage is None or self.bands is None:
            cap = self.full_capture()
        elif not damage:
            cap = Capture("reused")
        else:
            runs = _band_runs(damage, self.height)
            if sum(h for _, h in runs) > PATCH_MAX_SHARE * self.height:
                cap = self.full_capture()
            else:
                pieces, crcs = [], {}
                for y, h in runs:
                    piece = self.grab_area(0, y, self.width, h)
                    pieces.append(piece)
                    crcs.update(self.band_crcs(piece, y))
                cap = Capture("patched", b"".join(pieces), runs, crcs)
        self.captured = cap.how
        # Drawn after the settle's last round trip (a caret blinking, say) is no fault of the
        # patch: a full grab taken then would not have had it either. Only a difference with no
        # damage to account for it counts (the late damage stays due for the next frame).
        if check and cap.how != "full":
            screen = self.full_capture().crcs
            if screen != self.after(cap) and not self.read_damage(sync=True):
                self.capture_differs += 1
        return cap

    def _init_damage(self, display_name: str) -> None:
        """Watch the root window through the X DAMAGE extension, on a connection of its own.

        Any drawing on the screen (into any window) then arrives as a DamageNotify event naming
        the rectangle; pointer motion makes none. Without the extension, or with
        ``$CUA_SETTLE=poll`` in the guest's environment, settling polls screenshots instead.
        """
        if os.environ.get(SETTLE_ENV, "") == "poll":
            return
        try:
            from Xlib import display
            from Xlib.ext import damage

            dd = display.Display(display_name)
            try:
                if not dd.has_extension("DAMAGE"):
                    raise RuntimeError("no DAMAGE extension")
                dd.damage_query_version()  # the server needs it before any other request
                dd.screen().root.damage_create(damage.DamageReportRawRectangles)
                dd.sync()
            except Exception:
                dd.close()
                raise
        except Exception as exc:
            print(f"guest: DAMAGE unavailable, settling by polling: {exc!r}", file=sys.stderr)
            return
        self.damage_dpy = dd
        self._damage_code = dd.extension_event.DamageNotify
        self.settle_mode = "damage"

    def read_damage(self, rects: list[list[int]] | None = None, sync: bool = False) -> int:
        """Read the damage events already received; return how many (``rects`` gets each area).

        With ``sync``, a round trip first: every drawing the server did before it is then counted.
        """
        dd = self.damage_dpy
        if sync:
            dd.sync()
        count = 0
        while dd.pending_events():
            ev = dd.next_event()
            if ev.type != self._damage_code:
                continue
            count += 1
            if rects is not None:
                a = ev.area
                _add_rect(rects, (int(a.x), int(a.y), int(a.width), int(a.height)), self.width, self.height)
        if count:
            self.dirty = True
        return count

    def take_dirty(self) -> bool:
        """Return whether the screen may differ from the host's last frame, and start counting afresh.

        Call it right before capturing the frame that becomes the host's next one.
        """
        if self.damage_dpy is None:
            return True
        self.check_skipped_timer()
        self.read_damage(sync=True)
        dirty, self.dirty = self.dirty, False
        return dirty

    def drain_damage(self) -> None:
        """Forget the damage so far (before an action), keeping ``dirty`` for the next frame."""
        if self.damage_dpy is not None:
            self.check_skipped_timer()
            self.read_damage(sync=True)

    def forget_frame(self) -> None:
        """Send the next frame whole (after a reset: whatever the host holds is of the past)."""
        self.bands = None
        self.last_frame = b""

    def check_skipped_timer(self) -> None:
        """After a settle that skipped a due timer, tell its log whether the timer drew after all.

        Whatever was drawn since that frame, up to the next request, counts: the pixels where
        damage arrived are read again and compared with the frame. Drawing the same pixels
        again is nothing (galculator's release timer after a click); anything else, the timer's
        or not, ends the skipping for that application and kind of action (TimerLog).
        """
        if self.skipped is None:
            return
        log, key = self.skipped
        self.skipped = None
        rects: list[list[int]] = []
        if self.read_damage(rects, sync=True) and self.bands is not None:
            log.record(key, self.differs(rects))

    def differs(self, rects: list[list[int]]) -> bool:
        """Return whether the screen differs, in the bands ``rects`` touch, from the host's frame."""
        assert self.bands is not None
        for y, h in _band_runs(rects, self.height):
            for band, crc in self.band_crcs(self.grab_area(0, y, self.width, h), y).items():
                if crc != self.bands[band]:
                    return True
        return False

    def settle(
        self,
        max_s: float,
        quiet_s: float = DEFAULT_QUIET_S,
        idle_s: float = DEFAULT_IDLE_S,
        poll: bool = False,
        activity: Activity | None = None,
        timer_s: float = DEFAULT_TIMER_S,
        capture: str = "",
        timers: tuple[TimerLog, tuple[str, str]] | None = None,
    ) -> tuple[Capture, bool, float, list[list[int]] | None]:
        """Wait for the screen to stop changing; return (frame, changed, settle_ms, damage).

        Stops ``quiet_s`` after the last change once something changed, after ``idle_s`` if
        nothing changed at all, and after ``max_s`` in any case (animations, blinking); with
        ``activity``, the quiet and idle windows end a wait only while no thread of the sandbox
        is running or waiting for a CPU (on a loaded machine an application may not have drawn
        within them yet). With
        DAMAGE (and not ``poll``) the changes are the X server's damage events and one frame is
        captured at the end; ``damage`` lists the changed areas [x, y, w, h] (merged, at most
        MAX_DAMAGE_RECTS). Otherwise frames are polled and compared, and ``damage`` is None.

        With ``activity`` it may stop sooner, once *calm*: nothing drawn and no thread of the
        sandbox run for CALM_S, no timed wait due within ``timer_s``, and still nothing drawn
        after a round trip to the server. Nothing can then change the screen until the next
        input. ``settled_by`` says which rule ended the wait. With ``timers`` (a log and the
        key of this application and action kind) a due timer is not waited for when the log
        says such timers draw nothing (TimerLog); the wait is then ``calm`` all the same, and
        ``timer_skipped`` is set.

        The frame comes from ``capture`` and the damage; ``capture`` is the host's
        ``$CUA_CAPTURE``: ``full`` always grabs the whole screen, ``check`` verifies by a full grab.
        """
        self.timer_skipped = False
        self.timer_drew: bool | None = None
        if self.damage_dpy is None or poll:
            pixels, changed, settle_ms = self.settle_polling(max_s, quiet_s, idle_s)
            self.settled_by = self.captured = "poll"
            return self.whole_capture(pixels, "poll"), changed, settle_ms, None
        import select

        if activity is not None and not activity.usable:
            activity = None
        # Damage before the action (read by drain_damage) is not in ``rects``: then the frame
        # cannot be patched from the last one.
        stale = self.dirty
        rects: list[list[int]] = []
        fd = self.damage_dpy.fileno()
        t0 = now()
        deadline = t0 + max_s
        last: float | None = None  # when damage last arrived
        if activity is not None:
            activity.refresh()
            activity.ran()
        calm_since = t0
        timer_due_at: float | None = None  # when calm first waited for a due timer
        timer_wake = FOREVER  # when that timer was due
        at_timer: list[int] | None = None  # the screen's band CRCs then (did the timer draw?)
        while True:
            if self.read_damage(rects):
                last = calm_since = now()
            if activity is not None and activity.ran():
                calm_since = now()
            t = now()
            until = min(deadline, t0 + idle_s if last is None else last + quiet_s)
            if t >= until:
                if t < deadline and activity is not None and activity.busy():
                    # A thread of the sandbox is running or waits for a CPU (a loaded machine):
                    # what it is doing may draw, so the windows do not end the wait yet.
                    select.select([fd], [], [], TICK_S)
                    continue
                self.settled_by = "max" if t >= deadline else "idle" if last is None else "quiet"
                break
            wait = until - t
            if activity is not None:
                wait = min(wait, TICK_S)
                if t - calm_since >= CALM_S:
                    wake = activity.next_wake(t)
                    # A timer due soon but not at once (a toolkit's next frame is within 17 ms)
                    far = t + TIMER_NEAR_S < wake <= t + timer_s
                    learn = far and timer_due_at is None and timers is not None
                    skip = learn and timers is not None and timers[0].skip(timers[1])
                    if wake - t > timer_s or skip:
                        # Confirm afresh: the same threads, none runnable, nothing drawn by now.
                        if activity.refresh() or activity.runnable() or activity.ran():
                            calm_since = now()
                        elif self.read_damage(rects, sync=True):
                            last = calm_since = now()
                        else:
                            self.settled_by = "calm"
                            self.timer_skipped = skip
                            if skip:
                                self.skipped = timers
                            break
                    elif wake > t:
                        if learn:
                            if self.read_damage(rects, sync=True):
                                last = calm_since = now()
                                continue  # drawn meanwhile: not calm after all
                            timer_due_at, timer_wake = t, wake
                            at_timer = self.after(self.capture(None if stale else _merge_rects(rects)))
                        wait = min(until, wake) - t  # nothing to watch before the timer fires
            select.select([fd], [], [], max(wait, 0.0))
        # Damage read after this round trip is counted for the next frame (dirty), never lost.
        if self.read_damage(rects, sync=True):
            last = now()
        self.dirty = False
        merged = _merge_rects(rects)
        frame = self.capture(None if stale or capture == "full" else merged, check=capture == "check")
        if timers is not None and at_timer is not None and now() >= timer_wake:
            # (A wait that ended before the timer fired, by its quiet window, says nothing.)
            # Redrawing the same pixels is drawing nothing (galculator after a click).
            self.timer_drew = self.after(frame) != at_timer
            timers[0].record(timers[1], self.timer_drew)
        return frame, last is not None, (now() - t0) * 1000, merged

    def settle_polling(self, max_s: float, quiet_s: float, idle_s: float) -> tuple[bytes, bool, float]:
        """Capture every 15 ms until the screen stops changing; return (frame, changed, settle_ms)."""
        before = self.last_frame
        t0 = now()
        frame = self.grab()
        changed = frame != before
        stable_since = now()
        while now() - t0 < max_s:
            time.sleep(0.015)
            cur = self.grab()
            if cur != frame:
                frame, stable_since = cur, now()
                changed = changed or cur != before
                continue
            if now() - stable_since >= (quiet_s if changed else idle_s):
                break
        if self.damage_dpy is not None:
            self.read_damage()
        return frame, changed, (now() - t0) * 1000

    # -- windows ------------------------------------------------------------------------
    def _prop(self, win: Any, name: str) -> Any:
        prop = win.get_full_property(self.atoms[name], self.X.AnyPropertyType)
        return prop.value if prop is not None else None

    def wait_for_wm(self, timeout_s: float) -> bool:
        """Wait until the window manager lists its clients (it has finished starting).

        Openbox starts in milliseconds on the host but takes seconds in an emulated VM, where a
        snapshot of a half-started desktop would make every restore finish that start again.
        """
        deadline = now() + timeout_s
        while self._prop(self.root, "_NET_CLIENT_LIST") is None:
            if now() > deadline:
                return False
            time.sleep(0.02)
        return True

    def window_title(self, win: Any) -> str | None:
        value = self._prop(win, "_NET_WM_NAME")
        if value is None:
            name = win.get_wm_name()
            return name if isinstance(name, str) else None
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    def focused_title(self) -> str | None:
        try:
            active = self._prop(self.root, "_NET_ACTIVE_WINDOW")
            if active is None or not len(active) or not active[0]:
                return None
            return self.window_title(self.dpy.create_resource_object("window", int(active[0])))
        except Exception:
            return None

    def windows(self) -> list[tuple[str, str]]:
        """Return (wm_class, title) of each viewable top-level client window."""
        return [(cls, title) for _, cls, title in self.client_windows()]

    def client_windows(self) -> list[tuple[int, str, str]]:
        """Return (id, wm_class, title) of each viewable top-level client window."""
        out = []
        clients = self._prop(self.root, "_NET_CLIENT_LIST")
        wins = (
            [self.dpy.create_resource_object("window", int(w)) for w in clients]
            if clients is not None
            else self.root.query_tree().children
        )
        for win in wins:
            try:
                if win.get_attributes().map_state != self.X.IsViewable:
                    continue
                cls = win.get_wm_class() or ()
                out.append((int(win.id), " ".join(cls), self.window_title(win) or ""))
            except Exception:
                continue
        return out

    def window_rect(self, wid: int) -> tuple[int, int, int, int] | None:
        """Return the on-screen (x, y, w, h) of a top-level window, clipped to the screen."""
        try:
            win = self.dpy.create_resource_object("window", wid)
            geo = win.get_geometry()
            pos = win.translate_coords(self.root, 0, 0)
        except Exception:
            return None
        x, y = max(0, -int(pos.x)), max(0, -int(pos.y))
        w = min(int(geo.width), self.width - x)
        h = min(int(geo.height), self.height - y)
        return (x, y, w, h) if w > 0 and h > 0 else None

    def painted(self, frame: bytes, rect: tuple[int, int, int, int], min_colours: int = 2) -> bool:
        """Return whether a grid of samples inside ``rect`` holds at least ``min_colours`` colours."""
        x0, y0, w, h = rect
        seen = set()
        stride = self.width * 4
        for j in range(24):
            y = y0 + (h * j) // 24
            row = y * stride
            for i in range(32):
                off = row + (x0 + (w * i) // 32) * 4
                seen.add(frame[off : off + 3])
                if len(seen) >= min_colours:
                    return True
        return False

    def cursor(self) -> tuple[int, int]:
        p = self.root.query_pointer()
        return int(p.root_x), int(p.root_y)

    # -- input --------------------------------------------------------------------------
    def check_point(self, x: int, y: int) -> None:
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise GuestFailure("OffScreen", f"({x}, {y}) is outside the {self.width}x{self.height} screen")

    def tooltip_under_pointer(self) -> bool:
        """Return whether the topmost window under the pointer is a tooltip window."""
        try:
            child = self.root.query_pointer().child
            if not child or not getattr(child, "id", 0):
                return False
            kinds = self._prop(child, "_NET_WM_WINDOW_TYPE")
        except Exception:
            return False
        return kinds is not None and self.atoms["_NET_WM_WINDOW_TYPE_TOOLTIP"] in list(kinds)

    def point_at(self, x: int, y: int) -> None:
        """Move the pointer to (x, y), then wait (bounded) until no tooltip window covers it.

        A tooltip of the widget the pointer rested on (shown below the pointer, often over the
        next button) stays mapped until the application has handled the motion away from that
        widget. A press sent right after the motion goes to whatever window the X server finds
        under the pointer at that moment: under CPU load that is still the tooltip, and the
        click is lost (the application ignores presses on its tooltip).
        """
        self.move(x, y)
        deadline = now() + TOOLTIP_WAIT_S
        while now() < deadline and self.tooltip_under_pointer():
            time.sleep(0.01)

    def press_button(self, button: int, count: int) -> None:
        """Press and release ``button`` ``count`` times at the pointer, CLICK_GAP_MS apart.

        The gap is XTest's delay, kept by the X server itself: a gap slept in the guest can
        collapse when the server is descheduled under CPU load and then stamps both presses
        with the same time, which pcmanfm's list takes as no double click at all.
        """
        from Xlib.ext import xtest

        for i in range(count):
            xtest.fake_input(self.dpy, self.X.ButtonPress, button, time=CLICK_GAP_MS if i else 0)
            xtest.fake_input(self.dpy, self.X.ButtonRelease, button)
        self.dpy.sync()

    def move(self, x: int, y: int) -> None:
        """Move the pointer to (x, y)."""
        from Xlib.ext import xtest

        xtest.fake_input(self.dpy, self.X.MotionNotify, x=x, y=y)
        self.dpy.sync()

    def button(self, button: int, press: bool) -> None:
        """Press or release a pointer button (1-3, or 4-7: the wheel) where the pointer is."""
        from Xlib.ext import xtest

        xtest.fake_input(self.dpy, self.X.ButtonPress if press else self.X.ButtonRelease, button)
        self.dpy.sync()

    def keycode(self, key: str) -> tuple[int, bool]:
        """Return the keycode of a canonical key name and whether it needs Shift (its upper level)."""
        from Xlib import XK

        name = KEYSYM_NAMES.get(key)
        if name is not None:
            code = self.dpy.keysym_to_keycode(XK.string_to_keysym(name))
            if code:
                return code, False
        elif len(key) == 1:
            spare = set(self._spare or ())
            levels = sorted(
                (index, code)
                for code, index in self.dpy.keysym_to_keycodes(ord(key))
                if index in (0, 1) and code not in spare
            )
            if levels:
                return levels[0][1], levels[0][0] == 1
        raise GuestFailure("UnknownKey", f"no key on this keyboard types {key!r}")

    def press_keys(self, keys: list[str]) -> None:
        """Hold the keys in order (Shift too where a key needs it), then release them in reverse."""
        self.press_codes([self.keycode(key) for key in keys])

    def press_codes(self, keys: list[tuple[int, bool]]) -> None:
        """``press_keys`` for keys already looked up: (keycode, needs Shift) each."""
        from Xlib.ext import xtest

        codes: list[int] = []
        for code, shifted in keys:
            if shifted:
                codes.append(self.keycode("shift")[0])
            codes.append(code)
        for code in codes:
            xtest.fake_input(self.dpy, self.X.KeyPress, code)
        for code in reversed(codes):
            xtest.fake_input(self.dpy, self.X.KeyRelease, code)
        self.dpy.sync()

    def act(self, a: dict[str, Any]) -> None:
        kind = a.get("type")
        if kind in ("move", "click", "drag", "scroll"):
            self.check_point(int(a["x"]), int(a["y"]))
        if kind == "move":
            self.move(int(a["x"]), int(a["y"]))
        elif kind == "click":
            self.point_at(int(a["x"]), int(a["y"]))
            self.press_button(X_BUTTONS[a.get("button", "left")], int(a.get("count", 1)))
        elif kind == "drag":
            self.check_point(int(a["to_x"]), int(a["to_y"]))
            button = X_BUTTONS[a.get("button", "left")]
            self.point_at(int(a["x"]), int(a["y"]))
            self.button(button, press=True)
            steps = 8
            for i in range(1, steps + 1):
                self.move(
                    round(a["x"] + (a["to_x"] - a["x"]) * i / steps),
                    round(a["y"] + (a["to_y"] - a["y"]) * i / steps),
                )
                time.sleep(0.01)
            self.button(button, press=False)
        elif kind == "scroll":
            self.point_at(int(a["x"]), int(a["y"]))
            # X's wheel buttons: 4 up, 5 down, 6 left, 7 right; one press and release per notch.
            for amount, back, forth in ((int(a.get("dy") or 0), 4, 5), (int(a.get("dx") or 0), 6, 7)):
                for _ in range(abs(amount)):
                    self.button(forth if amount > 0 else back, press=True)
                    self.button(forth if amount > 0 else back, press=False)
        elif kind == "key":
            keys = list(a.get("keys") or [])
            bad = [k for k in keys if k not in CANONICAL_KEYS]
            if not keys or bad:
                raise GuestFailure("UnknownKey", f"not canonical key names: {bad or keys}")
            if len(keys) > 1 and not all(k in MODIFIERS for k in keys[:-1]):
                raise GuestFailure("InvalidAction", f"a hotkey is modifiers then one key, got {keys}")
            self.press_keys(keys)
        elif kind == "type":
            self.type_text(str(a.get("text", "")))
        elif kind == "wait":
            time.sleep(min(60.0, max(0.0, float(a.get("seconds", 1.0)))))
        else:
            raise GuestFailure("InvalidAction", f"unknown action type {kind!r}")
        self.dpy.sync()

    def type_text(self, text: str) -> None:
        for ch in text:
            if (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0) and ch not in "\n\t":
                raise GuestFailure("BadText", f"control character U+{ord(ch):04X} in text")
        # A character goes through the key (and Shift level) that carries it in the keymap;
        # one with no key is bound to spare keycodes in turn (type_keysyms), a batch at a time.
        pending = ""
        for ch in text:
            if ch in "\n\t":
                if pending:
                    self.type_keysyms(pending)
                    pending = ""
                self.press_keys(["enter" if ch == "\n" else "tab"])
            elif self.type_mapped(ch, before=pending):
                pending = ""
            else:
                pending += ch
        if pending:
            self.type_keysyms(pending)

    def type_mapped(self, ch: str, before: str = "") -> bool:
        """Type ``ch`` with the key (and Shift level) that the keymap gives it; False if none does.

        A spare keycode rebound from '<' to '>' between two key presses can reach a client that
        has not re-read the keymap yet (Chromium), which then types the stale character; a key
        that always carries the character cannot be stale. ``before`` is typed first.
        """
        try:
            key = self.keycode(ch)
        except GuestFailure:
            return False
        if before:
            self.type_keysyms(before)  # rebinds spare keycodes only, never the one found
        self.press_codes([key])
        return True

    def type_keysyms(self, text: str) -> None:
        """Type characters that have no key on the keyboard by binding them to spare keycodes.

        Clients re-read the keymap only after a MappingNotify, and some (Chromium) translate a
        key press with whatever keymap they hold when they get to it. So a spare keycode keeps
        its character for as long as possible: characters already bound are typed as they are,
        and a new one takes the spare code used least recently (never one of the same batch).
        Each batch of new bindings is followed by a sync and a short pause.
        """
        from Xlib.ext import xtest

        if self._spare is None:
            first = self.dpy.display.info.min_keycode
            count = self.dpy.display.info.max_keycode - first + 1
            mapping = self.dpy.get_keyboard_mapping(first, count)
            self._spare = [first + i for i, syms in enumerate(mapping) if not any(syms)]
            self._bound = {}
            if not self._spare:
                raise GuestFailure("GuestError", "no spare keycode to type non-ASCII text")
        segments: list[str] = [""]
        for ch in text:  # split so that each segment's distinct characters fit the spare codes
            if ch not in segments[-1] and len(set(segments[-1])) == len(self._spare):
                segments.append("")
            segments[-1] += ch
        for segment in segments:
            wanted = list(dict.fromkeys(segment))
            fresh = [ch for ch in wanted if ch not in self._bound]
            if fresh:
                used = set(self._bound.values())
                free = [code for code in self._spare if code not in used]
                evictable = [c for c in self._bound if c not in wanted]  # least recently used first
                for ch in fresh:
                    code = free.pop(0) if free else self._bound.pop(evictable.pop(0))
                    sym = ord(ch) if 0xA0 <= ord(ch) <= 0xFF else 0x1000000 + ord(ch)
                    self.dpy.change_keyboard_mapping(code, [(sym, sym)])
                    self._bound[ch] = code
                self.dpy.sync()
                time.sleep(0.03)
            for ch in wanted:  # most recently used last
                self._bound[ch] = self._bound.pop(ch)
            for ch in segment:
                xtest.fake_input(self.dpy, self.X.KeyPress, self._bound[ch])
                xtest.fake_input(self.dpy, self.X.KeyRelease, self._bound[ch])
                self.dpy.sync()


class A11y:
    """Reads the AT-SPI tree of every application on this sandbox's session bus."""

    def __init__(self) -> None:
        import gi

        gi.require_version("Atspi", "2.0")
        from gi.repository import Atspi

        self.Atspi = Atspi
        Atspi.set_timeout(1000, 5000)
        self.want = {
            Atspi.StateType.SHOWING,
            Atspi.StateType.VISIBLE,
        }
        self.state_names = {
            Atspi.StateType.FOCUSED: "focused",
            Atspi.StateType.SELECTED: "selected",
            Atspi.StateType.CHECKED: "checked",
            Atspi.StateType.PRESSED: "pressed",
            Atspi.StateType.EDITABLE: "editable",
            Atspi.StateType.FOCUSABLE: "focusable",
            Atspi.StateType.EXPANDED: "expanded",
            Atspi.StateType.ACTIVE: "active",
            Atspi.StateType.SENSITIVE: "sensitive",
            Atspi.StateType.ENABLED: "enabled",
        }

    def visible_cells(self, table: Any, ext: Any) -> list[tuple[int, Any]]:
        try:
            return _visible_cells(self.Atspi, table, ext)
        except Exception:
            return []

    def dump(self, budget_s: float = A11Y_BUDGET_S) -> list[dict[str, Any]]:
        Atspi = self.Atspi
        rows: list[dict[str, Any]] = []
        deadline = now() + budget_s
        desktop = Atspi.get_desktop(0)
        for ai in range(desktop.get_child_count()):
            app = desktop.get_child_at_index(ai)
            if app is None:
                continue
            try:
                app_name = app.get_name() or ""
            except Exception:
                continue
            stack = []
            for wi in range(app.get_child_count() - 1, -1, -1):
                stack.append((app.get_child_at_index(wi), 0, (wi,)))
            while stack and len(rows) < MAX_A11Y_NODES and now() < deadline:
                node, depth, path = stack.pop()
                if node is None:
                    continue
                try:
                    states = node.get_state_set()
                    if not all(states.contains(s) for s in self.want):
                        continue
                    enabled = states.contains(Atspi.StateType.ENABLED) or states.contains(
                        Atspi.StateType.SENSITIVE
                    )
                    ext = node.get_extents(Atspi.CoordType.SCREEN)
                    if enabled and ext.width > 0 and ext.height > 0:
                        rows.append(
                            {
                                "role": node.get_role_name() or "",
                                "name": node.get_name() or "",
                                "text": _node_text(node),
                                "states": [n for s, n in self.state_names.items() if states.contains(s)],
                                "bbox": [ext.x, ext.y, ext.width, ext.height],
                                "depth": depth,
                                "path": list(path),
                                "app": app_name,
                            }
                        )
                    count = node.get_child_count()
                    if count > MAX_CHILDREN:
                        # A spreadsheet grid has millions of cells; walk only the visible ones.
                        for ci, child in reversed(self.visible_cells(node, ext)):
                            stack.append((child, depth + 1, (*path, ci)))
                        continue
                    for ci in range(count - 1, -1, -1):
                        stack.append((node.get_child_at_index(ci), depth + 1, (*path, ci)))
                except Exception:
                    continue
        return rows


def _visible_cells(
    atspi: Any, table: Any, ext: Any, max_rows: int = 60, max_cols: int = 30
) -> list[tuple[int, Any]]:
    """Return (index, cell) of the cells of a huge table that lie in its visible extent."""
    coord = atspi.CoordType.SCREEN
    first = table.get_accessible_at_point(ext.x + 2, ext.y + 2, coord)
    last = table.get_accessible_at_point(ext.x + ext.width - 3, ext.y + ext.height - 3, coord)
    if first is None or last is None:
        return []
    i0, i1 = first.get_index_in_parent(), last.get_index_in_parent()
    r0, c0 = atspi.Table.get_row_at_index(table, i0), atspi.Table.get_column_at_index(table, i0)
    r1, c1 = atspi.Table.get_row_at_index(table, i1), atspi.Table.get_column_at_index(table, i1)
    cells = []
    for r in range(r0, min(r1, r0 + max_rows - 1) + 1):
        for c in range(c0, min(c1, c0 + max_cols - 1) + 1):
            cell = atspi.Table.get_accessible_at(table, r, c)
            if cell is not None:
                cells.append((cell.get_index_in_parent(), cell))
    return cells


def _node_text(node: Any) -> str:
    try:
        text = node.get_text_iface()
        if text is None:
            return ""
        count = text.get_character_count()
        # Chromium (and other IAccessible2-style toolkits) put U+FFFC, the object replacement
        # character, in a container's text for each embedded child: noise, not content.
        return str(text.get_text(0, min(count, 500)) or "").replace("\ufffc", "")
    except Exception:
        return ""


class Activity:
    """What the sandbox's own threads are doing: whether any ran, and when the next timer is due.

    Every thread in the sandbox's PID namespace is watched except ``exclude`` (the namespace's
    init and the guest itself). A thread *ran* when its count of times scheduled
    (/proc/TID/schedstat) moved; a blocked thread's system call and arguments
    (/proc/TID/syscall) say whether it sleeps with a timeout, and the timeout says when it wakes.
    A screen that drew nothing while no thread ran and no timer is about to fire is settled:
    nothing can draw until an outside event (the next action) arrives.

    Only x86-64 system calls are decoded; elsewhere ``usable`` is False and settling keeps its
    windows. Relative timeouts count from the moment the watcher first saw the thread in that
    wait, which is late only for a wait that began before the step (a background timer).
    """

    def __init__(self, exclude: set[int]) -> None:
        self.exclude = exclude
        self.usable = os.uname().machine == "x86_64" and os.path.exists(f"/proc/{os.getpid()}/syscall")
        #: tid -> open schedstat descriptor
        self._fds: dict[int, int] = {}
        #: tid -> last schedstat run count
        self._runs: dict[int, int] = {}
        #: tid -> (syscall line, when first seen in it) for blocked threads
        self._waits: dict[int, tuple[bytes, float]] = {}
        self._mem: dict[int, int] = {}  # pid -> /proc/PID/mem descriptor, for timespecs
        self._pid_of: dict[int, int] = {}  # tid -> pid
        #: Too many threads to watch: every check then answers "busy" (never calm).
        self.overflow = False

    def close(self) -> None:
        for fd in (*self._fds.values(), *self._mem.values()):
            os.close(fd)
        self._fds.clear()
        self._mem.clear()
        self._runs.clear()
        self._waits.clear()

    def threads(self) -> dict[int, int]:
        """Return the watched threads now, each with its process (all but the excluded ones)."""
        tids: dict[int, int] = {}
        for pid in _pids():
            if pid in self.exclude:
                continue
            try:
                tids.update((int(t), pid) for t in os.listdir(f"/proc/{pid}/task"))
            except OSError:
                continue
        return tids

    def refresh(self) -> bool:
        """Track the threads that exist now; return whether the set changed (one came or went)."""
        tids = self.threads()
        self.overflow = len(tids) > MAX_WATCHED_THREADS
        if self.overflow:
            self.close()
            return True
        changed = set(tids) != set(self._fds)
        self._pid_of = tids
        for tid in set(self._fds) - set(tids):
            os.close(self._fds.pop(tid))
            self._runs.pop(tid, None)
            self._waits.pop(tid, None)
        for tid in set(tids) - set(self._fds):
            try:
                self._fds[tid] = os.open(f"/proc/{tid}/schedstat", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
        for pid in set(self._mem) - set(tids.values()):
            os.close(self._mem.pop(pid))
        return changed

    def ran(self) -> bool:
        """Return whether any watched thread was scheduled since the last call (or has gone)."""
        moved = self.overflow
        for tid, fd in list(self._fds.items()):
            try:
                fields = os.pread(fd, 128, 0).split()
                runs = int(fields[2])
            except (OSError, IndexError, ValueError):
                moved = True  # it exited: something happened
                continue
            if self._runs.get(tid) != runs:
                self._runs[tid] = runs
                self._waits.pop(tid, None)
                moved = True
        return moved

    def runnable(self) -> bool:
        """Return whether a watched thread is on a CPU or waiting for one, read afresh.

        The cached waits of ``next_wake`` cannot see a thread that was woken but not yet
        scheduled (its run count has not moved); its system call file says "running".
        """
        if self.overflow:
            return True
        for tid in self._fds:
            line = _syscall(tid)
            if line is None or line.startswith(b"running"):
                return True
        return False

    def busy(self) -> bool:
        """Return whether a thread of the sandbox runs or waits for a CPU now (threads re-listed first).

        False once the watcher gave up (too many threads): the windows then decide alone.
        """
        self.refresh()
        return not self.overflow and self.runnable()

    def next_wake(self, now_s: float) -> float:
        """Return the earliest time (``now()`` clock) a watched thread's timed wait ends.

        ``now_s`` is now; 0.0 when a thread is running or its state cannot be read (it might
        draw at any moment), FOREVER when every thread waits for an event with no timeout.
        """
        earliest = FOREVER
        for tid in self._fds:
            seen = self._waits.get(tid)
            if seen is None:
                line = _syscall(tid)
                if line is None:
                    return 0.0
                seen = (line, now_s)
                self._waits[tid] = seen
            wake = self._wakes_at(tid, *seen)
            earliest = min(earliest, wake)
            if earliest <= now_s:
                break
        return earliest

    def _wakes_at(self, tid: int, line: bytes, since: float) -> float:
        """Return when a thread blocked in the system call ``line`` (seen since ``since``) wakes."""
        fields = line.split()
        if not fields or fields[0] == b"running" or fields[0].startswith(b"-"):
            return 0.0  # on a CPU, about to run, or in no system call
        try:
            nr = int(fields[0])
            args = [int(a, 16) for a in fields[1:7]]
        except ValueError:
            return 0.0
        if nr in (SYS_POLL, SYS_EPOLL_WAIT, SYS_EPOLL_PWAIT):
            ms = _signed32(args[2] if nr == SYS_POLL else args[3])
            return FOREVER if ms < 0 else since + ms / 1000
        pointer, absolute, clock = 0, False, 1
        if nr in (SYS_SELECT, SYS_PSELECT6):
            pointer = args[4]
        elif nr == SYS_PPOLL:
            pointer = args[2]
        elif nr == SYS_EPOLL_PWAIT2:
            pointer = args[3]
        elif nr == SYS_NANOSLEEP:
            pointer = args[0]
        elif nr == SYS_CLOCK_NANOSLEEP:
            pointer, absolute, clock = args[2], bool(args[1] & TIMER_ABSTIME), args[0]
        elif nr == SYS_FUTEX:
            cmd = args[1] & FUTEX_CMD_MASK
            if cmd not in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
                return 0.0  # priority-inheritance locks and the like: rare, so not decoded
            pointer = args[3]
            absolute = cmd == FUTEX_WAIT_BITSET
            clock = CLOCK_REALTIME if args[1] & FUTEX_CLOCK_REALTIME else 1
        else:
            return FOREVER  # read, accept, wait4...: woken by an event from outside, not a timer
        if pointer == 0:
            return FOREVER
        seconds = self._timeout(tid, pointer, microseconds=nr == SYS_SELECT)
        if seconds is None:
            return 0.0
        if not absolute:
            return since + seconds
        return now() + (seconds - time.clock_gettime(clock))

    def _timeout(self, tid: int, pointer: int, microseconds: bool) -> float | None:
        """Read a timespec (or a timeval) at ``pointer`` in the thread's memory, in seconds."""
        pid = self._pid_of.get(tid, tid)
        fd = self._mem.get(pid)
        try:
            if fd is None:
                fd = self._mem[pid] = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
            sec, frac = struct.unpack("qq", os.pread(fd, 16, pointer))
        except (OSError, struct.error):
            return None
        return sec + frac / (1e6 if microseconds else 1e9)


def _syscall(tid: int) -> bytes | None:
    """Return a thread's /proc/TID/syscall line (its blocking call, or "running"); None if gone."""
    try:
        with open(f"/proc/{tid}/syscall", "rb") as f:
            return f.read()
    except OSError:
        return None


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class TimerLog:
    """Whether the timers due when a step calms down draw anything, per application and action kind.

    Calm waits for a timer due within ``timer_s``, because it may draw. Some never do after a
    given kind of action: galculator arms a 100 ms timer with every button press, and after a
    key press it draws the button released, but after a click the button was released already
    and the screen 30 ms after the click is final. Once the last TIMER_LEARN waits after a kind
    of action in an application saw nothing drawn, such a wait is skipped; every
    TIMER_PROBE_EVERY-th skip is waited out instead, and one drawing ends the skipping. The
    guest keys only clicks (``_timer_key``).
    """

    def __init__(self) -> None:
        self._drew: dict[tuple[str, str], list[bool]] = {}
        self._skips: dict[tuple[str, str], int] = {}

    def skip(self, key: tuple[str, str]) -> bool:
        """Return whether to settle now rather than wait for the timer due (counts a skip)."""
        seen = self._drew.get(key, [])
        if len(seen) < TIMER_LEARN or any(seen[-TIMER_LEARN:]):
            return False
        self._skips[key] = self._skips.get(key, 0) + 1
        return self._skips[key] % TIMER_PROBE_EVERY != 0

    def record(self, key: tuple[str, str], drew: bool) -> None:
        """Note whether anything was drawn after a step calmed down while a timer was due."""
        seen = self._drew.setdefault(key, [])
        seen.append(drew)
        del seen[:-TIMER_LEARN]


class Guest:
    """Request dispatcher and owner of the sandbox's processes."""

    def __init__(
        self, sock: socket.socket, display_name: str, with_infra: bool, sandboxed: bool = False
    ) -> None:
        self.sock = sock
        self.display_name = display_name
        self.infra: dict[str, subprocess.Popen[bytes]] = {}
        #: Entries of the scratch folders that belong to the infrastructure (sockets and their
        #: folders), with (inode, file type) as recorded when it started; a reset keeps only these.
        self.scratch_keep: dict[str, tuple[int, int]] = {}
        self.with_infra = with_infra
        # Only inside its own PID namespace may the guest kill "every other process".
        self.sandboxed = sandboxed
        if with_infra:
            self.start_infra()
        self.desktop = Desktop(display_name)
        if with_infra:
            self.desktop.wait_for_wm(timeout_s=120.0)
        self.app: subprocess.Popen[bytes] | None = None
        self._a11y: A11y | None = None
        #: What the timers due at calm drew, by application and action kind, across resets.
        self.timers = TimerLog()
        # Which of the sandbox's threads run and sleep tells when a step has settled; outside a
        # PID namespace of its own the guest would watch the host's processes, so it does not.
        self.activity = Activity({1, os.getpid()}) if sandboxed else None

    # -- processes ----------------------------------------------------------------------
    def running(self, name: str) -> bool:
        return name in self.infra and self.infra[name].poll() is None

    def start_infra(self) -> None:
        """Start whichever part of the desktop infrastructure is not running.

        The session bus activates services from system folders only and refuses to change the
        environment of what it activates; the window manager reads a configuration (from the
        host, read-only) with no action that runs a program; AT-SPI is started here rather than
        activated, so its processes are children whose PIDs the guest knows.
        """
        runtime = os.environ.get("XDG_RUNTIME_DIR", "/tmp/.cua-run")
        os.makedirs(runtime, mode=0o700, exist_ok=True)
        if not self.running("dbus"):
            address = f"unix:path={runtime}/bus"
            if os.path.lexists(f"{runtime}/bus"):
                os.unlink(f"{runtime}/bus")
            config = ["--session"]
            if os.path.exists(SESSION_BUS_CONF):
                config = [f"--config-file={SESSION_BUS_CONF}"]
            proc = subprocess.Popen(
                ["dbus-daemon", *config, "--nofork", f"--address={address}", "--print-address=1"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            assert proc.stdout is not None
            line = proc.stdout.readline().decode().strip()
            if not line:
                raise GuestFailure("GuestError", "dbus-daemon did not start")
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = line
            self.infra["dbus"] = proc
        if not self.running("wm"):
            config = ["--config-file", OPENBOX_RC] if os.path.exists(OPENBOX_RC) else []
            self.infra["wm"] = subprocess.Popen(
                ["openbox", "--sm-disable", *config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        if (
            os.access(ATSPI_REGISTRY, os.X_OK)
            and os.path.exists(ATSPI_BUS_CONF)
            and not (self.running("a11y-bus") and self.running("a11y-registry"))
        ):
            self.start_atspi()
        self.scratch_keep = self.infra_paths()

    def infra_paths(self) -> dict[str, tuple[int, int]]:
        """Return the scratch-folder entries the infrastructure serves on (sockets and their folders)."""
        sockets = ["/tmp/.X11-unix/X0"]
        for address in (
            os.environ.get("DBUS_SESSION_BUS_ADDRESS", ""),
            os.environ.get("AT_SPI_BUS_ADDRESS", ""),
        ):
            if address.startswith("unix:path="):
                sockets.append(address[len("unix:path=") :].split(",")[0])
        keep: dict[str, tuple[int, int]] = {}
        listing = _scratch_listing()
        for path in sockets:
            while path not in SCRATCH_DIRS and path in listing:
                keep[path] = listing[path]
                path = os.path.dirname(path)
        return keep

    def start_atspi(self) -> None:
        """Start the accessibility bus and the AT-SPI registry on it.

        The bus is a dbus-daemon with AT-SPI's own configuration, started here rather than by
        at-spi-bus-launcher, a 2 MB process per sandbox whose only other service is handing out
        the bus's address. The address reaches every client (the applications, their toolkits'
        bridges, this guest's own AT-SPI client) in ``AT_SPI_BUS_ADDRESS``, which libatspi reads
        before it asks the session bus or the X root window.
        """
        for name in ("a11y-registry", "a11y-bus"):
            proc = self.infra.pop(name, None)
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        runtime = os.environ.get("XDG_RUNTIME_DIR", "/tmp/.cua-run")
        socket_path = f"{runtime}/a11y-bus"
        if os.path.lexists(socket_path):
            os.unlink(socket_path)
        bus = subprocess.Popen(
            [
                "dbus-daemon", f"--config-file={ATSPI_BUS_CONF}", "--nofork",
                f"--address=unix:path={socket_path}", "--print-address=1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.infra["a11y-bus"] = bus
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()  # printed once it listens
        if not address:
            raise GuestFailure("GuestError", "the accessibility bus (dbus-daemon) did not start")
        os.environ["AT_SPI_BUS_ADDRESS"] = address
        deadline = now() + START_TIMEOUT_S
        attempts = 0
        while True:
            registry = self.infra.get("a11y-registry")
            if registry is None or registry.poll() is not None:
                if attempts == 3:
                    raise GuestFailure("GuestError", "the AT-SPI registry exited three times at start")
                attempts += 1
                self.infra["a11y-registry"] = subprocess.Popen([ATSPI_REGISTRY], stdout=subprocess.DEVNULL)
            if _wait_for_name(address, "org.a11y.atspi.Registry", min(deadline, now() + 1.0)):
                return
            if now() > deadline:
                raise GuestFailure("GuestError", "the AT-SPI registry did not start")

    def keep_pids(self) -> set[int]:
        """Return the PIDs a reset spares: the guest's own, recorded when started, never by name."""
        keep = {1, os.getpid()} | {p.pid for p in self.infra.values() if p.poll() is None}
        return keep

    def infra_intact(self) -> str:
        """Return why the infrastructure can no longer be trusted to serve, or '' if it can."""
        for name in ("dbus", "a11y-bus", "a11y-registry"):
            if name in self.infra and not self.running(name):
                return f"{name} exited"
        now_listing = _scratch_listing()
        for path, ident in self.scratch_keep.items():
            if now_listing.get(path) != ident:
                return f"{path} was replaced or removed"
        return ""

    def kill_others(self, timeout_s: float = 5.0) -> int:
        """Kill every process in the namespace but the guest and its infrastructure.

        Namespace inits (sessions, and any namespace a program made) go first: the kernel ends
        everything inside with them. The rest are stopped before they are killed, so none can
        fork or revive another in between; the pass repeats until nothing else is left.
        """
        keep = self.keep_pids()
        killed: set[int] = set()
        deadline = now() + timeout_s
        while True:
            others = [pid for pid in _pids() if pid not in keep and _alive(pid)]
            if not others:
                break
            if now() > deadline:
                raise GuestFailure("GuestError", f"processes {others[:8]} survived {timeout_s} s of SIGKILL")
            inits = [pid for pid in others if _is_namespace_init(pid)]
            for pid in inits:
                _signal(pid, signal.SIGKILL)
            rest = [pid for pid in others if pid not in inits]
            for pid in rest:
                _signal(pid, signal.SIGSTOP)
            for pid in rest:
                _signal(pid, signal.SIGKILL)
            killed.update(others)
            try:
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass
            except ChildProcessError:
                pass
            time.sleep(0.001)
        if self.app is not None:
            self.app.poll()
        try:
            while now() < deadline and self.desktop.client_windows():
                time.sleep(0.005)  # the window manager still lists windows of killed clients
        except Exception:
            pass  # the display is gone; nothing to wait for
        self.app = None
        return len(killed)

    def session(self, argv: list[str]) -> list[str]:
        """Wrap ``argv`` to run in a session of its own (user, PID and IPC namespaces).

        Outside a sandbox (the real screen) programs run as they are.
        """
        if not self.sandboxed:
            return argv
        return [
            "bwrap",
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--new-session",
            "--die-with-parent",
            "--dev-bind",
            "/",
            "/",
            "--proc",
            "/proc",
            "--",
            *argv,
        ]

    def session_status(self, code: int | None) -> int | None:
        """Map a session's exit status (128 + N for a signal, as bwrap reports it) to Popen's -N."""
        if self.sandboxed and code is not None and 128 < code < 128 + 65:
            return 128 - code
        return code

    def restore_files(self, template: bytes) -> dict[str, Any]:
        """Empty HOME and the scratch folders (but the infrastructure's sockets), then unpack HOME.

        Runs as the sandbox's user after every other process is gone: a link planted here can
        only point at what that user may write anyway.
        """
        home = os.environ.get("HOME", "/home/user")
        removed = _empty_folder(home, keep={})
        for root in SCRATCH_DIRS:
            removed += _empty_folder(root, keep=self.scratch_keep)
        written = _unpack(template, home)
        os.chmod(home, 0o700)
        return {"removed": removed, "written": written}

    def app_status(self) -> dict[str, Any]:
        if self.app is None:
            return {"running": False, "returncode": None, "launched": False}
        code = self.session_status(self.app.poll())
        return {"running": code is None, "returncode": code, "launched": True}

    def display_alive(self) -> bool:
        """Return whether the X connection still answers (python-xlib fails in many ways)."""
        try:
            self.desktop.dpy.get_input_focus()
            return True
        except Exception:
            return False

    # -- requests -----------------------------------------------------------------------
    def serve(self) -> None:
        while True:
            try:
                msg, blob = recv_msg(self.sock)
            except (EOFError, ConnectionError):
                return
            rid = msg.get("id")
            try:
                handler = getattr(self, "op_" + str(msg.get("op")), None)
                if handler is None:
                    raise GuestFailure("GuestError", f"unknown operation {msg.get('op')!r}")
                result, out_blob = handler(msg.get("args") or {}, blob)
                send_msg(self.sock, {"id": rid, "ok": True, "result": result}, out_blob)
            except GuestFailure as exc:
                send_msg(self.sock, {"id": rid, "ok": False, "kind": exc.kind, "message": str(exc)})
            except Exception as exc:
                kind = "GuestError" if self.display_alive() else "DisplayDied"
                send_msg(
                    self.sock,
                    {"id": rid, "ok": False, "kind": kind, "message": f"{type(exc).__name__}: {exc}"},
                )
                if kind == "DisplayDied":
                    return
            if msg.get("op") == "shutdown":
                return

    def op_hello(self, args: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        d = self.desktop
        return {"version": PROTOCOL_VERSION, "screen": [d.width, d.height], "pid": os.getpid()}, b""

    def op_ping(self, args: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        self.desktop.dpy.get_input_focus()  # a round trip to the X server
        infra = {name: p.poll() is None for name, p in self.infra.items()}
        return {"app": self.app_status(), "infra": infra}, b""

    def op_kill_others(self, args: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        if not self.sandboxed:
            raise GuestFailure("GuestError", "refusing to kill processes: this guest is not in a sandbox")
        t0 = now()
        killed = self.kill_others()
        if self.with_infra:
            self.start_infra()
        self.desktop.forget_frame()
        return {"killed": killed, "ms": (now() - t0) * 1000}, b""

    def op_restore(self, args: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        """Reset: end every process but ours, then restore HOME (from ``blob``), /tmp and /dev/shm.

        Replies ``damaged`` (and restores nothing) when the infrastructure died or its sockets
        were tampered with: the host then starts the container afresh.
        """
        if not self.sandboxed:
            raise GuestFailure("GuestError", "refusing to reset: this guest is not in a sandbox")
        t0 = now()
        killed = self.kill_others()
        kill_ms = (now() - t0) * 1000
        damaged = self.infra_intact() if self.with_infra else ""
        if damaged:
            return {"killed": killed, "damaged": damaged}, b""
        if self.with_infra and not self.running("wm"):
            self.start_infra()  # only the window manager is missing: start it again
        t1 = now()
        counts = self.restore_files(blob)
        self.desktop.restore_x_state()
        self.desktop.forget_frame()
        return {"killed": killed, "kill_ms": kill_ms, "files_ms": (now() - t1) * 1000, **counts}, b""

    def op_launch(self, args: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        t0 = now()
        env = dict(os.environ)
        env.update(args.get("env") or {})
        before = {wid for wid, _, _ in self.desktop.client_windows()}
        missing = _missing_program(str(args["argv"][0]), env)
        if missing:
            raise GuestFailure("AppCrashed", missing)
        self.app = subprocess.Popen(
            self.session(list(args["argv"])),
            env=env,
            cwd=os.environ.get("HOME", "/"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "app.log"), "wb"),
            start_new_session=True,
        )
        ready = args.get("ready") or {}
        wm_class = re.compile(ready["wm_class"]) if ready.get("wm_class") else None
        title = re.compile(ready["title"]) if ready.get("title") else None
        deadline = t0 + float(ready.get("timeout_s", 20.0))
        match = None
        match_id = 0
        while now() < deadline:
            for wid, cls, wtitle in self.desktop.client_windows():
                if wid in before:
                    continue
                if (wm_class is None or wm_class.search(cls)) and (title is None or title.search(wtitle)):
                    match = (cls, wtitle)
                    match_id = wid
                    break
            if match:
                break
            if self.app.poll() is not None:
                raise GuestFailure(
                    "AppCrashed",
                    f"{args['argv'][0]} exited with status {self.session_status(self.app.returncode)} "
                    "before its window "
                    f"appeared; see {_tail_log()}",
                )
            time.sleep(0.01)
        if match is None:
            seen = self.desktop.windows()
            raise GuestFailure(
                "AppNotReady",
                f"no window matching class={ready.get('wm_class')!r} title={ready.get('title')!r} "
                f"within {ready.get('timeout_s', 20.0)} s; windows now: {seen}; app log: {_tail_log()}",
            )
        window_ms = (now() - t0) * 1000
        # A mapped window may still be blank (Chromium paints 0.1-0.8 s later): if the profile
        # asks, wait until its area shows more than one colour; then until the screen settles.
        rect = self.desktop.window_rect(match_id) if ready.get("paint") else None
        while rect is not None and now() < deadline and not self.desktop.painted(self.desktop.grab(), rect):
            time.sleep(0.02)
        paint_ms = (now() - t0) * 1000 - window_ms
        self.desktop.forget_frame()
        # Damage from the window's first paint is pending: it counts (no drain before this settle).
        _, _, settle_ms, _ = self.desktop.settle(float(args.get("settle_s", 2.0)), quiet_s=0.1, idle_s=0.1)
        return {
            "pid": self.app.pid,
            "window": list(match),
            "window_ms": window_ms,
            "paint_ms": paint_ms,
            "settle_ms": settle_ms,
        }, b""

    def _observation(
        self, cap: Capture | None, encoding: str, a11y_budget_s: float | None, base: int | None = None
    ) -> tuple[dict[str, Any], bytes]:
        """Describe the screen: the frame ``cap`` (None: capture it now), sent as little as can be.

        ``base`` is the frame the host holds (its ``seq``, None when it holds none): only then
        can it be told "same" or sent a patch; otherwise it gets the whole frame. A frame whose
        bands are all as the host has them is "same", however it was captured.
        ``a11y_budget_s``: read the accessibility tree for at most this long (None: not at all).
        """
        t0 = now()
        d = self.desktop
        if cap is None:
            # No damage since the last frame: it is still the screen (without DAMAGE ``dirty``
            # is always True, and a whole frame is compared by its bands).
            cap = Capture("reused") if not d.take_dirty() and d.bands is not None else d.full_capture()
        current = base is not None and base == d.frame_seq and d.bands is not None
        if (not current and not isinstance(cap.crcs, list)) or (cap.how == "patched" and encoding == "png"):
            # The host lacks the frame a patch (or "same") refers to, or takes PNGs (whole).
            cap = d.full_capture()
            d.captured = cap.how
        bands = d.after(cap)
        same = current and bands == d.bands
        d.last_frame = cap.pixels if cap.how == "poll" else b""
        if not same:
            d.bands = bands
            d.frame_seq += 1
        capture_ms = (now() - t0) * 1000
        meta: dict[str, Any] = {
            "size": [d.width, d.height],
            "cursor": list(d.cursor()),
            "title": d.focused_title(),
            "app": self.app_status(),
            "capture_ms": capture_ms,
            "encoding": encoding,
            "seq": d.frame_seq,
        }
        if a11y_budget_s is not None:
            t1 = now()
            meta["a11y"] = self.a11y_rows(a11y_budget_s)
            meta["a11y_ms"] = (now() - t1) * 1000
        if same:
            meta["same"] = True
            return meta, b""
        if cap.how == "patched":
            meta["patch"] = [list(run) for run in cap.runs]
            return meta, cap.pixels
        if encoding == "png":
            from PIL import Image

            buf = io.BytesIO()
            Image.frombuffer("RGB", (d.width, d.height), cap.pixels, "raw", "BGRX", 0, 1).save(
                buf, "PNG", compress_level=1
            )
            return meta, buf.getvalue()
        return meta, cap.pixels

    def a11y_rows(self, budget_s: float = A11Y_BUDGET_S) -> list[dict[str, Any]]:
        if self._a11y is None:
            self._a11y = A11y()
        return self._a11y.dump(budget_s)

    def op_observe(self, args: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        meta, data = self._observation(None, args.get("encoding", "bgrx"), _a11y_budget(args), _base(args))
        meta["changed"] = True
        return meta, data

    def op_act(self, args: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        d = self.desktop
        windows = args.get("settle") or {}  # the profile's windows and the host's mode, if any
        mode = windows.get("mode")
        t0 = now()
        d.drain_damage()  # what was drawn before the action is not its effect
        d.act(args["action"])
        action_ms = (now() - t0) * 1000
        frame, changed, settle_ms, damage = d.settle(
            float(args.get("settle_s", 1.0)),
            quiet_s=float(windows.get("quiet_s", DEFAULT_QUIET_S)),
            idle_s=float(windows.get("idle_s", DEFAULT_IDLE_S)),
            poll=mode == "poll",
            activity=self.activity if mode is None else None,
            timer_s=float(windows.get("timer_s", DEFAULT_TIMER_S)),
            capture=str(windows.get("capture", "")),
            timers=_timer_key(self.timers, str(windows.get("app", "")), args["action"]),
        )
        meta, data = self._observation(frame, args.get("encoding", "bgrx"), _a11y_budget(args), _base(args))
        meta.update(
            changed=changed,
            action_ms=action_ms,
            settle_ms=settle_ms,
            settle_mode="damage" if damage is not None else "poll",
            settled_by=d.settled_by,
            timer_skipped=d.timer_skipped,
            timer_drew=d.timer_drew,
            captured=d.captured,
            capture_differs=d.capture_differs,
        )
        if damage is not None:
            meta["damage"] = damage
        return meta, data

    def op_a11y(self, args: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        t0 = now()
        rows = self.a11y_rows(float(args.get("a11y_budget_s", A11Y_BUDGET_S)))
        return {"rows": rows, "ms": (now() - t0) * 1000}, b""

    def op_exec(self, args: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        env = dict(os.environ)
        env.update(args.get("env") or {})
        timeout = float(args.get("timeout_s", 30.0))
        missing = _missing_program(str(args["argv"][0]), env)
        if missing:
            return {"returncode": 127, "stdout": "", "stderr": _b64(f"{missing}\n".encode())}, b""
        try:
            proc = subprocess.Popen(
                self.session(list(args["argv"])),
                env=env,
                cwd=os.environ.get("HOME", "/"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            return {"returncode": 127, "stdout": "", "stderr": _b64(f"{exc}\n".encode())}, b""
        try:
            out, err = proc.communicate(blob, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise GuestFailure(
                "ExecTimeout",
                f"{args['argv'][0]} ran past {timeout} s and was killed; stderr: {err[-300:]!r}",
            ) from None
        return {"returncode": proc.returncode, "stdout": _b64(out), "stderr": _b64(err)}, b""

    def op_read_file(self, args: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        path = _resolve(args["path"])
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise GuestFailure("GuestError", f"cannot read {path}: {exc.strerror}") from None
        return {"size": len(data)}, data

    def op_write_file(self, args: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        path = _resolve(args["path"])
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "wb") as f:
                f.write(blob)
            os.chmod(path, int(args.get("mode", 0o644)))
        except OSError as exc:
            raise GuestFailure("GuestError", f"cannot write {path}: {exc.strerror}") from None
        return {"size": len(blob)}, b""

    def op_shutdown(self, args: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        if self.sandboxed:
            try:
                self.kill_others(timeout_s=1.0)
            except GuestFailure:
                pass  # the host kills the whole container next
        for proc in self.infra.values():
            proc.kill()
        return {}, b""


def _add_rect(rects: list[list[int]], r: tuple[int, int, int, int], width: int, height: int) -> None:
    """Add rectangle ``r`` (x, y, w, h), clipped to the screen, to ``rects`` in place.

    Overlapping or touching rectangles are not merged here (see _merge_rects); past
    4 * MAX_DAMAGE_RECTS the new one is folded into the rectangle it enlarges least.
    """
    x0, y0 = max(0, r[0]), max(0, r[1])
    x1, y1 = min(width, r[0] + r[2]), min(height, r[1] + r[3])
    if x1 <= x0 or y1 <= y0:
        return
    for q in rects:
        if q[0] <= x0 and q[1] <= y0 and q[0] + q[2] >= x1 and q[1] + q[3] >= y1:
            return  # already covered
    if len(rects) < 4 * MAX_DAMAGE_RECTS:
        rects.append([x0, y0, x1 - x0, y1 - y0])
        return
    best = min(rects, key=lambda q: _union_area(q, [x0, y0, x1 - x0, y1 - y0]) - q[2] * q[3])
    best[:] = _union(best, [x0, y0, x1 - x0, y1 - y0])


def _union(a: list[int], b: list[int]) -> list[int]:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return [x0, y0, x1 - x0, y1 - y0]


def _union_area(a: list[int], b: list[int]) -> int:
    u = _union(a, b)
    return u[2] * u[3]


def _touch(a: list[int], b: list[int]) -> bool:
    return a[0] <= b[0] + b[2] and b[0] <= a[0] + a[2] and a[1] <= b[1] + b[3] and b[1] <= a[1] + a[3]


def _merge_rects(rects: list[list[int]]) -> list[list[int]]:
    """Merge overlapping or touching rectangles into their bounding boxes.

    Then neighbours (top to bottom, least area added first) until at most MAX_DAMAGE_RECTS
    remain; sorted by y, then x.
    """
    out: list[list[int]] = []
    for r in rects:
        cur = list(r)
        i = 0
        while i < len(out):
            if _touch(out[i], cur):
                cur = _union(out.pop(i), cur)
                i = 0
            else:
                i += 1
        out.append(cur)
    out.sort(key=lambda r: (r[1], r[0]))
    while len(out) > MAX_DAMAGE_RECTS:
        i = min(
            range(len(out) - 1),
            key=lambda k: (
                _union_area(out[k], out[k + 1]) - out[k][2] * out[k][3] - out[k + 1][2] * out[k + 1][3]
            ),
        )
        out[i] = _union(out[i], out.pop(i + 1))
    return out


def _missing_program(program: str, env: dict[str, str]) -> str:
    """Return why ``program`` cannot be run (a session would only say so after starting), or ''."""
    if shutil.which(program, path=env.get("PATH")) is None:
        return f"{program}: command not found (or not executable) in the sandbox"
    return ""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _resolve(path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(os.environ.get("HOME", "/"), path)


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _is_namespace_init(pid: int) -> bool:
    """Return whether ``pid`` is PID 1 of a PID namespace nested in ours."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    ids = line.split()[1:]
                    return len(ids) > 1 and ids[-1] == "1"
    except OSError:
        pass
    return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _timer_key(log: TimerLog, app: str, action: dict[str, Any]) -> tuple[TimerLog, tuple[str, str]] | None:
    """Return the timer log and this action's key in it, or None where no timer is ever skipped.

    Only clicks are learned, by button and count: a key or typed text can start anything (ctrl+x
    in pcmanfm arms a timer that redraws the cut file, and a double click arriving meanwhile was
    lost), while ctrl+a beside it arms one that draws nothing.
    """
    if action.get("type") != "click":
        return None
    return log, (app, f"click {action.get('button', 'left')} x{action.get('count', 1)}")


def _base(args: dict[str, Any]) -> int | None:
    """Return the frame the host holds (its ``seq``), None when it holds none."""
    base = args.get("base")
    return int(base) if isinstance(base, int) else None


def _a11y_budget(args: dict[str, Any]) -> float | None:
    """Return how long a request may read the accessibility tree (None: it did not ask for it)."""
    return float(args.get("a11y_budget_s", A11Y_BUDGET_S)) if args.get("a11y") else None


def _wait_for_name(address: str, name: str, deadline: float) -> bool:
    """Wait until ``name`` has an owner on the bus at ``address`` (never activating it)."""
    argv = [
        "dbus-send", f"--bus={address}", "--print-reply", "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", f"string:{name}",
    ]  # fmt: skip
    while now() < deadline:
        try:
            result = subprocess.run(argv, capture_output=True, timeout=max(0.1, deadline - now()))
        except subprocess.TimeoutExpired:
            return False  # a slow machine: dbus-send itself outlasted the wait
        if b"boolean true" in result.stdout:
            return True
        time.sleep(0.005)
    return False


def _scratch_listing() -> dict[str, tuple[int, int]]:
    """Return path -> (inode, file type) of everything under the scratch folders (no links followed)."""
    out: dict[str, tuple[int, int]] = {}
    for root in SCRATCH_DIRS:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                out[path] = (st.st_ino, st.st_mode & 0o170000)
    return out


def _remove(path: str) -> None:
    """Remove a file, link or folder tree inside the sandbox, making folders writable as needed."""

    def retry(func: Any, failed: str, exc_info: Any) -> None:
        parent = os.path.dirname(failed)
        if not os.path.islink(parent):
            os.chmod(parent, 0o700)
        if not os.path.islink(failed) and os.path.isdir(failed):
            os.chmod(failed, 0o700)
        func(failed)

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, onerror=retry)
    else:
        os.unlink(path)


def _empty_folder(root: str, keep: dict[str, tuple[int, int]]) -> int:
    """Remove every entry under ``root`` except the paths in ``keep`` (and folders holding them)."""
    removed = 0
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    for entry in entries:
        if entry.path in keep:
            if entry.is_dir(follow_symlinks=False):
                removed += _empty_folder(entry.path, keep)
            continue
        try:
            _remove(entry.path)
            removed += 1
        except OSError as exc:
            raise GuestFailure("GuestError", f"cannot remove {entry.path}: {exc.strerror}") from None
    return removed


def _unpack(archive: bytes, dest: str) -> int:
    """Unpack a tar of a HOME template into ``dest``: files, folders and links, nothing else."""
    if not archive:
        return 0
    count = 0
    folders: list[tuple[str, int]] = []
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            name = os.path.normpath(member.name)
            if name in (".", "") or name.startswith(("/", "..")):
                continue
            path = os.path.join(dest, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.lexists(path) and not (member.isdir() and os.path.isdir(path)):
                _remove(path)  # a later template folder replaces an entry of an earlier one
            if member.isdir():
                os.makedirs(path, exist_ok=True)
                folders.append((path, member.mode & 0o777))
            elif member.issym():
                os.symlink(member.linkname, path)
            elif member.isfile():
                source = tar.extractfile(member)
                assert source is not None
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                fd = os.open(path, flags, member.mode & 0o777)
                with os.fdopen(fd, "wb") as out:
                    out.write(source.read())
            else:
                continue
            count += 1
    for path, mode in reversed(folders):
        os.chmod(path, mode | 0o700)
    return count


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _tail_log() -> str:
    path = os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "app.log")
    try:
        with open(path, "rb") as f:
            return f.read()[-400:].decode("utf-8", "replace") or "(empty)"
    except OSError:
        return "(no log)"


def main() -> int:
    global START_TIMEOUT_S
    os.environ.pop("MALLOC_MMAP_THRESHOLD_", None)  # a setting for this process, not its children
    # Applications keep their GSettings in their own memory: no dconf-service per sandbox
    # (1.5 MB), and no settings database that could outlive an episode's reset of HOME.
    os.environ["GSETTINGS_BACKEND"] = "memory"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, help="inherited socket to the host")
    parser.add_argument("--connect", help="unix socket path to connect to instead of --fd")
    parser.add_argument("--serial", help="virtio-serial port (a VM's device) instead of --fd")
    parser.add_argument("--display", default=os.environ.get("DISPLAY", ":0"))
    parser.add_argument("--no-infra", action="store_true", help="do not start D-Bus and a window manager")
    parser.add_argument(
        "--sandboxed", action="store_true", help="the guest owns its PID namespace (enables process resets)"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=START_TIMEOUT_S, help="seconds AT-SPI may take to start"
    )
    opts = parser.parse_args()
    START_TIMEOUT_S = opts.start_timeout
    if opts.fd is not None:
        # Take the socket onto a fresh close-on-exec descriptor so children never hold it.
        sock = socket.fromfd(opts.fd, socket.AF_UNIX, socket.SOCK_STREAM)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, opts.fd)
        os.close(devnull)
    elif opts.connect:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(opts.connect)
    elif opts.serial:
        sock = SerialPort(opts.serial)  # type: ignore[assignment]
    else:
        parser.error("give --fd, --connect or --serial")
    try:
        guest = Guest(sock, opts.display, with_infra=not opts.no_infra, sandboxed=opts.sandboxed)
    except Exception as exc:
        import traceback

        traceback.print_exc()  # into the container's log, which the host quotes
        send_msg(
            sock, {"id": 0, "ok": False, "kind": "GuestError", "message": f"guest start failed: {exc!r}"}
        )
        return 1
    send_msg(sock, {"id": 0, "ok": True, "result": {"version": PROTOCOL_VERSION, "pid": os.getpid()}})
    guest.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
