"""The Models pane over a real model registry (pytest-qt on the tests' own Xvfb).

Two small "checkpoints" (folders with a file or two) are registered as bundled models: the first
promoted by a gate decision, the second a candidate the gate rejected. The pane lists them,
shows the one in use and the numbers of each decision, promotes by hand through its dialog and
rolls back, says what to do over an empty registry, and reports the UsageError of a learning
round with nothing explored.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cua.learn.registry import ModelRegistry
from tests.conftest import TAG, tagged_processes

pytestmark = pytest.mark.x11

FIRST_GATE = {
    "promoted": True,
    "reason": "promoted: 6 wins, 0 losses, 3 ties (p = 0.0156 <= alpha 0.05); regression 1 vs 1 failures",
    "wins": 6,
    "losses": 0,
    "ties": 3,
    "n": 9,
    "p_value": 0.015625,
    "alpha": 0.05,
    "regression_candidate_failures": 1,
    "regression_parent_failures": 1,
    "stopped_early": True,
}
SECOND_GATE = {
    "promoted": False,
    "reason": "rejected: 2 wins, 3 losses, 7 ties (p = 0.8125 > alpha 0.05)",
    "wins": 2,
    "losses": 3,
    "ties": 7,
    "n": 12,
    "p_value": 0.8125,
    "alpha": 0.05,
    "regression_candidate_failures": 2,
    "regression_parent_failures": 1,
    "stopped_early": False,
}


def checkpoint(reg: ModelRegistry, weights: bytes) -> Path:
    """Return a new checkpoint folder under the registry's models/ with a config and some 'weights'."""
    path = reg.new_checkpoint_dir()
    (path / "config.json").write_text('{"model_type": "tiny"}')
    (path / "model.safetensors").write_bytes(weights)
    return path


def two_models(data_dir: Path) -> tuple[str, str]:
    """Register a promoted model and a rejected candidate trained from it; return their ids."""
    clock = itertools.count(1_750_000_000.0, 90.0).__next__
    with ModelRegistry(data_dir, clock=clock) as reg:
        first = reg.register(
            "bundled",
            checkpoint(reg, b"first weights"),
            parent=None,
            dataset={"rows": 412, "runs": 57, "kinds": 6},
            config={"lr": 0.0002, "epochs": 2, "batch": 8},
            metrics={"loss": 0.61, "steps": 104},
            note="round from shipped",
        )
        reg.record_decision(first.id, FIRST_GATE)
        second = reg.register(
            "bundled",
            checkpoint(reg, b"second weights"),
            parent=first.id,
            dataset={"rows": 388, "runs": 49, "kinds": 5},
            config={"lr": 0.0001, "epochs": 3, "batch": 8},
            metrics={"loss": 0.48, "steps": 147},
            note=f"round from {first.id}",
        )
        reg.record_decision(second.id, SECOND_GATE)
    return first.id, second.id


def cells(pane: Any, row: int) -> list[str]:
    return [pane.table.item(row, col).text() for col in range(pane.table.columnCount())]


@pytest.fixture
def registry_dir(tmp_path: Path) -> tuple[Path, str, str]:
    data_dir = tmp_path / "data"
    first, second = two_models(data_dir)
    return data_dir, first, second


@pytest.fixture
def pane_of(qapp: Any, qtbot: Any) -> Any:
    """Return a function opening a shown ModelsPane over a Service of a data directory."""
    from cua.service import Service
    from ui.models_pane import ModelsPane

    def make(data_dir: Path) -> Any:
        pane = ModelsPane(Service(data_dir))
        qtbot.addWidget(pane)
        pane.resize(1300, 800)
        pane.show()
        return pane

    return make


def test_lists_models_marks_current_and_shows_decisions(pane_of: Any, registry_dir: Any) -> None:
    from ui.models_pane import COLUMNS, CURRENT

    data_dir, first, second = registry_dir
    pane = pane_of(data_dir)
    assert pane.in_use.text().startswith("<b>In use:</b> " + first)
    assert str(data_dir / "models" / first) in pane.in_use.text()
    assert not pane.empty.isVisibleTo(pane) and pane.table.isVisibleTo(pane)
    assert pane.table.rowCount() == 2
    header = [pane.table.horizontalHeaderItem(c).text() for c in range(len(COLUMNS))]
    assert header[:4] == ["Model", "In use", "Kind", "Status"]
    newest, oldest = cells(pane, 0), cells(pane, 1)  # newest first
    assert newest[:5] == [second, "", "bundled", "rejected", first]
    assert newest[6:9] == ["388", "2/3/7", "0.8125"]
    assert newest[9] == SECOND_GATE["reason"]
    assert oldest[:5] == [first, CURRENT, "bundled", "promoted", ""]
    assert oldest[6:9] == ["412", "6/0/3", "0.01562"]
    assert pane.table.item(1, 0).font().bold() and not pane.table.item(0, 0).font().bold()

    assert pane.selected()["id"] == first  # the one in use is selected at first
    assert not pane.promote_button.isEnabled() and pane.rollback_button.isEnabled()
    assert pane.select(second)
    text = pane.details.toPlainText()
    assert text.splitlines()[0] == f"{second} · bundled · rejected"
    assert f"Lineage: {second} ← {first}" in text
    assert '"lr": 0.0001' in text and '"loss": 0.48' in text and '"rows": 388' in text
    assert "rejected by gate: " + SECOND_GATE["reason"] in text
    assert "wins 2, losses 3, ties 7, n 12, p_value 0.8125, alpha 0.05" in text
    assert "regression_candidate_failures 2" in text and "regression_parent_failures 1" in text
    assert pane.promote_button.isEnabled()
    pane.select(first)
    assert "(a root:" in pane.details.toPlainText()
    assert "wins 6, losses 0, ties 3, n 9, p_value 0.01562, alpha 0.05" in pane.details.toPlainText()


