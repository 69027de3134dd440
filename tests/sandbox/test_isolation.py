"""What a process inside a sandbox can and cannot reach."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import XvfbSandbox, find_profile

pytestmark = [pytest.mark.x11, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sb(sb: XvfbSandbox) -> XvfbSandbox:
    """The module's shared sandbox (tests/conftest.py) with xterm started once, for running commands."""
    sb.reset("xterm")
    return sb


def sh(box: XvfbSandbox, script: str) -> subprocess.CompletedProcess[str]:
    r = box.exec(["bash", "-c", script], timeout_s=20)
    return subprocess.CompletedProcess(script, r.returncode, r.stdout.decode(), r.stderr.decode())


@pytest.fixture
def host_server() -> Iterator[int]:
    """A TCP server on the host's loopback that answers 'hello' to every connection."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            conn.sendall(b"hello\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join()
    srv.close()


def test_host_loopback_server_is_unreachable_by_default(sb: XvfbSandbox, host_server: int) -> None:
    r = sh(sb, f"timeout 3 bash -c 'cat < /dev/tcp/127.0.0.1/{host_server}'")
    assert r.returncode != 0 and "hello" not in r.stdout
    # The sandbox has a loopback of its own, so local servers inside it still work.
    r = sh(sb, "ip -brief addr 2>/dev/null || cat /proc/net/dev")
    assert "lo" in r.stdout and "eth" not in r.stdout


def test_full_network_policy_reaches_the_host(host_server: int) -> None:
    """The same probe succeeds with network = 'full', so the test above is not vacuous."""
    from dataclasses import replace

    with XvfbSandbox() as box:
        box.reset(replace(find_profile("xterm"), network="full"))
        r = sh(box, f"timeout 3 bash -c 'cat < /dev/tcp/127.0.0.1/{host_server}'")
        assert r.stdout.strip() == "hello"


def test_other_sandboxes_displays_are_invisible(sb: XvfbSandbox) -> None:
    with XvfbSandbox() as other:
        other.reset("xterm")
        assert other.x_socket != sb.x_socket
        r = sh(sb, "ls -A /tmp/.X11-unix; ls -A /tmp")
        assert r.stdout.split().count("X0") == 1
        assert str(other.x_socket) not in r.stdout
        # The other display's socket path does not exist inside, and nothing but :0 connects.
        r = sh(sb, f"test -e {other.x_socket} && echo visible || echo hidden")
        assert r.stdout.strip() == "hidden"
        r = sh(sb, "for d in 1 2 3 4 5 10 99; do xdpyinfo -display :$d >/dev/null 2>&1 && echo $d; done")
        assert r.stdout.strip() == ""
        assert sh(sb, "xdpyinfo -display :0 >/dev/null && echo ok").stdout.strip() == "ok"


def test_host_x_sockets_are_not_reachable(sb: XvfbSandbox) -> None:
    """Displays of the host (e.g. a developer's :0) are neither listed nor connectable."""
    r = sh(sb, "ls -A /tmp/.X11-unix")
    assert r.stdout.split() == ["X0"]


@pytest.mark.parametrize(
    "path",
    [
        "/usr/bin/evil",
        "/etc/evil",
        "/opt/cua-guest/evil",
        "/evil",
        "/var/evil",
        "/home/evil",
        "/run/evil",
        "/run/cua/guest/evil",
    ],
)
def test_cannot_write_outside_home_and_tmp(sb: XvfbSandbox, path: str) -> None:
    r = sh(sb, f"echo x > {path}")
    assert r.returncode != 0, f"wrote {path}"


def test_can_write_home_and_tmp(sb: XvfbSandbox) -> None:
    r = sh(sb, "echo a > ~/a.txt && echo b > /tmp/b.txt && cat ~/a.txt /tmp/b.txt")
    assert r.returncode == 0 and r.stdout.split() == ["a", "b"]


def test_cannot_read_the_real_home_the_project_or_the_data_dir(sb: XvfbSandbox) -> None:
    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    data_dir = Path(os.environ.get("XDG_DATA_HOME", real_home / ".local/share")) / "cua"
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = uuid.uuid4().hex
    markers = [real_home / f".cua-isolation-{secret}", data_dir / f"isolation-{secret}"]
    for marker in markers:
        marker.write_text(secret)
    try:
        for marker in markers:
            r = sh(sb, f"cat {marker}")
            assert secret not in r.stdout and r.returncode != 0
        # Every folder that is not a read-only system folder: the secret is in none of them.
        r = sh(
            sb, f"grep -rsl {secret} /home /tmp /run /var /root /work /mnt /srv /media 2>/dev/null | head -1"
        )
        assert secret not in r.stdout
        assert sh(sb, f"test -e {ROOT / 'pyproject.toml'} && echo yes || echo no").stdout.strip() == "no"
        assert sh(sb, f"ls {real_home} 2>/dev/null | wc -l").stdout.strip() == "0"
    finally:
        for marker in markers:
            marker.unlink()


def test_runs_as_unprivileged_user_in_own_pid_namespace(sb: XvfbSandbox) -> None:
    r = sh(sb, "id -u; cat /etc/shadow >/dev/null 2>&1 && echo shadow-readable; ps -e -o comm=")
    lines = r.stdout.split()
    assert lines[0] == "1000"
    assert "shadow-readable" not in lines
    assert "python3" not in lines or len(lines) < 30  # only the sandbox's own processes
    host_pid_visible = sh(sb, f"test -d /proc/{os.getpid()} && echo yes || echo no").stdout.strip()
    assert host_pid_visible == "no" or os.getpid() < 20


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create an unprivileged test user")
def test_conformance_as_a_non_root_user() -> None:
    """The whole contract holds when the host process is an ordinary user."""
    user = "cua-sandbox-test"
    if subprocess.run(["id", "-u", user], capture_output=True).returncode != 0:
        subprocess.run(
            ["/usr/sbin/useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", user], check=True
        )
    # The host side of `sandbox` needs only the standard library and Pillow, which the guest
    # runtime has; the user gets a world-readable copy of the package (the checkout itself may
    # live in root's home) and a HOME of its own.
    work = Path(tempfile.mkdtemp(prefix="cua-nonroot-"))
    try:
        shutil.copytree(
            ROOT / "sandbox", work / "src" / "sandbox", ignore=shutil.ignore_patterns("__pycache__")
        )
        (work / "home").mkdir()
        for path in [work, *work.rglob("*")]:
            path.chmod(0o777 if path.is_dir() else 0o644)
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]);"
            "from sandbox import XvfbSandbox; from sandbox.conformance import check_sandbox;"
            "r = check_sandbox(XvfbSandbox(), 'xterm'); print('PASSED', len(r.passed))"
        )
        env = {
            "PATH": "/usr/sbin:/usr/bin:/bin",
            "HOME": str(work / "home"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "CUA_SANDBOX_TAG": os.environ.get("CUA_SANDBOX_TAG", ""),
        }
        python = "/opt/cua-guest/bin/python"
        proc = subprocess.run(
            ["/usr/sbin/runuser", "-u", user, "--", python, "-c", code, str(work / "src")],
            capture_output=True,
            text=True,
            env=env,
            timeout=150,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("PASSED"), proc.stdout
    print(proc.stdout, file=sys.stderr)
