"""Speed of the desktop app; prints one JSON object.

* ``startup_s``: from starting ``python -m ui``'s process to a shown, usable main window
  (target <= 1.5 s).
* ``review_open_ms``: in a store of 10,000 runs of about 20 steps (real PNG files), from the
  click on a 50-step run's row to its first screenshot and step list shown (target <= 300 ms);
  ``review_list_ms``: the first page of the filtered list.
* ``live_fps``: frames shown per second by the live view while a sandbox's screen changes
  (an xterm printing the time in a loop; target >= 5).

Qt draws on an Xvfb of its own; the store is built in a temporary folder (the 50-step run and
a 20-step template through the store's API, the other runs as copies of the template's rows).

    .venv/bin/python scripts/bench_app.py [--runs 10000] [--fps-seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    for n in range(160, 400):
        if Path(f"/tmp/.X11-unix/X{n}").exists() or Path(f"/tmp/.X{n}-lock").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{n}", "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if Path(f"/tmp/.X11-unix/X{n}").exists():
                return proc, f":{n}"
            time.sleep(0.05)
        proc.kill()
    raise SystemExit("could not start Xvfb")


def measure_startup(env: dict[str, str], data_dir: Path, tries: int = 3) -> float:
    code = (
        "import sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "import ui.app as a\n"
        "app = QApplication(['cua'])\n"
        "w = a.create_window(None if len(sys.argv) < 2 else __import__('pathlib').Path(sys.argv[1]))\n"
        "w.show()\n"
        "def ready():\n"
        "    print('ready', 'torch' in sys.modules, flush=True); app.quit()\n"
        "QTimer.singleShot(0, ready)\n"
        "app.exec()\n"
    )
    times = []
    for _ in range(tries):
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(data_dir)], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        times.append(time.monotonic() - t0)
        proc.wait(30)
        if not line.startswith("ready") or "True" in line:
            raise SystemExit(f"startup check failed: {line!r}")
    return statistics.median(times)


def shot(i: int, size: tuple[int, int]) -> Image.Image:
    image = Image.new("RGB", size, (40 + i * 7 % 200, 90, 140))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20 + i * 3 % 200, 30, 260 + i * 3 % 200, 170), fill=(240, 240, 240))
    draw.text((30 + i * 3 % 200, 40), f"screen {i}", fill=(0, 0, 0))
    return image


def build_store(data_dir: Path, runs: int) -> tuple[str, str]:
    """Return (id of the 50-step run, id of a 20-step run)."""
    from cua.store import Provenance, RunInfo, StepRecord, TrajectoryStore

    with TrajectoryStore(data_dir) as store:
        template = store.start_run(RunInfo("fill in the form", "mousepad", Provenance(model="bench-model")))
        for i in range(20):
            record = StepRecord(
                thought=f"step {i}", action={"type": "click", "x": 100 + i, "y": 80}, timings={"policy": 10.0}
            )
            store.add_step(template, record, shot(i, (320, 200)))
        store.finish_run(template, "success", "done")
        db = store.db_path
    conn = sqlite3.connect(db)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
    scols = [r[1] for r in conn.execute("PRAGMA table_info(steps)")]
    rest = [c for c in cols if c not in ("id", "created_at")]
    srest = [c for c in scols if c != "run_id"]
    with conn:
        ids = [(f"bench{i:07d}", float(i + 1), template) for i in range(runs - 2)]
        conn.executemany(
            f"INSERT INTO runs (id, created_at, {', '.join(rest)}) "
            f"SELECT ?, created_at - ?, {', '.join(rest)} FROM runs WHERE id = ?",
            ids,
        )
        conn.executemany(
            f"INSERT INTO steps (run_id, {', '.join(srest)}) SELECT ?, {', '.join(srest)} FROM steps "
            "WHERE run_id = ?",
            [(i, template) for i, _, _ in ids],
        )
        conn.execute(
            "INSERT INTO verdicts (run_id, created_at, source, success, score, reasons, evidence) "
            "SELECT id, created_at, 'heuristic', 1, NULL, '[]', '{}' FROM runs WHERE id LIKE 'bench%'"
        )
    conn.close()
    with TrajectoryStore(data_dir) as store:  # the 50-step run, newest, with full-size screenshots
        big = store.start_run(
            RunInfo("a long run of fifty steps", "gnumeric", Provenance(model="bench-model"))
        )
        for i in range(50):
            record = StepRecord(
                thought=f"thinking {i}",
                action={"type": "click", "x": 300 + i, "y": 200},
                timings={"policy": 50.0, "step": 80.0},
            )
            store.add_step(big, record, shot(i, (1280, 800)))
        store.finish_run(big, "success", "done")
    return big, template


def measure_review(data_dir: Path, big: str, small: str) -> tuple[float, float]:
    from PySide6.QtWidgets import QApplication

    from ui.app import create_window

    app = QApplication.instance() or QApplication(["bench"])
    window = create_window(data_dir)
    window.show()
    app.processEvents()
    t0 = time.perf_counter()
    pane = window.show_review()
    app.processEvents()
    list_ms = (time.perf_counter() - t0) * 1000
    rows = {pane.model.run_at(r).id: r for r in range(pane.model.rowCount())}
    times = []
    for _ in range(5):
        for run_id in (small, big):
            row = rows.get(run_id)
            if row is None:  # the template is deep in the list: filter to it
                pane.model.set_filters({"app": "mousepad"}, None)
                rows = {pane.model.run_at(r).id: r for r in range(pane.model.rowCount())}
                row = rows[run_id]
            if run_id == big:
                pane.model.set_filters({}, None)
                rows = {pane.model.run_at(r).id: r for r in range(pane.model.rowCount())}
                row = rows[big]
                pane.table.clearSelection()
                app.processEvents()
                t0 = time.perf_counter()
                pane.select_row(row)
                app.processEvents()  # painted: the screenshot and the step list
                pane.view.repaint()
                pane.step_list.repaint()
                times.append((time.perf_counter() - t0) * 1000)
                assert pane.current is not None and pane.current.id == big and pane.step_list.count() >= 50
                assert pane.view.image is not None
    window.confirm_close = True
    window.close()
    return list_ms, statistics.median(times)


def measure_fps(seconds: float) -> float:
    from PySide6.QtWidgets import QApplication

    from sandbox import XvfbSandbox
    from sandbox.actions import Key, TypeText
    from ui.run_pane import poll_frames
    from ui.screen_view import ScreenView
    from ui.worker import run_in_background

    app = QApplication.instance() or QApplication(["bench"])
    view = ScreenView()
    view.resize(900, 600)
    view.show()
    with XvfbSandbox() as sb:
        sb.reset("xterm")
        sb.step(TypeText("while true; do date +%s.%N; sleep 0.03; done"))
        sb.step(Key(("enter",)))
        stop = threading.Event()
        op = run_in_background(
            lambda emit: poll_frames(sb, stop, emit),
            name="frames",
            on_event=lambda image: view.set_image(image),
        )
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
        start, t0 = view.frames_shown, time.monotonic()
        while time.monotonic() - t0 < seconds:
            app.processEvents()
            time.sleep(0.005)
        fps = (view.frames_shown - start) / (time.monotonic() - t0)
        stop.set()
        op.wait(5)
    return fps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--fps-seconds", type=float, default=5.0)
    args = parser.parse_args()
    xvfb, display = start_xvfb()
    tmp = Path(tempfile.mkdtemp(prefix="cua-bench-app-"))
    try:
        os.environ.update(
            {"DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "CUA_CONFIG_DIR": str(tmp / "config")}
        )
        env = dict(os.environ)
        startup = measure_startup(env, tmp / "empty")
        t0 = time.monotonic()
        big, small = build_store(tmp / "data", args.runs)
        built = time.monotonic() - t0
        list_ms, open_ms = measure_review(tmp / "data", big, small)
        fps = measure_fps(args.fps_seconds)
        print(
            json.dumps(
                {
                    "startup_s": round(startup, 3),
                    "review_open_ms": round(open_ms, 1),
                    "review_list_ms": round(list_ms, 1),
                    "live_fps": round(fps, 1),
                    "store_runs": args.runs,
                    "store_build_s": round(built, 1),
                    "targets": {"startup_s": 1.5, "review_open_ms": 300, "live_fps": 5},
                }
            )
        )
    finally:
        xvfb.terminate()
        xvfb.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
