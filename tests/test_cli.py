"""The `cua` command end to end, as a person runs it."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

CUA = [sys.executable, "-m", "cua"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CUA, *args], capture_output=True, text=True, timeout=timeout)


def test_profiles_lists_every_builtin_app() -> None:
    r = run("sandbox", "profiles")
    assert r.returncode == 0
    for app in ("xterm", "mousepad", "galculator", "gnumeric", "pcmanfm", "libreoffice-calc", "chromium"):
        assert re.search(rf"^{app}\s", r.stdout, re.M), app


def test_unknown_app_is_one_clear_line() -> None:
    r = run("sandbox", "demo", "--app", "no-such-app")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0
    assert "unknown application profile 'no-such-app'" in r.stderr and "Traceback" not in r.stderr


def test_an_overlong_instruction_is_refused_before_anything_starts() -> None:
    r = run("run", "word " * 20_000, "--app", "xterm")  # 100,000 characters
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "the instruction has 100,000 characters; the limit is 4,000" in r.stderr
    assert "put long material in a file" in r.stderr
    empty = run("run", "   ", "--app", "xterm")
    assert empty.returncode == 2 and "the instruction is empty" in empty.stderr


@pytest.mark.x11
def test_demo_saves_screenshots_and_a_step_log(tmp_path: Path) -> None:
    r = run("sandbox", "demo", "--app", "mousepad", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    shots = sorted(tmp_path.glob("*.png"))
    assert len(shots) == 6
    assert str(tmp_path.resolve()) in r.stdout
    steps = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert [s["label"] for s in steps][:3] == ["start", "click-text-area", "type-text"]
    assert steps[2]["window_title"].startswith("*")  # the document is modified
    first, typed = Image.open(shots[0]), Image.open(shots[2])
    assert first.size == (1280, 800) and first.tobytes() != typed.tobytes()


@pytest.mark.x11
def test_view_serves_vnc_on_loopback_with_a_password() -> None:
    proc = subprocess.Popen(
        [*CUA, "sandbox", "view", "--app", "xterm", "--seconds", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and not line.startswith("VNC:"):
            line = proc.stdout.readline()
        match = re.match(r"VNC: 127\.0\.0\.1:(\d+)\s+password: (\S+)", line)
        assert match, line
        with socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=5) as conn:
            banner = conn.recv(12)
            assert banner.startswith(b"RFB 003.")
            conn.sendall(banner)  # agree on the version; the server then offers security types
            types = conn.recv(16)
            assert types[0] >= 1 and 2 in types[1 : 1 + types[0]]  # 2 = VNC password authentication
            assert 1 not in types[1 : 1 + types[0]]  # 1 = no authentication: must not be offered
    finally:
        proc.terminate()
        proc.wait(timeout=20)
