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
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from sandbox import channel, errors
from sandbox.actions import SandboxAction, to_json, validate
from sandbox.base import A11yNode, ExecResult, Observation, Sandbox
from sandbox.channel import GuestChannel, settle_args
from sandbox.cleanup import remove_tree
from sandbox.guest_files import (
    home_archive,
    prepare_chromium_etc,
    prepare_guest_folder,
    write_chromium_policies,
)
from sandbox.ocr import ScreenText, with_text
from sandbox.process import kill_group, spawn
from sandbox.profile import AppProfile, SetupStep, as_setup, find_profile, run_setup

TEMPLATES = Path(__file__).parent / "profiles" / "templates"
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


class XvfbSandbox(Sandbox):
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
        self._screen = screen
        self._guest_prefix = guest_prefix or os.environ.get("CUA_GUEST_PREFIX", DEFAULT_GUEST_PREFIX)
        check_system(self._guest_prefix)
        self._host_uid: int | None = None
        if os.geteuid() == 0:
            self._host_uid = sandbox_uid if sandbox_uid is not None else ROOT_FALLBACK_UID
        self._timeout = request_timeout_s
        self._encoding = encoding
        root = Path(runtime_root or tempfile.gettempdir())
        if self._host_uid is not None and not root.stat().st_mode & 0o001:
            raise errors.SandboxUnavailable(
                f"runtime root {root} is not searchable by others (mode {root.stat().st_mode & 0o7777:o}); "
                f"the container runs as uid {self._host_uid} and must reach its folder: use mode 1777 "
                "like /tmp, or another folder"
            )
        reap_stale_runtime_dirs(root)
        self._runtime = Path(tempfile.mkdtemp(prefix=f"cua-sbx-{self.id}-", dir=runtime_root))
        self._runtime.chmod(0o711)
        (self._runtime / "owner").write_text(_process_identity(os.getpid()) or "")
        self._home = self._runtime / "home"
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._xtmp = self._runtime / "xtmp"
        self._bwrap: subprocess.Popen[bytes] | None = None
        #: (pid, start time) of PID 1 of the container's namespace: gone means every process is.
        self._ns_init: tuple[int, str] | None = None
        self._channel: GuestChannel | None = None
        self._network: str | None = None
        self._profile: AppProfile | None = None
        self._last_image: Image.Image | None = None
        self._text = ScreenText()  # OCR of the screen, for observe(ocr=True)
        #: How the guest settled the last step: 'damage' (X DAMAGE events) or 'poll' (frames).
        self.settle_mode: str | None = None
        #: Which rule ended the last step's wait: calm, quiet, idle, max or poll (docs/profiles.md).
        self.settled_by: str | None = None
        self._closed = False
        self.last_reset_timings: dict[str, float] = {}

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
                "/run/cua/guest/agent.py",
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

    def _restore(self, prof: AppProfile) -> dict[str, Any]:
        """Have the guest end every process but its own and restore HOME, /tmp and /dev/shm.

        When the guest reports its infrastructure damaged (a socket removed, a daemon killed), or
        cannot restore (a process that outlived SIGKILL, a file it could not remove), the
        container is started afresh and restored again.
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
            self._stop_container()
            self._start_container(prof.network)
            reply, _ = self._request("restore", blob=archive, timeout_s=20.0)
            if reply.get("damaged"):
                raise errors.GuestError(f"sandbox {self.id} cannot be restored: {reply['damaged']}")
        return reply

    def _apply_chromium_policies(self, prof: AppProfile) -> None:
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
        t1 = time.monotonic()
        restored = self._restore(prof)
        timings["kill_ms"] = float(restored.get("kill_ms", 0.0))
        timings["home_ms"] = float(restored.get("files_ms", 0.0))
        timings["restore_ms"] = (time.monotonic() - t1) * 1000
        self._profile = prof
        self._apply_chromium_policies(prof)
        t2 = time.monotonic()
        run_setup(self, steps)
        timings["setup_ms"] = (time.monotonic() - t2) * 1000
        env = prof.launch_env()
        env.setdefault("LANG", prof.locale)
        env.setdefault("LC_ALL", prof.locale)
        launch, _ = self._request(
            "launch",
            {
                "argv": [*prof.command, *app_args],
                "env": env,
                "ready": {
                    "wm_class": prof.ready.wm_class,
                    "title": prof.ready.title,
                    "timeout_s": prof.ready.timeout_s,
                    "paint": prof.ready.paint,
                },
            },
            timeout_s=prof.ready.timeout_s + 10.0,
        )
        timings["window_ms"] = float(launch.get("window_ms", 0.0))
        timings["paint_ms"] = float(launch.get("paint_ms", 0.0))
        timings["settle_ms"] = float(launch.get("settle_ms", 0.0))
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
    def _check_open(self) -> None:
        if self._closed:
            raise errors.SandboxClosed(f"sandbox {self.id} is closed")

    def _request(
        self, op: str, args: dict[str, Any] | None = None, blob: bytes = b"", timeout_s: float | None = None
    ) -> tuple[dict[str, Any], bytes]:
        self._check_open()
        if self._channel is None:
            raise errors.SandboxError(f"sandbox {self.id} has no application yet: call reset(profile) first")
        if self._xvfb is not None and self._xvfb.poll() is not None and self._channel.broken is None:
            self._channel.close(errors.DisplayDied(f"the X server of sandbox {self.id} exited"))
        try:
            return self._channel.request(
                op, args, blob, timeout_s if timeout_s is not None else self._timeout
            )
        except errors.GuestError as exc:
            if self._xvfb is not None and self._xvfb.poll() is not None:
                raise errors.DisplayDied(f"the X server of sandbox {self.id} exited ({exc})") from exc
            raise

    def _to_observation(self, meta: dict[str, Any], blob: bytes, timings: dict[str, float]) -> Observation:
        obs = channel.observation(meta, blob, self._last_image, timings)
        self._last_image = obs.screenshot
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
                "reuse": self._last_image is not None,
            },
            timeout_s=timeout,
        )
        t1 = time.monotonic()
        self.settle_mode = meta.get("settle_mode")
        self.settled_by = meta.get("settled_by")
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
            {"a11y": a11y, "encoding": self._encoding, "reuse": self._last_image is not None},
            timeout_s=self._timeout + (10.0 if a11y else 0.0),
        )
        timings = {"capture": float(meta.get("capture_ms", 0.0))}
        obs = self._to_observation(meta, blob, timings)
        if ocr:
            obs = with_text(self._text, obs, timings)
        timings["total"] = (time.monotonic() - t0) * 1000
        return obs

    def accessibility_tree(self) -> tuple[A11yNode, ...]:
        """Return the visible, enabled nodes of every application's accessibility tree."""
        meta, _ = self._request("a11y", timeout_s=self._timeout + 10.0)
        return tuple(channel.a11y_node(row) for row in meta["rows"])

    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float = 30.0,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run a command in the container (as the application's user, in its HOME)."""
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
        """Return a file's content from inside the container."""
        _, blob = self._request("read_file", {"path": path})
        return blob

    def write_file(self, path: str, content: bytes, mode: int = 0o644) -> None:
        """Write a file inside the container as the application's user."""
        if isinstance(content, str):
            content = content.encode()
        self._request("write_file", {"path": path, "mode": mode}, blob=content)

    def ping(self, timeout_s: float = 2.0) -> None:
        """Check display, guest and application; raise the matching SandboxError if one is gone."""
        self._check_open()
        if self._xvfb is not None and self._xvfb.poll() is not None:
            raise errors.DisplayDied(f"the X server of sandbox {self.id} exited")
        if self._bwrap is not None and self._bwrap.poll() is not None:
            raise errors.GuestDied(f"the container of sandbox {self.id} exited")
        meta, _ = self._request("ping", timeout_s=timeout_s)
        self._check_app(meta)


def _stat_fields(pid: int | str) -> list[str]:
    """Return the fields of /proc/PID/stat after the command name (state first), or [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _live_identity(pid: int) -> str | None:
    """Return the start time of a process that is alive (not a zombie), else None."""
    fields = _stat_fields(pid)
    return fields[19] if fields and fields[0] not in ("Z", "X") else None


def _child_of(pid: int, timeout_s: float = 5.0) -> tuple[int, str] | None:
    """Return (pid, start time) of the first child of ``pid`` (bwrap's namespace init)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            fields = _stat_fields(entry) if entry.isdigit() else []
            if fields and int(fields[1]) == pid:
                return int(entry), fields[19]
        time.sleep(0.002)
    return None


def _process_identity(pid: int) -> str | None:
    """Return "pid starttime" for a live process (start time tells a reused pid apart), else None."""
    fields = _stat_fields(pid)
    return f"{pid} {fields[19]}" if fields else None


def reap_stale_runtime_dirs(root: Path) -> list[Path]:
    """Remove runtime folders of sandboxes whose owning process died without closing them.

    Their processes are already gone (they die with the owner); only files remain.
    """
    removed = []
    for folder in root.glob("cua-sbx-*"):
        try:
            owner = (folder / "owner").read_text().split()
        except OSError:
            continue
        if len(owner) == 2 and owner[0].isdigit() and _process_identity(int(owner[0])) != " ".join(owner):
            try:
                remove_tree(folder)
            except OSError:
                continue  # try again next time; never stop a new sandbox for an old folder
            removed.append(folder)
    return removed
