"""A hostile program inside a sandbox tries to survive a reset and to make the host write files.

The attacker is started the way an agent could start it: typed into the sandbox's xterm. It
renames itself after the desktop's infrastructure (``dbus-daemon``), and keeps planting links
from HOME (the template paths ``.Xdefaults``, ``.gtkrc-2.0`` and a ``.config`` folder swapped for
a link) to a file and a folder of the host's, root-owned, that it must never reach. Each test
checks the host's files byte for byte and by mode, and that no process of the attacker is left.
``CUA_ESCAPE_CYCLES`` raises the number of reset/close cycles of the property test (default 4;
the slow selection uses more).
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox import Click, Key, TypeText, XvfbSandbox
from sandbox.cleanup import remove_tree
from tests.sandbox.procs import sandbox_processes

pytestmark = [pytest.mark.x11, pytest.mark.timeout(300)]


@dataclass
class Victim:
    """Host files outside every sandbox, with what they held before the attack."""

    root: Path
    file: Path
    folder: Path

    def state(self) -> dict[str, object]:
        def mode(path: Path) -> tuple[int, int, int]:
            st = os.lstat(path)
            return (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)

        return {
            "file": self.file.read_bytes(),
            "file_mode": mode(self.file),
            "folder_mode": mode(self.folder),
            "folder_list": sorted(os.listdir(self.folder)),
            "root_mode": mode(self.root),
            "root_list": sorted(os.listdir(self.root)),
            "tmp_mode": mode(Path(tempfile.gettempdir())),
        }


@pytest.fixture
def victim() -> Iterator[Victim]:
    root = Path(tempfile.mkdtemp(prefix="cua-victim-"))
    file = root / "secret.conf"
    file.write_bytes(b"host secret: must never change\n")
    file.chmod(0o600)
    folder = root / "private"
    folder.mkdir(mode=0o700)
    (folder / "keep.txt").write_text("kept\n")
    yield Victim(root, file, folder)
    for path in (folder / "keep.txt", file):
        path.unlink(missing_ok=True)
    for extra in folder.iterdir():  # only if the attack wrote something (the test then failed)
        extra.unlink()
    folder.rmdir()
    root.rmdir()


def attack_script(victim: Victim) -> str:
    """A loop that renames itself and plants links to the victim, forever, as fast as it can."""
    return f"""#!/bin/sh
printf dbus-daemon > /proc/$$/comm
while :; do
  ln -sfn {victim.file} ~/.Xdefaults
  ln -sfn {victim.file} ~/.gtkrc-2.0
  rm -rf ~/.config 2>/dev/null
  ln -sfn {victim.folder} ~/.config
  ln -sfn {victim.file} /tmp/planted
  date +%s%N > /tmp/alive
