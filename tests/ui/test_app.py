"""The desktop app as a person uses it: real window (pytest-qt, Xvfb), real sandboxes, real store.

One window and one data directory serve the module; the tests run in order (a run recorded by
an early test is reviewed by a later one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cua.store import Actor, RunStatus, TrajectoryStore, VerdictSource
from tests.conftest import TAG, tagged_processes

pytestmark = pytest.mark.x11

ROOT = Path(__file__).resolve().parents[2]


def write_script(path: Path, entries: list[Any]) -> Path:
    path.write_text(json.dumps(entries))
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def window(qapp: Any, data_dir: Path) -> Iterator[Any]:
    from ui.app import create_window

    win = create_window(data_dir)
    win.resize(1360, 860)
    win.show()
    yield win
    win.confirm_close = True
    win.close()
    win.deleteLater()


def start_script_run_unchecked(
    qtbot: Any, window: Any, script: Path, instruction: str, app: str = "xterm"
) -> None:
    """Fill the Run pane with a scripted run of ``instruction`` and click Start."""
    pane = window.run_pane
    window.tabs.setCurrentWidget(pane)
    pane.task.setCurrentText("(free instruction)")
    pane.app.setCurrentText(app)
    pane.instruction.setText(instruction)
    pane.policy_kind.setCurrentIndex(pane.policy_kind.findData("script"))
    pane.format.setCurrentText("ui-tars-1.5")
    pane.script.setText(str(script))
    qtbot.mouseClick(pane.start_button, __import__("PySide6.QtCore").QtCore.Qt.MouseButton.LeftButton)


def start_script_run(qtbot: Any, window: Any, script: Path, instruction: str, app: str = "xterm") -> None:
    """Start a scripted run as :func:`start_script_run_unchecked` does; it must be running."""
    start_script_run_unchecked(qtbot, window, script, instruction, app)
    assert window.run_pane.running, window.run_pane.status.text()


def wait_finished(qtbot: Any, pane: Any, timeout_s: float = 90) -> None:
    qtbot.waitUntil(lambda: not pane.running, timeout=int(timeout_s * 1000))
    assert pane.last_error is None, repr(pane.last_error)


def save(window: Any, shots_dir: Path, name: str) -> Path:
    path = shots_dir / name
    assert window.grab().save(str(path))
    return path


def test_startup_imports_no_torch(qt_display: str, tmp_path: Path) -> None:
    code = (
        "import sys, time, json\n"
        "t0 = time.monotonic()\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication(['cua'])\n"
        "from ui.app import create_window\n"
        f"w = create_window({str(tmp_path)!r})\n"
        "w.show(); app.processEvents()\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules,"
        " 'visible': w.isVisible(), 's': time.monotonic() - t0}))\n"
    )
    env = {**os.environ, "CUA_CONFIG_DIR": str(tmp_path / "config")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["visible"] is True
    assert result["torch"] is False and result["transformers"] is False


def test_cua_app_without_display_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run(
        [sys.executable, "-m", "cua", "app", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "no display" in out.stderr and "DISPLAY" in out.stderr


def test_cua_app_opens_the_window(qt_display: str, tmp_path: Path) -> None:
    env = {**os.environ, "CUA_CONFIG_DIR": str(tmp_path / "config")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cua", "app", "--data-dir", str(tmp_path / "data")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        found = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None and not found:
            out = subprocess.run(
                ["xdotool", "search", "--name", "computer-use agent"], env=env, capture_output=True, text=True
            )
            found = out.stdout.strip()
            time.sleep(0.2)
        assert found, f"no window; the app said: {proc.stderr.read() if proc.poll() is not None else ''}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_run_a_script_and_watch_it_finish(
    qtbot: Any, window: Any, data_dir: Path, tmp_path: Path, shots_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(window, shots_dir, "run-pane.png")
    # This run's own tag: the other pytest worker's sandboxes carry the session's tag, and one
    # started while this run was going would look like a process the run left behind.
    tag = f"{TAG}-run-pane"
    monkeypatch.setenv("CUA_SANDBOX_TAG", tag)
    before = {pid for pid, _ in tagged_processes(tag)}
    script = write_script(
        tmp_path / "echo.json",
        [
            {"type": "click", "x": 640, "y": 400},
            {"type": "type", "text": "echo hello from cua"},
            {"type": "key", "key": "enter"},
            {"type": "done", "answer": "printed it"},
        ],
    )
    pane = window.run_pane
    start_script_run(qtbot, window, script, "print hello from cua in the terminal")
    qtbot.waitUntil(lambda: pane.steps.rowCount() >= 3, timeout=60_000)
    assert [pid for pid, _ in tagged_processes(tag) if pid not in before], "the run's sandbox lacks its tag"
    qtbot.waitUntil(lambda: pane.view.frames_shown >= 1, timeout=10_000)
    save(window, shots_dir, "run-live.png")
    wait_finished(qtbot, pane)
    outcome = pane.last_outcome
    assert outcome is not None and outcome.status is RunStatus.SUCCESS, pane.status.text()
    assert pane.steps.rowCount() == 4
    assert "echo hello from cua" in pane.steps.item(1, 2).text()
    assert [(m.x, m.y) for m in pane.view.marks] == [(640, 400)]  # the click stays drawn
    assert pane.steps.item(0, 3).text()  # per-step timings shown
    assert "success" in pane.status.text()
    with TrajectoryStore(data_dir) as store:
        run = store.get_run(outcome.run_id)
        assert run.status is RunStatus.SUCCESS and run.step_count == 4
        assert run.provenance.model.startswith("script")
    deadline = time.monotonic() + 10  # the run's sandbox (Xvfb, guest, app) is gone once it ended
    while (
        left := [c for pid, c in tagged_processes(tag) if pid not in before]
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"the run left processes behind: {left}"


def test_bad_input_is_refused_with_the_reason(qtbot: Any, window: Any, tmp_path: Path) -> None:
    from PySide6.QtCore import Qt

    pane = window.run_pane
    window.tabs.setCurrentWidget(pane)
    pane.task.setCurrentText("(free instruction)")
    pane.instruction.setText("")
    qtbot.mouseClick(pane.start_button, Qt.MouseButton.LeftButton)
    assert not pane.running and "type an instruction" in pane.status.text()
    pane.instruction.setText("do something")
    pane.policy_kind.setCurrentIndex(pane.policy_kind.findData("script"))
    pane.script.setText(str(tmp_path / "missing.json"))
    qtbot.mouseClick(pane.start_button, Qt.MouseButton.LeftButton)
    assert not pane.running and "no script file" in pane.status.text()
    pane.task.setCurrentText("no.such/task")
    qtbot.mouseClick(pane.start_button, Qt.MouseButton.LeftButton)
    assert not pane.running and "no built-in task family 'no.such'" in pane.status.text()
    pane.task.setCurrentText("(free instruction)")


def test_endpoint_check_says_what_is_wrong(
    qtbot: Any, window: Any, monkeypatch: pytest.MonkeyPatch, shots_dir: Path
) -> None:
    from cua.models.server import make_server

    class NamesOnly:
        """A backend that only has a name: the connection check never generates."""

        name = "tiny-test-model"

        def complete(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the connection check must not generate")

    pane = window.run_pane
    window.tabs.setCurrentWidget(pane)
    pane.policy_kind.setCurrentIndex(pane.policy_kind.findData("endpoint"))

    def check(url: str, model: str, key_env: str = "") -> str:
        pane.endpoint.setText(url)
        pane.model_name.setText(model)
        pane.api_key_env.setText(key_env)
        op = pane.check_connection()
        qtbot.waitUntil(lambda: op.delivered, timeout=20_000)
        return str(pane.check_result.text())

    server = make_server(NamesOnly(), api_key="s3cret")  # type: ignore[arg-type]
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}/v1"
        monkeypatch.setenv("CUA_TEST_KEY", "s3cret")
        assert "connected" in check(url, "tiny-test-model", "CUA_TEST_KEY")
        wrong = check(url, "other-model", "CUA_TEST_KEY")
        assert "is not served" in wrong and "tiny-test-model" in wrong
        save(window, shots_dir, "run-endpoint-check.png")
        assert "missing key" in check(url, "tiny-test-model", "CUA_TEST_NO_SUCH_KEY")
        assert "401" in check(url, "tiny-test-model", "")
    finally:
        server.shutdown()
        server.server_close()
    assert "connection refused" in check(url, "tiny-test-model", "CUA_TEST_KEY")


def test_pause_resume_take_over_and_type(qtbot: Any, window: Any, data_dir: Path, tmp_path: Path) -> None:
    from PySide6.QtCore import Qt

    script = write_script(
        tmp_path / "slow.json",
        [{"type": "wait", "seconds": round(0.2 + i / 100, 2)} for i in range(10)] + [{"type": "done"}],
    )
    pane = window.run_pane
    start_script_run(qtbot, window, script, "wait a little while a person types")
    qtbot.waitUntil(lambda: pane.steps.rowCount() >= 1, timeout=60_000)
    qtbot.mouseClick(pane.pause_button, Qt.MouseButton.LeftButton)
    assert pane.pause_button.text() == "Resume"
    qtbot.wait(1500)  # a step in flight when pausing still lands
    paused_rows = pane.steps.rowCount()
    qtbot.wait(1200)
    assert pane.steps.rowCount() == paused_rows, "a paused run took steps"
    qtbot.mouseClick(pane.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.steps.rowCount() > paused_rows, timeout=20_000)
    qtbot.mouseClick(pane.takeover_button, Qt.MouseButton.LeftButton)
    assert pane.takeover_button.text() == "Hand back"
    qtbot.waitUntil(lambda: pane.view.image is not None, timeout=10_000)
    qtbot.keyClicks(pane.view, "echo hi")
    qtbot.keyClick(pane.view, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: sum(pane.steps.item(r, 1).text() == "person" for r in range(pane.steps.rowCount())) >= 8,
        timeout=30_000,
    )
    qtbot.mouseClick(pane.takeover_button, Qt.MouseButton.LeftButton)
    wait_finished(qtbot, pane)
    outcome = pane.last_outcome
    assert outcome is not None and outcome.status is RunStatus.SUCCESS
    assert outcome.person_steps == 8
    with TrajectoryStore(data_dir) as store:
        steps = store.steps(outcome.run_id)
    person = [s for s in steps if s.actor is Actor.PERSON]
    typed = "".join(str(s.action.get("text", "")) for s in person if s.action)
    assert "echo hi" in typed.replace("\n", "") or "echo hi" in json.dumps([s.action for s in person])


def test_safety_guard_asks_with_a_dialog(qtbot: Any, window: Any, tmp_path: Path, shots_dir: Path) -> None:
    from PySide6.QtWidgets import QApplication, QMessageBox

    script = write_script(
        tmp_path / "danger.json",
        [
            {"type": "type", "text": "rm -rf ~"},
            {"type": "key", "key": "enter"},
            {"type": "done", "answer": "did not delete anything"},
        ],
    )
    seen: list[str] = []

    def answer_dialog() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.objectName() == "safetyDialog" and not seen:
            seen.append(box.text())
            save(box, shots_dir, "safety-dialog.png")
            deny = next(b for b in box.buttons() if b.text() == "Deny")
            deny.click()

    from PySide6.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(answer_dialog)
    timer.start(100)
    pane = window.run_pane
    try:
        start_script_run(qtbot, window, script, "clean up the home folder")
        wait_finished(qtbot, pane)
    finally:
        timer.stop()
    assert seen and "rm -rf ~" in seen[0]
    outcome = pane.last_outcome
    assert outcome is not None and outcome.status is RunStatus.SUCCESS, pane.status.text()


def test_review_overrule_export_delete(
    qtbot: Any, window: Any, data_dir: Path, tmp_path: Path, shots_dir: Path
) -> None:
    pane = window.show_review()
    qtbot.waitUntil(lambda: pane.model.rowCount() >= 2, timeout=10_000)
    # the first run (oldest) is the echo run: find it
    row = next(r for r in range(pane.model.rowCount()) if "hello" in pane.model.run_at(r).instruction)
    pane.select_row(row)
    qtbot.waitUntil(lambda: pane.current is not None and pane.view.image is not None, timeout=5_000)
    run_id = pane.current.id
    assert pane.step_list.count() == 5  # four steps and the final screen
    assert [(m.x, m.y) for m in pane.view.marks] == [(640, 400)]  # step 1's click, drawn
    qtbot.waitUntil(lambda: pane.memory_state.text().startswith("memory: not in memory"), timeout=10_000)
    save(window, shots_dir, "review.png")
    pane.step_list.setCurrentRow(1)
    assert pane.view.marks == []
    assert 'type "echo hello from cua"' in pane.details.toPlainText()
    before = len(pane.current_verdicts)
    op = pane.overrule(False, "the greeting went to the wrong place")
    qtbot.waitUntil(lambda: op is not None and op.delivered, timeout=10_000)
    assert pane.last_error is None, pane.last_error
    with TrajectoryStore(data_dir) as store:
        verdicts = store.verdicts(run_id)
        run = store.get_run(run_id)
    assert len(verdicts) == before + 1
    assert verdicts[-1].source is VerdictSource.PERSON and verdicts[-1].success is False
    assert verdicts[-1].reasons == ("the greeting went to the wrong place",)
    assert run.verdict is not None and run.verdict.success is False
    assert "failure (person)" in pane.model.data(pane.model.index(pane.model.row_of(run_id), 3))
    pane.f_verdict.setCurrentText("failure")
    assert [pane.model.run_at(r).id for r in range(pane.model.rowCount())] == [run_id]
    pane.f_verdict.setCurrentText("any")
    pane.select_row(pane.model.row_of(run_id))
    html = tmp_path / "run.html"
    op = pane.export_current("html", html)
    qtbot.waitUntil(lambda: op is not None and op.delivered, timeout=20_000)
    assert pane.last_error is None, pane.last_error
    page = html.read_text()
    assert "print hello from cua" in page and "<image" in page
    assert "the greeting went to the wrong place" in page
    other = next(
        pane.model.run_at(r).id for r in range(pane.model.rowCount()) if pane.model.run_at(r).id != run_id
    )
    pane.select_row(pane.model.row_of(other))
    op = pane.delete_current()
    qtbot.waitUntil(lambda: op is not None and op.delivered, timeout=10_000)
    assert pane.model.row_of(other) is None
    with TrajectoryStore(data_dir) as store:
        assert other not in [r.id for r in store.list_runs()]


def test_review_admit_to_and_forget_from_memory(qtbot: Any, window: Any, data_dir: Path) -> None:
    """The echo run, now a person-judged failure, goes into memory as a pitfall and out again."""
    from PySide6.QtCore import Qt

    from cua.memory import ExperienceIndex

    pane = window.show_review()
    pane.f_verdict.setCurrentText("failure")
    row = next(r for r in range(pane.model.rowCount()) if "hello" in pane.model.run_at(r).instruction)
    pane.select_row(row)
    qtbot.waitUntil(lambda: pane.current is not None, timeout=5_000)
    run_id = pane.current.id
    qtbot.waitUntil(lambda: pane.memory_state.text().startswith("memory: not in memory"), timeout=10_000)
    qtbot.mouseClick(pane.admit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "in memory: pitfall item" in pane.memory_state.text(), timeout=60_000)
    assert "admitted as pitfall item" in pane.status.text()
    op = pane.forget_current("the person typed into the wrong window")
    qtbot.waitUntil(lambda: op is not None and op.delivered, timeout=10_000)
    qtbot.waitUntil(lambda: "taken out of memory (the person" in pane.memory_state.text(), timeout=10_000)
    with ExperienceIndex.beside(data_dir) as index:
        assert index.item_of_run(run_id) is None
        assert index.excluded_runs()[run_id] == "the person typed into the wrong window"
    pane.f_verdict.setCurrentText("any")


def test_close_while_running_stops_cleanly(
    qapp: Any, qtbot: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui.app import create_window

    # Its own sandbox tag: the other pytest worker's sandboxes carry the session's tag, and one it
    # started meanwhile would look like a process this run left behind.
    tag = f"{TAG}-close"
    monkeypatch.setenv("CUA_SANDBOX_TAG", tag)
    before = {pid for pid, _ in tagged_processes(tag)}
    win = create_window(data_dir)
    win.show()
    script = write_script(
        tmp_path / "forever.json", [{"type": "wait", "seconds": round(0.3 + i / 1000, 3)} for i in range(200)]
    )
    pane = win.run_pane
    start_script_run(qtbot, win, script, "wait for a long time")
    qtbot.waitUntil(lambda: pane.steps.rowCount() >= 1, timeout=60_000)
    sandbox = pane.live.sandbox
    assert [pid for pid, _ in tagged_processes(tag) if pid not in before], "the run's sandbox lacks its tag"
    win.confirm_close = True
    win.close()
    assert not win.isVisible()
    assert not pane.running
    assert sandbox is not None and sandbox.closed
    outcome = pane.last_outcome
    assert outcome is not None and outcome.status is RunStatus.CANCELLED
    with TrajectoryStore(data_dir) as store:
        assert store.list_runs(status="running") == []
    again = create_window(data_dir)  # the fields come back from the per-user settings
    assert again.run_pane.instruction.text() == "wait for a long time"
    assert again.run_pane.policy_kind.currentData() == "script"
    assert again.run_pane.script.text() == str(script)
    again.close()
    deadline = time.monotonic() + 15  # a closed sandbox's processes may take a while to exit under load
    while (
        left := [c for pid, c in tagged_processes(tag) if pid not in before]
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [c for c in left if "bwrap" in c] == []


def test_review_list_loads_page_by_page(qtbot: Any, qapp: Any, tmp_path: Path) -> None:
    import sqlite3

    from PIL import Image

    from cua.service import Service
    from cua.store import Provenance, RunInfo, StepRecord
    from ui.review_pane import PAGE, ReviewPane

    with TrajectoryStore(tmp_path) as store:
        template = store.start_run(RunInfo("a recorded run", "mousepad", Provenance(model="model-a")))
        store.add_step(
            template, StepRecord(action={"type": "click", "x": 5, "y": 5}), Image.new("RGB", (64, 40))
        )
        store.finish_run(template, "failure", "gave up")
        db = store.db_path
    conn = sqlite3.connect(db)
    cols = [
        r[1] for r in conn.execute("PRAGMA table_info(runs)") if r[1] not in ("id", "created_at", "model")
    ]
    with conn:  # 2.25 pages of copies; the oldest 50 by another model, on another app
        conn.executemany(
            f"INSERT INTO runs (id, created_at, model, {', '.join(cols)}) "
            f"SELECT ?, created_at - ?, ?, {', '.join(cols)} FROM runs WHERE id = ?",
            [(f"copy{i:04d}", i + 1.0, "model-b" if i >= 399 else "model-a", template) for i in range(449)],
        )
        conn.execute("UPDATE runs SET app = 'xterm' WHERE model = 'model-b'")
    conn.close()
    pane = ReviewPane(Service(tmp_path))
    qtbot.addWidget(pane)
    pane.resize(1200, 800)
    pane.show()
    pane.apply_filters()
    assert pane.model.rowCount() == PAGE and pane.model.canFetchMore(
        __import__("PySide6.QtCore").QtCore.QModelIndex()
    )
    pane.table.scrollToBottom()
    qtbot.waitUntil(lambda: pane.model.rowCount() == 2 * PAGE, timeout=5_000)
    pane.f_model.setText("model-b")
    pane.apply_filters()  # the model filter reads pages until some match
    assert pane.model.rowCount() == 50
    assert {pane.model.run_at(r).provenance.model for r in range(50)} == {"model-b"}
    pane.f_model.setText("")
    pane.f_app.setCurrentText("xterm")
    assert pane.model.rowCount() == 50
    pane.f_app.setCurrentText("any")
    pane.f_status.setCurrentText("success")
    assert pane.model.rowCount() == 0
    pane.close_store()


def test_explore_start_stop_resume_and_report(
    qtbot: Any, window: Any, data_dir: Path, shots_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small exploration of galculator from the Explore pane: it finishes, is stopped, resumes."""
    from PySide6.QtCore import Qt

    import ui.explore_pane
    from cua.explore import ExploreDB

    pane = window.explore_pane
    window.tabs.setCurrentWidget(pane)
    offered = [pane.app.itemText(i) for i in range(pane.app.count())]
    assert {"galculator", "xterm"} <= set(offered)  # xterm has no tree: walked by shell commands
    pane.app.setCurrentText("galculator")
    pane.seed.setValue(4)  # its first walk proves a task in about 20 s
    pane.episodes.setValue(0)
    pane.hours.setValue(0)
    qtbot.mouseClick(pane.start_button, Qt.MouseButton.LeftButton)
    assert not pane.running and "budget" in pane.status.text()  # no budget: refused, said why
    pane.episodes.setValue(1)
    pane.attempts.setValue(1)
    pane.random_actions.setValue(3)
    pane.gui_near_misses.setChecked(False)
    pane.policy.setCurrentIndex(pane.policy.findData("match"))
    # Composed goals cost several replays each and have their own tests (test_compose.py); this
    # test is about the pane's start, stop and resume, so its walks propose only derived tasks.
    pane.composed.setValue(0)
    pane.train_every.setValue(1)  # a learning round after the first verified episode
    assert pane.memory.isChecked()
    qtbot.mouseClick(pane.start_button, Qt.MouseButton.LeftButton)
    assert pane.running and not pane.start_button.isEnabled() and not pane.train_every.isEnabled()
    qtbot.waitUntil(lambda: not pane.running, timeout=240_000)
    assert pane.last_error is None, repr(pane.last_error)
    summary = pane.last_summary
    assert summary is not None and summary["status"] == "finished", summary
    assert summary["walks"] == 1 and "walk 0:" in pane.log.toPlainText()
    assert pane.explorations.rowCount() == 1 and pane.explorations.item(0, 1).text() == "finished"
    assert pane.tasks.rowCount() == summary["proven_tasks"] >= 1
    # The walk's proven tasks are verified episodes: a learning round ran, its gate decision listed.
    assert summary["rounds"] == pane.rounds.rowCount() >= 1, summary
    decision = pane.rounds.item(0, 2).text()
    assert decision in ("promoted", "kept", "skipped") and pane.rounds.item(0, 7).text()
    assert f"learning rounds {summary['rounds']}" in pane.figures.text()
    # The match policy's attempt was judged, so it went to memory as it ended.
    assert summary["memory_admitted"] == summary["attempts"] == 1 and summary["memory_items"] >= 1
    assert f"memory {summary['memory_items']} items" in pane.figures.text()
    assert pane.memory_plot.pixmap() is not None and not pane.memory_plot.pixmap().isNull()
    pane.plots.setCurrentWidget(pane.memory_plot)

    # Resume the same exploration with a larger budget, and stop it after its first walk.
    pane.episodes.setValue(5)
    pane.train_every.setValue(0)
    qtbot.mouseClick(pane.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "walk 1:" in pane.log.toPlainText(), timeout=240_000)
    qtbot.mouseClick(pane.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not pane.running, timeout=240_000)
    assert pane.last_summary is not None and pane.last_summary["status"] == "stopped"
    assert pane.last_summary["resumed"] and 2 <= pane.last_summary["walks"] < 5
    db = ExploreDB(data_dir / "explore.sqlite")
    try:
        (row,) = db.explorations()
        assert row["status"] == "stopped" and row["id"] == "galculator.seed4.m6"
        assert len(db.done_walks(row["id"])) == pane.last_summary["walks"]
    finally:
        db.close()
    save(window, shots_dir, "explore.png")

    opened: list[str] = []
    monkeypatch.setattr(
        ui.explore_pane.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile())
    )
    qtbot.mouseClick(pane.report_button, Qt.MouseButton.LeftButton)
    assert opened and "Exploration report" in Path(opened[0]).read_text()
    assert "galculator.seed4.m6" in Path(opened[0]).read_text()


