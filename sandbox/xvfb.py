"""XvfbSandbox: the embedded default backend, a private X display with namespaced applications.

Per sandbox, on the host: one ``Xvfb`` with a private /tmp of its own (so its socket and lock
live in the sandbox's runtime folder, invisible in the host's /tmp/.X11-unix and out of reach
of other display-number races; no TCP, no abstract socket, a random MIT cookie) and one
``bwrap`` container. Inside the container, as an
unprivileged uid with its own PID, IPC, user and (by default) network namespace: the guest agent
(``sandbox/guest/agent.py``), which starts a session D-Bus with AT-SPI and the openbox window
manager, launches the application and executes actions. The container sees the system
directories read-only, a private HOME restored from the profile's template on every reset, a
private /tmp, and only its own X socket (as ``:0``). Every process dies with the host process.

A reset is done by the guest, inside the container, as the sandbox's user: it kills every process
but itself and the desktop infrastructure (known by the PIDs it recorded when it started them),
empties HOME, /tmp and /dev/shm and unpacks the profile's HOME template; then setup steps run and
the application starts again: no VM boot, no X restart. The host never writes into a folder the
sandbox can change, and removes the runtime folder only after the container's PID namespace is
gone, without following links (``sandbox.cleanup``). docs/security.md has the threat model.
What the host says to the guest (the profile's part of a reset, actions, observations, commands,
files) is shared with ``QemuSandbox`` in ``sandbox.guest_sandbox``; this module owns the display
and the container.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from sandbox import errors
from sandbox.base import Observation
from sandbox.channel import GuestChannel
from sandbox.cleanup import claim_runtime_dir, reap_stale_runtime_dirs, remove_tree, stat_fields
from sandbox.guest_files import prepare_chromium_etc, prepare_guest_folder, write_chromium_policies
from sandbox.guest_sandbox import GuestSandbox
from sandbox.process import kill_group, spawn
from sandbox.profile import AppProfile, SetupStep, as_setup, find_profile

DEFAULT_GUEST_PREFIX = "/opt/cua-guest"
#: uid the container runs as on the host when the host process is root (nobody).
ROOT_FALLBACK_UID = 65534
INNER_UID = 1000
INNER_HOME = "/home/user"
#: Environment variable carrying the sandbox id; tests use it to find leaked processes.
SANDBOX_ID_ENV = "CUA_SANDBOX_ID"
SANDBOX_HOSTNAME = "sandbox"
#: A label passed from the host environment into every sandbox process (tests find leaks by it).
SANDBOX_TAG_ENV = "CUA_SANDBOX_TAG"
#: Runtime folders are named so; a later sandbox removes those whose owner died (``cleanup``).
RUNTIME_PREFIX = "cua-sbx-"


def _write_xauth(path: Path, cookie: bytes) -> None:
    """Write an Xauthority file whose MIT-MAGIC-COOKIE-1 entries match any display."""

    def field(data: bytes) -> bytes:
        return len(data).to_bytes(2, "big") + data

    name = field(b"MIT-MAGIC-COOKIE-1") + field(cookie)
    wild = (0xFFFF).to_bytes(2, "big") + field(b"") + field(b"") + name
    # python-xlib ignores FamilyWild; give it a FamilyLocal entry for the container's hostname
    # with an empty display number, which it matches against any display.
    local = (256).to_bytes(2, "big") + field(SANDBOX_HOSTNAME.encode()) + field(b"") + name
    path.write_bytes(wild + local)


def check_system(guest_prefix: str = DEFAULT_GUEST_PREFIX) -> None:
    """Raise SandboxUnavailable naming what is missing and how to install it."""
    missing = [tool for tool in ("Xvfb", "bwrap", "setpriv") if shutil.which(tool) is None]
    if missing:
        raise errors.SandboxUnavailable(
            f"missing {', '.join(missing)}; run `bash scripts/setup_system.sh` (as root) to install them"
        )
    if not os.access(f"{guest_prefix}/bin/python", os.X_OK):
        raise errors.SandboxUnavailable(
            f"guest runtime {guest_prefix} not found; run `bash scripts/setup_python.sh` "
            "or set CUA_GUEST_PREFIX"
        )


class XvfbSandbox(GuestSandbox):
    """A sandbox desktop on a private Xvfb display with applications inside bubblewrap."""

    def __init__(
        self,
        screen: tuple[int, int] = (1280, 800),
        *,
        runtime_root: str | Path | None = None,
        guest_prefix: str | None = None,
        sandbox_uid: int | None = None,
        request_timeout_s: float = 10.0,
        encoding: str = "bgrx",
    ) -> None:
        """Prepare a sandbox; processes start at the first ``reset``.

        ``sandbox_uid`` is the host uid the container runs as when we are root (default:
        nobody); as a normal user the container always runs as that user. ``encoding`` is how
        screenshots cross the socket: raw 'bgrx' (fastest, local) or 'png'.
        """
        self.id = uuid.uuid4().hex[:12]
        self._init_guest_state(screen, request_timeout_s, encoding)
        self._guest_prefix = guest_prefix or os.environ.get("CUA_GUEST_PREFIX", DEFAULT_GUEST_PREFIX)
        check_system(self._guest_prefix)
        self._host_uid: int | None = None
        if os.geteuid() == 0:
            self._host_uid = sandbox_uid if sandbox_uid is not None else ROOT_FALLBACK_UID
        root = Path(runtime_root or tempfile.gettempdir())
        if self._host_uid is not None and not root.stat().st_mode & 0o001:
            raise errors.SandboxUnavailable(
                f"runtime root {root} is not searchable by others (mode {root.stat().st_mode & 0o7777:o}); "
                f"the container runs as uid {self._host_uid} and must reach its folder: use mode 1777 "
                "like /tmp, or another folder"
            )
        reap_stale_runtime_dirs(root, RUNTIME_PREFIX)
        self._runtime = Path(tempfile.mkdtemp(prefix=f"{RUNTIME_PREFIX}{self.id}-", dir=runtime_root))
        self._runtime.chmod(0o711)
        claim_runtime_dir(self._runtime)
        self._home = self._runtime / "home"
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._xtmp = self._runtime / "xtmp"
        self._bwrap: subprocess.Popen[bytes] | None = None
        #: (pid, start time) of PID 1 of the container's namespace: gone means every process is.
        self._ns_init: tuple[int, str] | None = None
        self._network: str | None = None

    # -- properties -----------------------------------------------------------------------
    @property
    def x_socket(self) -> Path:
        """Return the host path of the display's socket (bind it as /tmp/.X11-unix/X0, DISPLAY=:0)."""
        return self._xtmp / ".X11-unix" / "X0"

    @property
    def xauthority(self) -> Path:
        """Return the host path of this display's cookie file."""
        return self._runtime / "xauth"

    @property
    def home_path(self) -> Path:
        """Return the host folder bound as the sandbox's HOME."""
        return self._home

    def host_pids(self) -> list[int]:
        """Return the host pids of the X server and the container's outer process."""
        return [p.pid for p in (self._xvfb, self._bwrap) if p is not None and p.poll() is None]

    # -- lifecycle ------------------------------------------------------------------------
    def _start_xvfb(self) -> None:
        cookie = os.urandom(16)
        _write_xauth(self.xauthority, cookie)
        if self._host_uid is not None:
            os.chown(self.xauthority, self._host_uid, self._host_uid)
        self.xauthority.chmod(0o600)
        remove_tree(self._xtmp)
        self._xtmp.mkdir(mode=0o711)
        self._xtmp.chmod(0o711)
        # Xvfb compiles its keymap to /var/lib/xkb/server-<display>.xkm; every sandbox is display
        # :0, so parallel starts would race on one file (a failed compile kills the server).
        xkb = self._runtime / "xkb"
        xkb.mkdir(mode=0o700, exist_ok=True)
        w, h = self._screen
        # Display :0 in a /tmp of its own; readiness is the socket accepting a connection.
        self._xvfb = spawn(
            [
                "bwrap",
                "--die-with-parent",
                "--dev-bind",
                "/",
                "/",
                "--bind",
                str(self._xtmp),
                "/tmp",
                # Freed GetImage replies (4 MB for a whole screen) go back to the system at once
                # rather than staying in the server's heap.
                "--setenv",
                "MALLOC_MMAP_THRESHOLD_",
                "131072",
                # (Only over a folder that exists: bwrap would create a missing one on the host.)
                *(["--bind", str(xkb), "/var/lib/xkb"] if os.path.isdir("/var/lib/xkb") else []),
                "Xvfb",
                ":0",
                "-screen",
                "0",
                f"{w}x{h}x24",
                "-nolisten",
                "tcp",
                "-nolisten",
                "local",
                "-auth",
                str(self.xauthority),
                "-noreset",
                # GLX loads libLLVM into the server (~55 MB RSS); no profile renders with OpenGL.
                "-extension",
                "GLX",
            ],
            stderr=open(self._runtime / "xvfb.log", "wb"),
        )
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and self._xvfb.poll() is None:
            if self.x_socket.exists():
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    probe.connect(str(self.x_socket))
                    return
                except OSError:
                    pass
                finally:
                    probe.close()
            time.sleep(0.005)
        log = (self._runtime / "xvfb.log").read_text(errors="replace")[-500:]
        kill_group(self._xvfb)
        self._xvfb = None
        raise errors.DisplayDied(f"Xvfb did not start within 10 s: {log or 'no output'}")

    def _bwrap_argv(self, network: str) -> list[str]:
        sock = str(self.x_socket)
        argv = [
            "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--unshare-user",
            "--uid",
            str(INNER_UID),
            "--gid",
            str(INNER_UID),
            "--hostname",
            SANDBOX_HOSTNAME,
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/sbin",
            "/sbin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--ro-bind",
            "/etc",
            "/etc",
            *self._chromium_etc_bind(),
            "--ro-bind-try",
            "/var/cache/fontconfig",
            "/var/cache/fontconfig",
            "--ro-bind-try",
            "/var/lib/dbus",
            "/var/lib/dbus",
            "--ro-bind",
            self._guest_prefix,
            self._guest_prefix,
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/run",
            "--bind",
            str(self._home),
            INNER_HOME,
            "--ro-bind",
            str(self._runtime / "guest"),
            "/run/cua/guest",
            "--ro-bind",
            str(self.xauthority),
            "/run/cua/xauth",
            "--bind",
            sock,
            "/tmp/.X11-unix/X0",
            "--remount-ro",
            "/run",
            "--remount-ro",
            "/",
            "--chdir",
            INNER_HOME,
            "--clearenv",
        ]
        if network != "full":
            argv.append("--unshare-net")
        env = {
            "HOME": INNER_HOME,
            "USER": "user",
            "LOGNAME": "user",
            "DISPLAY": ":0",
            "XAUTHORITY": "/run/cua/xauth",
            "XDG_RUNTIME_DIR": "/tmp/.cua-run",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "SHELL": "/bin/bash",
            "TERM": "xterm-256color",
            SANDBOX_ID_ENV: self.id,
            # For the guest only (it drops it before starting anything): return freed screen
            # buffers to the system at once instead of keeping them in the heap.
            "MALLOC_MMAP_THRESHOLD_": "131072",
        }
        if os.environ.get(SANDBOX_TAG_ENV):
            env[SANDBOX_TAG_ENV] = os.environ[SANDBOX_TAG_ENV]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        return argv

    def _chromium_etc_bind(self) -> list[str]:
        # Over the read-only /etc: the host's Chromium configuration with only the policies of
        # the profile being run (written at each reset), so the sandbox cannot change them.
        folder = self._runtime / "chromium-etc"
        return ["--ro-bind", str(folder), "/etc/chromium"] if folder.is_dir() else []

    def _start_container(self, network: str) -> None:
        prepare_guest_folder(self._runtime / "guest")
        prepare_chromium_etc(self._runtime / "chromium-etc")
        # Only the folder itself: what is inside belongs to the sandbox, and the guest empties
        # and fills it at every reset.
        self._home.mkdir(mode=0o700, exist_ok=True)
        if self._host_uid is not None:
            os.chown(self._home, self._host_uid, self._host_uid, follow_symlinks=False)
        host_end, guest_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            argv = [
                *self._bwrap_argv(network),
                f"{self._guest_prefix}/bin/python",
                "-s",
                "/run/cua/guest/run.py",
                "--fd",
                "0",
                "--sandboxed",
            ]
            self._bwrap = spawn(
                argv,
                user=self._host_uid,
                stdin=guest_end,
                stderr=open(self._runtime / "container.log", "wb"),
            )
        finally:
            guest_end.close()
        self._ns_init = _child_of(self._bwrap.pid)
        self._channel = GuestChannel(host_end, self._lost)
        try:
            msg, _ = self._channel.receive(timeout_s=20.0)
        except errors.SandboxError:
            log = (self._runtime / "container.log").read_text(errors="replace")[-800:]
            raise errors.GuestDied(f"guest agent did not start: {log or 'no output'}") from None
        if not msg.get("ok"):
            raise errors.GuestDied(f"guest agent failed to start: {msg.get('message')}")
        self._network = network

    def _lost(self, detail: str) -> errors.SandboxError:
        """Decide which part died when the guest connection broke."""
        if self._xvfb is None or self._xvfb.poll() is not None:
            return errors.DisplayDied(f"the X server of sandbox {self.id} exited ({detail})")
        return errors.GuestDied(f"the guest agent of sandbox {self.id} exited ({detail})")

    def _stop_container(self) -> None:
        if self._channel is not None:
            # A polite shutdown only when no request is in flight; otherwise the kill below
            # ends the guest and the waiting request sees the connection close.
            if self._channel.broken is None and not self._channel.busy:
                try:
                    self._channel.request("shutdown", timeout_s=2.0)
                except errors.SandboxError:
                    pass
            self._channel.close()
            self._channel = None
        # Killing PID 1 of the namespace makes the kernel kill everything in it; its parent
        # (bwrap) may exit a moment before the last of them, so wait for PID 1 itself.
        if self._ns_init is not None:
            try:
                os.kill(self._ns_init[0], 9)
            except (ProcessLookupError, PermissionError):
                pass
        kill_group(self._bwrap)
        self._bwrap = None
        if self._ns_init is not None:
            deadline = time.monotonic() + 5.0
            while _live_identity(self._ns_init[0]) == self._ns_init[1] and time.monotonic() < deadline:
                time.sleep(0.002)
            self._ns_init = None

    def _stop_xvfb(self) -> None:
        kill_group(self._xvfb)
        self._xvfb = None

    def _restart_guest(self, profile: AppProfile) -> None:
        """Start the container afresh: the guest reported its infrastructure damaged."""
        self._stop_container()
        self._start_container(profile.network)

    def _dead_part(self) -> errors.SandboxCrashed | None:
        if self._xvfb is not None and self._xvfb.poll() is not None:
            return errors.DisplayDied(f"the X server of sandbox {self.id} exited")
        return None

    def _apply_policies(self, prof: AppProfile) -> None:
        folder = self._runtime / "chromium-etc"
        if folder.is_dir():
            write_chromium_policies(folder, prof.chromium_policies)
        elif prof.chromium_policies:
            # Failing open would let the application run without the restrictions it asks for.
            raise errors.SandboxUnavailable(
                f"profile {prof.name!r} sets chromium_policies, but this host has no /etc/chromium "
                "to show them at (Debian's chromium package creates it)"
            )

    def _alive(self) -> bool:
        return (
            self._xvfb is not None
            and self._xvfb.poll() is None
            and self._bwrap is not None
            and self._bwrap.poll() is None
            and self._channel is not None
            and self._channel.broken is None
        )

    def reset(
        self,
        profile: AppProfile | str,
        setup: Sequence[SetupStep] = (),
        app_args: Sequence[str] = (),
    ) -> Observation:
        """Kill everything but the desktop, restore HOME, run setup, start the app, observe."""
        self._check_open()
        prof = find_profile(profile)
        steps = as_setup(setup)
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        if prof.screen != self._screen or not self._alive() or prof.network != self._network:
            self._stop_container()
            if prof.screen != self._screen or self._xvfb is None or self._xvfb.poll() is not None:
                self._stop_xvfb()
                self._screen = prof.screen
            if self._xvfb is None:
                self._start_xvfb()
            self._start_container(prof.network)
            if self._closed:  # close() ran in another thread while we were starting
                self._stop_container()
                self._stop_xvfb()
                raise errors.SandboxClosed(f"sandbox {self.id} was closed during reset")
            timings["start_ms"] = (time.monotonic() - t0) * 1000
        self._start_app(prof, steps, app_args, timings)
        timings["total_ms"] = (time.monotonic() - t0) * 1000
        self.last_reset_timings = timings
        return self.observe()

    def close(self) -> None:
        """Stop the container and the X server and delete the runtime folder; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop_container()
        self._stop_xvfb()
        try:
            remove_tree(self._runtime)
        except OSError:
            pass  # what is left is reaped by a later sandbox once this process has exited

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:
                self.close()
            except Exception:
                pass

    # -- requests -------------------------------------------------------------------------
    def ping(self, timeout_s: float = 2.0) -> None:
        """Check display, guest and application; raise the matching SandboxError if one is gone."""
        self._check_open()
        if self._xvfb is not None and self._xvfb.poll() is not None:
            raise errors.DisplayDied(f"the X server of sandbox {self.id} exited")
        if self._bwrap is not None and self._bwrap.poll() is not None:
            raise errors.GuestDied(f"the container of sandbox {self.id} exited")
        meta, _ = self._request("ping", timeout_s=timeout_s)
        self._check_app(meta)


def _live_identity(pid: int) -> str | None:
    """Return the start time of a process that is alive (not a zombie), else None."""
    fields = stat_fields(pid)
    return fields[19] if fields and fields[0] not in ("Z", "X") else None


def _child_of(pid: int, timeout_s: float = 5.0) -> tuple[int, str] | None:
    """Return (pid, start time) of the first child of ``pid`` (bwrap's namespace init)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            fields = stat_fields(entry) if entry.isdigit() else []
            if fields and int(fields[1]) == pid:
                return int(entry), fields[19]
        time.sleep(0.002)
    return None