done
"""


def start_attack(sb: XvfbSandbox, victim: Victim) -> None:
    """Write the script, start it from the xterm in the background, and see it running."""
    sb.write_file("/home/user/attack.sh", attack_script(victim).encode(), 0o755)
    sb.step(TypeText("setsid sh ~/attack.sh >/dev/null 2>&1 &\n"))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if attacker_pids(sb) and os.path.islink(sb.home_path / ".Xdefaults"):
            return
        time.sleep(0.05)
    raise AssertionError("the attack did not start (nothing renamed, no link planted)")


def attacker_pids(sb: XvfbSandbox) -> list[int]:
    """Return host pids of sandbox processes that call themselves dbus-daemon but run a shell."""
    pids = []
    for pid, cmd in sandbox_processes(sb.id).items():
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm == "dbus-daemon" and "attack.sh" in cmd:
            pids.append(pid)
    return pids


def wait_for_file(sb: XvfbSandbox, path: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not sb.exec(["test", "-e", path]).ok:
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def assert_nothing_left(sb: XvfbSandbox) -> None:
    left = {pid: cmd for pid, cmd in sandbox_processes(sb.id).items() if "attack.sh" in cmd}
    assert not left, f"attacker survived: {left}"
    result = sb.exec(["sh", "-c", "ls -A /tmp /dev/shm; cat ~/.Xdefaults | head -c 200"])
    assert "alive" not in result.stdout.decode() and "planted" not in result.stdout.decode()
    assert "host secret" not in result.stdout.decode()


def test_a_renamed_process_linking_home_to_host_files_is_gone_after_reset(victim: Victim) -> None:
    before = victim.state()
    with XvfbSandbox() as sb:
        sb.reset("xterm")
        start_attack(sb, victim)
        assert os.readlink(sb.home_path / ".Xdefaults") == str(victim.file)
        sb.reset("xterm")
        assert_nothing_left(sb)
        assert victim.state() == before
        # HOME is the template again, as the sandbox's own files (not links).
        assert not os.path.islink(sb.home_path / ".Xdefaults")
        assert (sb.home_path / ".config" / "gtk-3.0" / "settings.ini").is_file()
        time.sleep(0.3)
        assert victim.state() == before  # nothing keeps writing afterwards either


def test_close_while_the_attack_runs_touches_nothing_outside(victim: Victim) -> None:
    runtime_root = Path(tempfile.mkdtemp(prefix="cua-runtime-root-"))
    runtime_root.chmod(0o1777)
    before = victim.state()
    try:
        sb = XvfbSandbox(runtime_root=runtime_root)
        sb.reset("xterm")
        start_attack(sb, victim)
        sb.close()
        assert victim.state() == before
        assert stat.S_IMODE(runtime_root.stat().st_mode) == 0o1777  # the parent's mode is untouched
        assert list(runtime_root.iterdir()) == []  # and the runtime folder is gone
    finally:
        remove_tree(runtime_root)


def test_tmp_and_dev_shm_are_restored_by_a_reset() -> None:
    with XvfbSandbox() as sb:
        sb.reset("xterm")
        sb.step(TypeText("echo xterm > /tmp/t1; echo shm > /dev/shm/s1; mkdir -p /tmp/d/e; echo > ~/h1\n"))
        wait_for_file(sb, "/home/user/h1")
        sb.exec(["sh", "-c", "echo from-exec > /tmp/t2; echo x > /tmp/.cua-run/extra"])
        listing = sb.exec(["sh", "-c", "ls -A /tmp /dev/shm /tmp/.cua-run ~"]).stdout.decode()
        assert "t1" in listing and "t2" in listing and "s1" in listing and "h1" in listing
        sb.reset("xterm")
        listing = sb.exec(["sh", "-c", "ls -A /tmp /dev/shm /tmp/.cua-run ~"]).stdout.decode()
        for name in ("t1", "t2", "s1", "h1", "extra", "\nd\n"):
            assert name not in listing, listing
        # The desktop still works after the scratch folders were emptied.
        obs = sb.step(TypeText("echo still-works\n"))
        assert obs.app_running
        assert sb.observe(a11y=True).a11y is not None


def test_programs_cannot_see_or_signal_the_guest_and_infrastructure() -> None:
    with XvfbSandbox() as sb:
        sb.reset("xterm")
        ps = sb.exec(["ps", "-eo", "pid,args"]).stdout.decode()
        assert "guest/run.py" not in ps and "dbus-daemon" not in ps and "openbox" not in ps
        probe = b"ps -eo args > ~/ps.part && mv ~/ps.part ~/ps\n"
        sb.write_file("/home/user/probe.sh", probe)
        sb.step(TypeText("sh ~/probe.sh\n"))
        wait_for_file(sb, "/home/user/ps")
        seen = sb.read_file("/home/user/ps").decode()
        assert "xterm" in seen and "guest/run.py" not in seen and "openbox" not in seen


def test_the_session_bus_starts_nothing_the_sandbox_wrote() -> None:
    service = b"[D-BUS Service]\nName=org.cua.Evil\nExec=/bin/sh -c 'touch /tmp/evil-started; sleep 600'\n"
    with XvfbSandbox() as sb:
        sb.reset("xterm")
        for folder in ("/home/user/.local/share/dbus-1/services", "/tmp/.cua-run/dbus-1/services"):
            sb.exec(["mkdir", "-p", folder])
            sb.write_file(f"{folder}/org.cua.Evil.service", service)
        call = sb.exec(
            ["dbus-send", "--session", "--print-reply", "--dest=org.cua.Evil", "/", "org.cua.Evil.Ping"]
        )
        assert not call.ok and b"org.cua.Evil" in call.stderr
        env = sb.exec(["dbus-update-activation-environment", "LD_PRELOAD=/home/user/evil.so"])
        assert not env.ok
        assert not sb.exec(["test", "-e", "/tmp/evil-started"]).ok
        assert not any("evil-started" in cmd for cmd in sandbox_processes(sb.id).values())


def test_the_window_manager_runs_no_program_from_a_planted_menu() -> None:
    menu = b"""<?xml version="1.0"?>
