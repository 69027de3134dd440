"""`cua explore` end to end: progress lines, task files, the report, and a resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cua.explore.loop import disk_usage_mb
from cua.tasks import load_path

pytestmark = pytest.mark.x11


def explore(data: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "cua", "explore", "--app", "galculator", "--data-dir", str(data),
        "--random-actions", "3", "--no-gui-near-misses", *extra,
    ]  # fmt: skip


def walks(data: Path) -> list[int]:
    db = data / "explore.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return sorted(r[0] for r in conn.execute("SELECT number FROM walks"))
        except sqlite3.OperationalError:
            return []


def test_killed_exploration_resumes_with_the_same_command(tmp_path: Path) -> None:
    cmd = explore(tmp_path, "--episodes", "3")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 240
    while not walks(tmp_path) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert walks(tmp_path), proc.communicate()[0] if proc.poll() is not None else "no walk recorded in 240 s"
    os.killpg(proc.pid, signal.SIGKILL)  # the explorer and its sandboxes, as a crash would
    proc.wait()
    before = walks(tmp_path)
    assert before and len(before) < 3
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert walks(tmp_path) == [0, 1, 2]  # each walk once: none repeated, none skipped
    ran_again = [line for line in done.stdout.splitlines() if line.startswith("walk ")]
    assert len(ran_again) == 3 - len(before), done.stdout  # only the missing walks ran
    report = subprocess.run(
        [sys.executable, "-m", "cua", "explore", "report", "--json", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    found = json.loads(report.stdout)
    assert found[0]["status"] == "finished" and found[0]["summary"]["walks"] == 3
    kept = sorted((tmp_path / "synth" / "galculator").glob("*.yaml"))
    assert len(kept) == found[0]["summary"]["admitted_tasks"]
    for path in kept:
        (family,) = load_path(path)  # admitted tasks are task files like any other
        assert family.instance(0).generated == "walk"
        assert path.with_suffix(".png").exists()  # the screen its demonstration ends on
    if kept:  # after a walk with kept tasks, the curriculum picked attempts and each was recorded
        assert found[0]["summary"]["attempts"] >= 1
    page = tmp_path / "report.html"
    made = subprocess.run(
        [sys.executable, "-m", "cua", "explore", "report", "--html", str(page), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    text = page.read_text()
    assert "Exploration report" in text and "galculator.seed0.m6" in text
    assert "Tasks over walks" in text and text.count("data:image/png;base64,") >= 1 + len(kept)


def test_explore_without_an_app_says_what_to_do(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cua", "explore", "--data-dir", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2 and "--app" in done.stderr


def test_explore_of_an_app_with_neither_a_tree_nor_a_shell_is_refused(tmp_path: Path) -> None:
    """xterm has no tree but a shell (``cua.synth.shell``); a program with neither cannot be walked."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "bare-clock.toml").write_text(
        'name = "bare-clock"\ncommand = ["xclock"]\n[ready]\nwm_class = "XClock"\n'
        "[accessibility]\nenabled = false\nexpect_tree = false\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "cua", "explore", "--app", "bare-clock", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, env={**os.environ, "CUA_PROFILE_PATH": str(tmp_path / "profiles")},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "no accessibility tree and no shell" in " ".join(done.stderr.split()), done.stderr


def test_explore_of_an_unknown_app_names_the_profiles(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cua", "explore", "--app", "nosuchapp", "--data-dir", str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and "galculator" in done.stderr, done.stderr


def test_the_disk_budget_stops_new_walks(tmp_path: Path) -> None:
    def run(*extra: str) -> dict[str, object]:
        done = subprocess.run(
            [*explore(tmp_path, "--attempts", "0", "--composed", "0", *extra), "--json"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        out: dict[str, object] = json.loads(done.stdout)
        return out

    first = run("--episodes", "1")
    used = disk_usage_mb(tmp_path)  # as the next run finds it (its WAL checkpointed at the end)
    assert first["walks"] == 1 and used > 0
    over = run("--episodes", "3", "--disk", f"{used * 0.9:.4f}")  # already over: no new walk
    assert over["walks"] == 1 and str(over["budget_spent"]).startswith("disk:"), over
    under = run("--episodes", "2", "--disk", f"{used + 50:.1f}")  # room left: it goes on
    assert under["walks"] == 2 and "budget_spent" not in under, under
    with sqlite3.connect(tmp_path / "explore.sqlite") as conn:  # --composed 0: walks' own tasks only
        kinds = {k for (k,) in conn.execute("SELECT kind FROM candidates")}
    assert kinds and not any(k.startswith("goal/") for k in kinds), kinds
    bad = subprocess.run([*explore(tmp_path, "--composed", "-1")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--composed must be 0 or more" in bad.stderr, bad.stderr


def test_a_terminal_gets_a_progress_bar_and_a_pipe_plain_lines(tmp_path: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        explore(tmp_path, "--episodes", "1", "--attempts", "0"),
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env={**os.environ, "TERM": "xterm"},
    )  # fmt: skip
    os.close(follower)
    import select

    seen = b""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if not select.select([leader], [], [], 1.0)[0]:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.wait(60) == 0, seen.decode(errors="replace")
    shown = seen.decode(errors="replace")
    assert "walk 0:" in shown and "\r\x1b[K" in shown
    assert "[" + "#" * 30 + "] 100% 1 walks" in shown  # the bar of a spent budget
    piped = subprocess.run(explore(tmp_path, "--episodes", "1"), capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stdout and "\x1b" not in piped.stdout