def test_real_screen_only_after_confirmation(qtbot: Any, window: Any, data_dir: Path, tmp_path: Path) -> None:
    """The real-screen run asks first; refused, nothing starts; allowed, it acts on this display."""
    from PySide6.QtGui import QGuiApplication

    pane = window.run_pane
    script = write_script(
        tmp_path / "real.json", [{"type": "type", "text": "echo on the real screen"}, {"type": "done"}]
    )
    pane.real_screen.setChecked(True)
    pane.confirm_real_screen = False
    start_script_run_unchecked(qtbot, window, script, "type a line in a terminal on my screen")
    assert not pane.running and "not confirmed" in pane.status.text()
    pane.confirm_real_screen = True
    try:
        start_script_run(qtbot, window, script, "type a line in a terminal on my screen")
        wait_finished(qtbot, pane)
    finally:
        pane.real_screen.setChecked(False)
        pane.confirm_real_screen = None
    outcome = pane.last_outcome
    assert outcome is not None and outcome.status is RunStatus.SUCCESS, pane.status.text()
    geometry = QGuiApplication.primaryScreen().geometry()
    with TrajectoryStore(data_dir) as store:
        shot = store.screenshot(store.steps(outcome.run_id)[0].screenshot)
    assert shot.size == (geometry.width(), geometry.height())  # this display, not a 1280x800 sandbox