<openbox_menu xmlns="http://openbox.org/3.4/menu">
  <menu id="root-menu" label="Evil">
    <item label="Evil"><action name="Execute"><command>touch /tmp/wm-started</command></action></item>
  </menu>
</openbox_menu>
"""
    with XvfbSandbox() as sb:
        sb.reset("xterm")
        sb.exec(["mkdir", "-p", "/home/user/.config/openbox"])
        sb.write_file("/home/user/.config/openbox/menu.xml", menu)
        assert sb.exec(["openbox", "--reconfigure"]).ok
        time.sleep(0.5)
        # Right-click the bare desktop (the xterm sits at the top left), then the first entry.
        sb.step(Click(1150, 700, button="right"))
        sb.step(Click(1165, 712))
        sb.step(Key(("escape",)))
        time.sleep(0.5)
        assert not sb.exec(["test", "-e", "/tmp/wm-started"]).ok
        assert not any("wm-started" in cmd for cmd in sandbox_processes(sb.id).values())


def test_many_reset_and_close_cycles_against_a_hostile_process(victim: Victim) -> None:
    """Property-style: whatever the timing, the host's files and folders never change."""
    cycles = int(os.environ.get("CUA_ESCAPE_CYCLES", "4"))
    before = victim.state()
    runtime_root = Path(tempfile.mkdtemp(prefix="cua-runtime-root-"))
    runtime_root.chmod(0o1777)  # like /tmp: the container's user must be able to pass through
    root_mode = stat.S_IMODE(runtime_root.stat().st_mode)
    try:
        for cycle in range(cycles):
            sb = XvfbSandbox(runtime_root=runtime_root)
            try:
                sb.reset("xterm")
                start_attack(sb, victim)
                time.sleep(0.05 * (cycle % 4))  # vary where in its loop the attacker is
                sb.reset("xterm")
                assert_nothing_left(sb)
                start_attack(sb, victim)
            finally:
                sb.close()  # with the attacker running
            assert victim.state() == before, f"cycle {cycle}"
            assert stat.S_IMODE(runtime_root.stat().st_mode) == root_mode
            assert list(runtime_root.iterdir()) == []
            assert not sandbox_processes(sb.id)
    finally:
        runtime_root.rmdir()


X_PROBE = """
import json, sys
from Xlib import X, Xatom, display
d = display.Display()
root = d.screen().root
bus = d.intern_atom("AT_SPI_BUS")
a = d.keysym_to_keycode(0x61)
if sys.argv[1] == "attack":
    buttons = list(d.get_pointer_mapping())
    buttons[0], buttons[2] = buttons[2], buttons[0]
    d.set_pointer_mapping(buttons)
    d.change_keyboard_mapping(a, [tuple([0x62] * len(d.get_keyboard_mapping(a, 1)[0]))])
    root.change_property(bus, Xatom.STRING, 8, b"unix:path=/home/user/evil-bus")
    d.set_screen_saver(5, 5, X.DefaultBlanking, X.DefaultExposures)
    d.sync()
prop = root.get_full_property(bus, X.AnyPropertyType)
print(json.dumps({
    "buttons": list(d.get_pointer_mapping())[:3],
    "a": list(d.get_keyboard_mapping(a, 1)[0])[:2],
    "bus": prop.value.decode() if prop else None,
    "saver": d.get_screen_saver().timeout,
}))
"""


def test_x_settings_a_program_changes_are_put_back_by_a_reset() -> None:
    with XvfbSandbox() as sb:
        sb.reset("xterm")
        python = f"{sb._guest_prefix}/bin/python"
        read = ["sh", "-c", f"{python} -c '{X_PROBE}' read"]
        before = sb.exec(read).stdout
        attacked = sb.exec(["sh", "-c", f"{python} -c '{X_PROBE}' attack"])
        assert attacked.ok, attacked.stderr
        assert attacked.stdout != before  # the attack took effect
        sb.reset("xterm")
        assert sb.exec(read).stdout == before


def test_a_removed_infrastructure_socket_makes_the_next_reset_start_afresh() -> None:
    with XvfbSandbox() as sb:
        sb.reset("mousepad")
        before = sb.host_pids()
        assert sb.exec(["rm", "/tmp/.cua-run/bus"]).ok  # the session bus can no longer be reached
        sb.reset("mousepad")
        assert sb.host_pids() != before  # the container was started again
        assert sb.exec(["test", "-S", "/tmp/.cua-run/bus"]).ok
        assert sb.observe(a11y=True).a11y  # the accessibility tree works again