def test_promote_and_roll_back_through_the_buttons(
    qtbot: Any, pane_of: Any, registry_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtCore import Qt

    import ui.models_pane

    data_dir, first, second = registry_dir
    pane = pane_of(data_dir)
    asked: list[str] = []

    def answer(parent: Any, title: str, label: str, *args: Any, **kwargs: Any) -> tuple[str, bool]:
        asked.append(label)
        return reason[0], True

    monkeypatch.setattr(ui.models_pane.QInputDialog, "getText", answer)

    reason = ["better on my tasks"]
    pane.select(second)
    qtbot.mouseClick(pane.promote_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Promoted" in pane.status.text(), timeout=10_000)
    assert pane.last_error is None, pane.last_error
    assert second in asked[-1]
    with ModelRegistry(data_dir) as reg:
        current = reg.current("bundled")
        assert current is not None and current.id == second
        last = reg.decisions(second)[-1]
    assert (last.source, last.action, last.reason) == ("person", "promoted", "better on my tasks")
    assert last.data["previous_status"] == "rejected"
    assert cells(pane, pane.row_of(second))[1:4] == ["current", "bundled", "promoted"]
    assert cells(pane, pane.row_of(first))[1] == ""
    assert pane.in_use.text().startswith(f"<b>In use:</b> {second}")
    assert pane.selected()["id"] == second
    assert "promoted by person: better on my tasks" in pane.details.toPlainText()
    assert "previous_status rejected" in pane.details.toPlainText()

    reason[0] = "it clicks the wrong buttons"
    qtbot.mouseClick(pane.rollback_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Rolled back" in pane.status.text(), timeout=10_000)
    assert second in asked[-1]
    with ModelRegistry(data_dir) as reg:
        current = reg.current("bundled")
        assert current is not None and current.id == first
        assert reg.get(second).status == "retired"
        assert reg.decisions(second)[-1].reason == "it clicks the wrong buttons"
    assert cells(pane, pane.row_of(first))[1] == "current"
    assert cells(pane, pane.row_of(second))[1:4] == ["", "bundled", "retired"]
    assert pane.in_use.text().startswith(f"<b>In use:</b> {first}")

    # Only one promoted model is left: the registry's UsageError says so, in red, nothing changes.
    qtbot.mouseClick(pane.rollback_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.last_error is not None, timeout=10_000)
    assert "nothing to roll back to" in pane.status.text() and "b71c1c" in pane.status.styleSheet()
    with ModelRegistry(data_dir) as reg:
        current = reg.current("bundled")
        assert current is not None and current.id == first

    asked.clear()  # a cancelled dialog changes nothing
    monkeypatch.setattr(ui.models_pane.QInputDialog, "getText", lambda *a, **k: ("", False))
    pane.select(second)
    qtbot.mouseClick(pane.promote_button, Qt.MouseButton.LeftButton)
    qtbot.wait(200)
    with ModelRegistry(data_dir) as reg:
        assert reg.get(second).status == "retired"


def test_empty_registry_says_what_to_do(pane_of: Any, tmp_path: Path) -> None:
    from ui.models_pane import EMPTY

    pane = pane_of(tmp_path / "empty")
    assert pane.empty.isVisibleTo(pane) and pane.empty.text() == EMPTY
    assert not pane.table.isVisibleTo(pane) and pane.table.rowCount() == 0
    assert pane.in_use.text().startswith("<b>In use:</b> shipped (")
    assert not pane.promote_button.isEnabled() and not pane.rollback_button.isEnabled()
    assert pane.train_button.isEnabled()
    assert not (tmp_path / "empty" / "models" / "registry.sqlite").exists()  # reading creates nothing


def test_damaged_registry_says_what_to_do(pane_of: Any, tmp_path: Path) -> None:
    (tmp_path / "data" / "models").mkdir(parents=True)
    (tmp_path / "data" / "models" / "registry.sqlite").write_bytes(b"not a database at all" * 100)
    pane = pane_of(tmp_path / "data")
    assert "is damaged or is not a cua model registry" in pane.status.text()
    assert "move it aside" in pane.status.text() and "b71c1c" in pane.status.styleSheet()
    assert not pane.empty.isVisibleTo(pane) and pane.table.rowCount() == 0


def test_train_with_nothing_explored_shows_the_usage_error(
    qtbot: Any, pane_of: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtCore import Qt

    # Its own tag: the other pytest worker's sandboxes carry the session's tag, and one started
    # meanwhile would look like a sandbox this round started.
    tag = f"{TAG}-models-empty"
    monkeypatch.setenv("CUA_SANDBOX_TAG", tag)
    before = {pid for pid, _ in tagged_processes(tag)}
    pane = pane_of(tmp_path / "empty")
    qtbot.mouseClick(pane.train_button, Qt.MouseButton.LeftButton)
    op = pane.operation
    assert op is not None
    qtbot.waitUntil(lambda: not pane.running, timeout=30_000)
    assert op.wait(5)
    assert "nothing explored yet" in pane.status.text() and "b71c1c" in pane.status.styleSheet()
    assert "round failed: " in pane.log.toPlainText()
    assert pane.train_button.isEnabled() and pane.empty.isVisibleTo(pane)
    assert [c for pid, c in tagged_processes(tag) if pid not in before] == []  # no sandbox was started


@dataclass
class FakeReport:
    model_id: str
    promoted: bool = False
    decision: dict[str, Any] = field(default_factory=dict)
    seconds: float = 3.0

    def as_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "promoted": self.promoted, "decision": self.decision,
                "seconds": self.seconds, "rows": 12}  # fmt: skip


def test_train_runs_in_the_background_and_refreshes(
    qtbot: Any, pane_of: Any, registry_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in round (Service.train replaced) emits progress, registers a candidate, returns."""
    from PySide6.QtCore import Qt

    data_dir, first, _ = registry_dir
    pane = pane_of(data_dir)
    release = threading.Event()
    threads: list[str] = []

    def train(settings: Any = None, *, progress: Any = None) -> FakeReport:
        threads.append(threading.current_thread().name)
        progress("4 synthesized tasks: 3 train, 1 gate, 0 regression")
        release.wait(10)
        progress("gate 1/1: candidate pass, parent fail")
        with ModelRegistry(data_dir) as reg:
            entry = reg.register("bundled", checkpoint(reg, b"third"), parent=first, dataset={"rows": 12},
                                 config={}, metrics={})  # fmt: skip
            reg.record_decision(entry.id, {**SECOND_GATE, "reason": "rejected: too few instances"})
        return FakeReport(entry.id, decision={"reason": "rejected: too few instances"})

    monkeypatch.setattr(pane.service, "train", train)
    qtbot.mouseClick(pane.train_button, Qt.MouseButton.LeftButton)
    assert pane.running and not pane.train_button.isEnabled()
    assert pane.train() is None  # one round at a time
    qtbot.waitUntil(lambda: "4 synthesized tasks" in pane.log.toPlainText(), timeout=10_000)
    assert pane.running and not pane.train_button.isEnabled()
    release.set()
    qtbot.waitUntil(lambda: not pane.running, timeout=10_000)
    assert threads == ["ui-train"]
    assert pane.last_error is None and pane.last_report is not None
    assert "gate 1/1: candidate pass" in pane.log.toPlainText()
    assert "rejected: the parent stays in use" in pane.status.text()
    assert pane.table.rowCount() == 3 and pane.selected()["id"] == pane.last_report["model_id"]
    assert cells(pane, 0)[3:5] == ["rejected", first] and pane.train_button.isEnabled()


def test_models_tab_in_the_window(qtbot: Any, qapp: Any, registry_dir: Any, shots_dir: Path) -> None:
    from ui.app import create_window

    data_dir, first, second = registry_dir
    win = create_window(data_dir)
    qtbot.addWidget(win)
    win.resize(1360, 860)
    win.show()
    tabs = [win.tabs.tabText(i) for i in range(win.tabs.count())]
    assert tabs == ["Run", "Explore", "Review", "Models"]
    win.tabs.setCurrentWidget(win.models_pane)
    pane = win.models_pane
    assert pane.table.rowCount() == 2 and pane.in_use.text().startswith(f"<b>In use:</b> {first}")
    pane.select(second)
    qtbot.wait(200)
    assert win.grab().save(str(shots_dir / "models.png"))
    win.confirm_close = True
    win.close()
