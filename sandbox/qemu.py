"""QemuSandbox: the same guest agent inside a Linux VM, reset by restoring a memory snapshot.

Per sandbox, on the host: one ``qemu-system-x86_64`` booting the image that
``scripts/vm/build_image.sh`` builds (a kernel and initrd, and a root file system used through a
qcow2 overlay of the sandbox's own, so the cached image is never written). Inside the VM, PID 1
(``scripts/vm/init.sh``) starts Xvfb and runs the guest agent (``sandbox/guest/agent.py``, handed
to the VM on a small read-only disk, so its code is always this checkout's) as uid 1000 in a
bubblewrap container, as ``XvfbSandbox`` does on the host. Only the transport differs: the agent
reads and writes a virtio-serial port whose host end is a unix socket of QEMU's. The VM has no
network device unless the profile asks for one (``network = "full"``: user-mode networking).
A profile's Chromium policies go in at boot: the host puts them on that disk and PID 1 makes them
the only file in the VM's ``/etc/chromium/policies`` (the container cannot write there).

Once the desktop and the guest are up, QEMU saves a snapshot (``savevm``: memory, devices and
the overlay). A reset restores it (``loadvm``), reconnects to the guest and checks the kernel
is the snapshot's boot (no boot happened), then the profile's part of the reset (HOME from its template, setup
steps, the application) goes through the guest exactly as for ``XvfbSandbox``
(``sandbox.guest_sandbox``). A reset boots only when the screen size, the network or the
Chromium policies change.

KVM is used when ``/dev/kvm`` runs a guest (probed once per process, with a timeout: a nested,
paravirtual KVM can fail or hang); otherwise TCG emulates every instruction, and a warning says
how much slower that is. ``CUA_QEMU_ACCEL=kvm|tcg`` forces the choice.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import errors
from sandbox.base import Observation
from sandbox.channel import GuestChannel
from sandbox.cleanup import claim_runtime_dir, reap_stale_runtime_dirs, remove_tree
from sandbox.guest_files import prepare_guest_folder
from sandbox.guest_sandbox import GuestSandbox
from sandbox.process import kill_group, spawn
from sandbox.profile import AppProfile, SetupStep, as_setup, find_profile

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
#: Where the image's files are, overriding the cache (a folder made by build_image.sh).
IMAGE_ENV = "CUA_VM_IMAGE"
#: Forces the accelerator: 'kvm' or 'tcg'.
ACCEL_ENV = "CUA_QEMU_ACCEL"
#: The name of the virtio-serial port the guest agent talks on (scripts/vm/init.sh looks for it).
PORT_NAME = "org.cua.guest"
SNAPSHOT = "cua-desktop"
#: Runtime folders (overlay, sockets, logs) are named so; stale ones are removed (``cleanup``).
RUNTIME_PREFIX = "cua-vm-"
#: The file of the guest disk that PID 1 installs as the VM's only Chromium policies.
POLICY_FILE = "chromium-policies.json"
#: The user QEMU switches to (``-runas``) once it has opened its files, when started as root.
RUN_AS = "nobody"
#: Under TCG applications run several times slower (xterm starts in 0.14 s on the host, 4-5 s
#: here): the sandbox's ``slowdown``, by which readiness timeouts and oracle waits are multiplied.
TCG_SLOWDOWN = 4.0
BUILD_HINT = "build it with `bash scripts/vm/build_image.sh` (as root; cached)"
TCG_WARNING = (
    "QEMU runs without KVM here ({why}): TCG emulates every instruction, so a VM sandbox boots "
    "its desktop in tens of seconds and each step is several times slower than in XvfbSandbox"
)


def cache_dir() -> Path:
    """Return the folder of cached VM images (``$CUA_CACHE_DIR/vm``, default ~/.cache/cua/vm)."""
    root = os.environ.get("CUA_CACHE_DIR") or str(Path.home() / ".cache" / "cua")
    return Path(root) / "vm"


@dataclass(frozen=True)
class VmImage:
    """A built image: the folder holding ``rootfs.qcow2``, ``vmlinuz``, ``initrd.img``, ``image.json``."""

    folder: Path

    @property
    def disk(self) -> Path:
        """Return the root file system (qcow2), the backing file of every sandbox's overlay."""
        return self.folder / "rootfs.qcow2"

    @property
    def kernel(self) -> Path:
        """Return the kernel booted with ``-kernel``."""
        return self.folder / "vmlinuz"

    @property
    def initrd(self) -> Path:
        """Return the initrd booted with ``-initrd``."""
        return self.folder / "initrd.img"

    def info(self) -> dict[str, Any]:
        """Return what the build recorded (flavor, build time, sizes)."""
        try:
            data = json.loads((self.folder / "image.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def find_image(path: str | Path | None = None) -> VmImage:
    """Return the image at ``path``, ``$CUA_VM_IMAGE``, or the cached full, else test, build."""
    candidates = [Path(p) for p in (path, os.environ.get(IMAGE_ENV)) if p]
    if not candidates:
        candidates = [cache_dir() / "full", cache_dir() / "test"]
    for folder in candidates:
        image = VmImage(folder.resolve())
        if all(p.is_file() for p in (image.disk, image.kernel, image.initrd)):
            return image
    raise errors.SandboxUnavailable(f"no VM image at {', '.join(str(c) for c in candidates)}; {BUILD_HINT}")


def check_system() -> None:
    """Raise SandboxUnavailable naming the missing QEMU tools and how to install them."""
    missing = [tool for tool in (QEMU, "qemu-img", "setpriv") if shutil.which(tool) is None]
    if missing:
        raise errors.SandboxUnavailable(
            f"missing {', '.join(missing)}; run `bash scripts/setup_system.sh` (as root) to install them"
        )


_accel_lock = threading.Lock()
_accel: tuple[str, str] | None = None


def choose_accel(kernel: Path, timeout_s: float = 10.0) -> tuple[str, str]:
    """Return ('kvm' or 'tcg', why), probing KVM by booting ``kernel`` once per host boot.

    The probe boots the kernel with no root file system: under a working KVM it reaches its
    panic ("unable to mount root") in a second or two and QEMU exits (``-no-reboot``). A
    missing or unusable ``/dev/kvm``, an error, or no panic within ``timeout_s`` means TCG. The
    answer is kept in the cache, keyed by the host's boot id (a hung probe costs ``timeout_s``).
    """
    global _accel
    forced = os.environ.get(ACCEL_ENV, "")
    if forced in ("kvm", "tcg"):
        return forced, f"{ACCEL_ENV}={forced}"
    with _accel_lock:
        if _accel is None:
            _accel = _cached_probe(kernel, timeout_s)
            if _accel[0] == "tcg":
                log.warning(TCG_WARNING.format(why=_accel[1]))
        return _accel


def _cached_probe(kernel: Path, timeout_s: float) -> tuple[str, str]:
    path = cache_dir() / "accel.json"
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = ""
    try:
        saved = json.loads(path.read_text())
        if boot_id and saved.get("boot_id") == boot_id and saved.get("accel") in ("kvm", "tcg"):
            return str(saved["accel"]), str(saved["why"])
    except (OSError, ValueError, AttributeError):
        pass
    accel, why = _probe_kvm(kernel, timeout_s)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(f".{os.getpid()}.part")
        part.write_text(json.dumps({"boot_id": boot_id, "accel": accel, "why": why}))
        os.replace(part, path)
    except OSError:
        pass  # probed again next time
    return accel, why


def _probe_kvm(kernel: Path, timeout_s: float) -> tuple[str, str]:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "/dev/kvm is missing or not accessible"
    argv = [
        QEMU, "-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults", "-no-user-config",
        "-display", "none", "-no-reboot", "-serial", "stdio", "-kernel", str(kernel),
        "-append", "console=ttyS0 panic=-1 root=/dev/nonexistent",
    ]  # fmt: skip
    try:
        result = subprocess.run(argv, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "tcg", f"a kernel under KVM did not boot within {timeout_s:.0f} s (nested KVM?)"
    except OSError as exc:
        return "tcg", f"QEMU could not start with KVM: {exc}"
    if b"Kernel panic" in result.stdout:
        return "kvm", "a kernel booted under KVM"
    detail = (result.stderr or result.stdout)[-200:].decode(errors="replace").strip()
    return "tcg", f"a kernel under KVM failed ({detail or 'no output'})"


def _connect_unix(path: Path, timeout_s: float, alive: Any) -> socket.socket | None:
    """Connect to the unix socket ``path`` that QEMU opens as it starts.

    Retries until it accepts; None once ``timeout_s`` passed or ``alive()`` says QEMU is gone.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline or not alive():
                return None
            time.sleep(0.01)


def _policy_text(profile: AppProfile) -> str:
    """Return ``profile``'s Chromium policies as the file PID 1 installs ('' when it sets none)."""
    if not profile.chromium_policies:
        return ""
    return json.dumps(dict(profile.chromium_policies), indent=2, sort_keys=True)


class _Monitor:
    """A QMP connection to one QEMU: commands and their replies; events are skipped."""

    def __init__(self, path: Path, timeout_s: float, alive: Any) -> None:
        sock = _connect_unix(path, timeout_s, alive)
        if sock is None:
            raise errors.GuestDied(f"QEMU's monitor {path} did not open")
        self._sock = sock
        self._file = sock.makefile("rwb")
        self._read(timeout_s)  # the greeting
        self.execute("qmp_capabilities")

    def _read(self, timeout_s: float) -> dict[str, Any]:
        self._sock.settimeout(timeout_s)
        try:
            line = self._file.readline()
        except TimeoutError:
            raise errors.GuestHung(f"QEMU's monitor did not answer in {timeout_s:.0f} s") from None
        except OSError as exc:
            raise errors.GuestDied(f"QEMU's monitor closed: {exc}") from None
        if not line:
            raise errors.GuestDied("QEMU's monitor closed (QEMU exited)")
        msg = json.loads(line)
        return msg if isinstance(msg, dict) else {}

    def execute(self, command: str, args: dict[str, Any] | None = None, timeout_s: float = 30.0) -> Any:
        """Run one QMP command and return its result; a QMP error is a GuestError."""
        request: dict[str, Any] = {"execute": command}
        if args:
            request["arguments"] = args
        try:
            self._file.write(json.dumps(request).encode() + b"\n")
            self._file.flush()
        except OSError as exc:
            raise errors.GuestDied(f"QEMU's monitor closed: {exc}") from None
        deadline = time.monotonic() + timeout_s
        while True:
            msg = self._read(max(0.1, deadline - time.monotonic()))
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise errors.GuestError(f"QEMU {command}: {msg['error'].get('desc', msg['error'])}")

    def hmp(self, line: str, timeout_s: float = 120.0) -> None:
        """Run a human-monitor command (``savevm``, ``loadvm``); its printed error is a GuestError."""
        out = self.execute("human-monitor-command", {"command-line": line}, timeout_s)
        if isinstance(out, str) and out.strip():
            raise errors.GuestError(f"QEMU {line!r}: {out.strip()}")

    def close(self) -> None:
        """Close the connection (QEMU keeps running)."""
        try:
            self._file.close()
            self._sock.close()
        except OSError:
            pass


class QemuSandbox(GuestSandbox):
    """A sandbox desktop in a QEMU VM, driven by the guest agent over virtio-serial."""

    def __init__(
        self,
        screen: tuple[int, int] = (1280, 800),
        *,
        image: str | Path | None = None,
        runtime_root: str | Path | None = None,
        memory_mb: int = 1024,
        cpus: int = 2,
        accel: str | None = None,
        boot_timeout_s: float = 300.0,
        request_timeout_s: float = 30.0,
        encoding: str = "bgrx",
    ) -> None:
        """Prepare a sandbox; the VM boots at the first ``reset``.

        ``image`` is a folder built by ``scripts/vm/build_image.sh`` (default: the cached build).
        ``accel`` forces 'kvm' or 'tcg' (default: KVM when it works). ``encoding`` is how
        screenshots cross the port: raw 'bgrx' or 'png'. Timeouts are generous for TCG.
        """
        self.id = uuid.uuid4().hex[:12]
        self._init_guest_state(screen, request_timeout_s, encoding)
        check_system()
        self.image = find_image(image)
        if accel not in (None, "kvm", "tcg"):
            raise errors.SandboxError(f"accel must be 'kvm' or 'tcg', not {accel!r}")
        self.accel, self.accel_reason = (accel, "asked for") if accel else choose_accel(self.image.kernel)
        if self.accel == "tcg":
            self._slowdown = TCG_SLOWDOWN
        self._memory_mb = memory_mb
        self._cpus = cpus
        self._boot_timeout = boot_timeout_s
        reap_stale_runtime_dirs(Path(runtime_root or tempfile.gettempdir()), RUNTIME_PREFIX)
        self._runtime = Path(tempfile.mkdtemp(prefix=f"{RUNTIME_PREFIX}{self.id}-", dir=runtime_root))
        self._runtime.chmod(0o711)
        claim_runtime_dir(self._runtime)
        self._qemu: subprocess.Popen[bytes] | None = None
        self._monitor: _Monitor | None = None
        self._network: str | None = None
        #: The Chromium policies the VM booted with (canonical JSON; '' for none).
        self._policies: str | None = None
        #: The VM kernel's boot id when the snapshot was taken (restores keep it).
        self._boot_id = ""
        #: Whether the VM is exactly as its snapshot left it (just booted or restored).
        self._pristine = False
        #: Cold boot timings of the current VM: 'boot_ms' (QEMU start to the guest's hello) and
        #: 'snapshot_ms' (savevm).
        self.boot_timings: dict[str, float] = {}
        #: The guest's /proc/uptime when the snapshot was taken: a restored VM goes on from it.
        self.snapshot_uptime_s = 0.0

    # -- properties -----------------------------------------------------------------------
    @property
    def console_log(self) -> Path:
        """Return the file the VM's serial console (kernel, init, guest errors) is written to."""
        return self._runtime / "console.log"

    def host_pids(self) -> list[int]:
        """Return the host pid of QEMU while it runs."""
        return [self._qemu.pid] if self._qemu is not None and self._qemu.poll() is None else []

    # -- lifecycle ------------------------------------------------------------------------
    def _console_tail(self, n: int = 800) -> str:
        try:
            return self.console_log.read_text(errors="replace")[-n:].strip() or "no output"
        except OSError:
            return "no console log"

    def _qemu_argv(self, screen: tuple[int, int], network: str) -> list[str]:
        run = self._runtime
        append = (
            # Kernel messages at info level go to console.log: a boot that never reaches the
            # guest's hello says how far it got (the cost under TCG was not measurable).
            f"root=/dev/vda rw init=/sbin/cua-init console=ttyS0 loglevel=6 panic=-1 "
            f"cua.screen={screen[0]}x{screen[1]}" + (" cua.net=1" if network == "full" else "")
        )
        accel = ["-accel", "kvm", "-cpu", "host"] if self.accel == "kvm" else ["-accel", "tcg", "-cpu", "max"]
        nic = ["-nic", "user,model=virtio-net-pci"] if network == "full" else ["-nic", "none"]
        return [
            QEMU, "-name", f"cua-{self.id}", "-machine", "q35", *accel,
            "-m", str(self._memory_mb), "-smp", str(self._cpus),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd), "-append", append,
            "-serial", f"file:{run / 'console.log'}",
            "-drive", f"if=none,id=root,file={run / 'overlay.qcow2'},format=qcow2,cache=unsafe",
            "-device", "virtio-blk-pci,drive=root",
            "-drive", f"if=none,id=guest,file={run / 'guest.tar'},format=raw,readonly=on",
            "-device", "virtio-blk-pci,drive=guest",
            "-device", "virtio-serial-pci,id=vser",
            "-chardev", f"socket,id=cua,path={run / 'guest.sock'},server=on,wait=off",
            "-device", f"virtserialport,bus=vser.0,chardev=cua,name={PORT_NAME}",
            "-device", "virtio-rng-pci",
            "-qmp", f"unix:{run / 'qmp.sock'},server=on,wait=off",
            *nic,
            # As root, QEMU opens its disks, sockets and /dev/kvm, then drops to nobody.
            *(["-runas", RUN_AS] if os.geteuid() == 0 else []),
        ]  # fmt: skip

    def _prepare_disks(self, policies: str) -> None:
        """Write a fresh overlay of the image and the tar of the guest (the VM's /dev/vdb).

        The tar holds the guest's code and configuration and, when ``policies`` is not empty,
        the Chromium policies PID 1 installs (``POLICY_FILE``).
        """
        run = self._runtime
        for name in ("overlay.qcow2", "guest.tar", "guest.sock", "qmp.sock", "console.log"):
            (run / name).unlink(missing_ok=True)
        made = subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(self.image.disk),
             str(run / "overlay.qcow2")],
            capture_output=True,
        )  # fmt: skip
        if made.returncode != 0:
            raise errors.SandboxUnavailable(f"qemu-img create failed: {made.stderr.decode(errors='replace')}")
        folder = run / "guest"
        prepare_guest_folder(folder)
        (folder / POLICY_FILE).unlink(missing_ok=True)
        if policies:
            (folder / POLICY_FILE).write_text(policies)
        with tarfile.open(run / "guest.tar", "w", format=tarfile.GNU_FORMAT) as tar:
            for path in sorted(folder.iterdir()):
                tar.add(path, arcname=path.name)

    def _boot(self, screen: tuple[int, int], network: str, policies: str) -> None:
        """Start the VM, wait for the guest's hello, and save the snapshot resets restore."""
        t0 = time.monotonic()
        self._prepare_disks(policies)
        self._qemu = spawn(
            self._qemu_argv(screen, network),
            stderr=open(self._runtime / "qemu.log", "wb"),
        )
        try:
            self._monitor = _Monitor(self._runtime / "qmp.sock", 30.0, self._qemu_alive)
            self._connect_guest()
            assert self._channel is not None
            try:
                msg, _ = self._channel.receive(timeout_s=self._boot_timeout)
            except errors.SandboxError as exc:
                # A VM still running without a word from its guest is hung, one that exited died.
                failed = errors.GuestHung if self._qemu_alive() else errors.GuestDied
                raise failed(
                    f"the guest agent of VM sandbox {self.id} did not start ({exc}); "
                    f"console: {self._console_tail()}; qemu: {self._qemu_log()}"
                ) from None
            if not msg.get("ok"):
                raise errors.GuestDied(f"guest agent failed to start in the VM: {msg.get('message')}")
            self._boot_id = self._read_boot_id()
            _, uptime = self._channel.request("read_file", {"path": "/proc/uptime"})
            self.snapshot_uptime_s = float(uptime.split()[0])
            booted = time.monotonic()
            self._monitor.hmp(f"savevm {SNAPSHOT}", timeout_s=max(120.0, self._boot_timeout))
        except BaseException:
            self._stop_vm()
            raise
        self.boot_timings = {
            "boot_ms": (booted - t0) * 1000,
            "snapshot_ms": (time.monotonic() - booted) * 1000,
        }
        self._screen = screen
        self._network = network
        self._policies = policies
        self._pristine = True

    def _connect_guest(self) -> None:
        """Open a new connection to the guest's port (QEMU's chardev socket)."""
        path = self._runtime / "guest.sock"
        sock = _connect_unix(path, 30.0, self._qemu_alive)
        if sock is None:
            raise errors.GuestDied(f"QEMU of sandbox {self.id} did not open {path}: {self._qemu_log()}")
        self._channel = GuestChannel(sock, self._lost)

    def _read_boot_id(self) -> str:
        """Return the VM kernel's boot id: a boot would change it, a restored snapshot does not."""
        assert self._channel is not None
        _, data = self._channel.request(
            "read_file", {"path": "/proc/sys/kernel/random/boot_id"}, timeout_s=self._timeout
        )
        return data.decode().strip()

    def _rewind(self) -> dict[str, float]:
        """Restore the snapshot (no boot), reconnect, and check the kernel is the same boot.

        The old connection is dropped first, with whatever a timed-out request left in it; the
        guest, restored to where it waited for a request, waits through the reconnect.
        """
        assert self._monitor is not None
        t0 = time.monotonic()
        if self._channel is not None:
            self._channel.close(errors.SandboxError("restoring the VM snapshot"))
            self._channel = None
        self._monitor.execute("stop")
        self._monitor.hmp(f"loadvm {SNAPSHOT}", timeout_s=max(120.0, self._boot_timeout))
        t1 = time.monotonic()
        self._connect_guest()
        self._monitor.execute("cont")
        boot_id = self._read_boot_id()  # the guest answers, from the snapshot's kernel
        if boot_id != self._boot_id:
            raise errors.GuestDied(
                f"the VM of sandbox {self.id} has boot id {boot_id} after the restore, not "
                f"{self._boot_id}: it was not restored"
            )
        self._last_image = None
        self._pristine = True
        return {"loadvm_ms": (t1 - t0) * 1000, "rewind_ms": (time.monotonic() - t0) * 1000}

    def _apply_policies(self, profile: AppProfile) -> None:
        """Nothing to do: the VM booted with ``profile``'s Chromium policies (``reset`` saw to it)."""
        if _policy_text(profile) != self._policies:  # a reset always boots when they differ
            raise errors.SandboxError(
                f"the VM of sandbox {self.id} runs other Chromium policies than {profile.name!r}'s"
            )

    def _qemu_alive(self) -> bool:
        return self._qemu is not None and self._qemu.poll() is None

    def _qemu_log(self) -> str:
        try:
            return (self._runtime / "qemu.log").read_text(errors="replace")[-400:].strip() or "no output"
        except OSError:
            return "no log"

    def _lost(self, detail: str) -> errors.SandboxError:
        """Decide which part died when the guest connection broke."""
        deadline = time.monotonic() + 1.0
        while self._qemu_alive() and time.monotonic() < deadline:
            time.sleep(0.01)  # the stream closes a moment before QEMU has exited
        if not self._qemu_alive():
            return errors.GuestDied(
                f"the VM of sandbox {self.id} exited ({detail}); console: {self._console_tail(400)}"
            )
        return errors.GuestDied(f"the guest agent of VM sandbox {self.id} went away ({detail})")

    def _dead_part(self) -> errors.SandboxCrashed | None:
        if self._qemu is not None and self._qemu.poll() is not None:
            return errors.GuestDied(
                f"the VM of sandbox {self.id} exited ({self._qemu.returncode}); "
                f"console: {self._console_tail(400)}"
            )
        return None

    def _restart_guest(self, profile: AppProfile) -> None:
        """Restore the snapshot: the guest reported its infrastructure damaged."""
        self._rewind()

    def _stop_vm(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._monitor is not None:
            self._monitor.close()
            self._monitor = None
        kill_group(self._qemu)
        self._qemu = None
        self._boot_id = ""
        self._pristine = False

    def reset(
        self,
        profile: AppProfile | str,
        setup: Sequence[SetupStep] = (),
        app_args: Sequence[str] = (),
    ) -> Observation:
        """Restore the desktop snapshot (booting only when needed), then HOME, setup, the app."""
        self._check_open()
        prof = find_profile(profile)
        steps = as_setup(setup)
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        healthy = self._qemu_alive() and self._monitor is not None
        policies = _policy_text(prof)
        booted_for = (self._screen, self._network, self._policies)
        if not healthy or (prof.screen, prof.network, policies) != booted_for:
            self._stop_vm()
            try:
                self._boot(prof.screen, prof.network, policies)
            except errors.GuestHung as exc:
                # Seen once in about 40 boots under TCG (the full suite's third boot of one
                # sandbox): no hello within the boot timeout, QEMU still running. A second
                # boot from a fresh overlay is cheaper than failing the episode.
                log.warning("VM sandbox %s did not come up, booting it once more: %s", self.id, exc)
                self._boot(prof.screen, prof.network, policies)
            if self._closed:  # close() ran in another thread while we were booting
                self._stop_vm()
                raise errors.SandboxClosed(f"sandbox {self.id} was closed during reset")
            timings.update(self.boot_timings)
        elif not self._pristine or self._channel is None or self._channel.broken is not None:
            timings.update(self._rewind())
        self._pristine = False
        self._start_app(prof, steps, app_args, timings)
        timings["total_ms"] = (time.monotonic() - t0) * 1000
        self.last_reset_timings = timings
        return self.observe()

    def close(self) -> None:
        """Stop QEMU and delete the overlay and the runtime folder; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop_vm()
        try:
            remove_tree(self._runtime)
        except OSError:
            pass

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:
                self.close()
            except Exception:
                pass

    def ping(self, timeout_s: float = 2.0) -> None:
        """Check the VM, the guest and the application; raise the matching SandboxError if one is gone."""
        self._check_open()
        dead = self._dead_part()
        if dead is not None:
            raise dead
        meta, _ = self._request("ping", timeout_s=timeout_s)
        self._check_app(meta)
