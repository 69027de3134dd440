"""The Review pane: browse recorded runs with filters, step through one, judge, export, replay, delete.

The run list is a Qt model over the trajectory store that loads a page of runs at a time as the
view scrolls (``canFetchMore``/``fetchMore``), so ten thousand runs cost what the visible ones
cost. Reads of the store (a page of runs, one run's steps and screenshots) are short indexed
queries and run on the GUI thread; changes (overrule, delete, export, replay) run through
:mod:`ui.worker` and the ``Service``.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cua.actions import ActionError, describe, recorded_actions
from cua.replay import ReplayResult
from cua.service import Service
from cua.store import Run, RunSource, RunStatus, Step, TrajectoryStore, Verdict
from ui.screen_view import ScreenView, marks_of_json
from ui.worker import Operation, run_in_background

PAGE = 200
"""Runs loaded per page of the list."""
ANY = "any"
COLUMNS = ("Created", "App", "Status", "Verdict", "Source", "Model", "Steps", "Instruction")
SINCE = {"any time": None, "today": 1, "last 7 days": 7, "last 30 days": 30}

_Index = QModelIndex | QPersistentModelIndex


def verdict_text(verdict: Verdict | None) -> str:
    """Return a verdict in one word and its source: 'success (person)', or '' when never judged."""
    if verdict is None:
        return ""
    word = {True: "success", False: "failure", None: "unknown"}[verdict.success]
    return f"{word} ({verdict.source.value})"


class RunsModel(QAbstractTableModel):
    """The store's runs, newest first, matching the filters; loaded a page at a time."""

    def __init__(self, store_of: Any) -> None:
        """``store_of()`` returns the open store to read (the pane's)."""
        super().__init__()
        self._store_of = store_of
        self._rows: list[Run] = []
        self._offset = 0
        self._exhausted = False
        self.filters: dict[str, Any] = {}
        self.model_name: str | None = None
        """Only runs of this model (matched on the store's rows as pages load)."""

    # -- filters --------------------------------------------------------------------------------
    def set_filters(self, filters: dict[str, Any], model_name: str | None) -> None:
        """Replace the filters and start again from the first page."""
        self.beginResetModel()
        self.filters = {k: v for k, v in filters.items() if v is not None}
        self.model_name = model_name or None
        self._rows, self._offset, self._exhausted = [], 0, False
        self.endResetModel()
        if self.canFetchMore(QModelIndex()):
            self.fetchMore(QModelIndex())

    def refresh(self) -> None:
        """Reload from the first page with the same filters."""
        self.set_filters(dict(self.filters), self.model_name)

    def run_at(self, row: int) -> Run:
        """Return the run shown in ``row``."""
        return self._rows[row]

    def row_of(self, run_id: str) -> int | None:
        """Return the row of ``run_id`` among the loaded rows, or None."""
        for i, run in enumerate(self._rows):
            if run.id == run_id:
                return i
        return None

    def replace_run(self, run: Run) -> None:
        """Show ``run``'s new state in its row (after a verdict)."""
        row = self.row_of(run.id)
        if row is not None:
            self._rows[row] = run
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def remove_run(self, run_id: str) -> None:
        """Drop ``run_id``'s row (after a delete)."""
        row = self.row_of(run_id)
        if row is not None:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self._offset -= 1
            self.endRemoveRows()

    # -- lazy loading ------------------------------------------------------------------------
    def canFetchMore(self, parent: _Index) -> bool:  # noqa: N802 (Qt's name)
        """Return whether more runs may match."""
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: _Index) -> None:  # noqa: N802
        """Load the next page (with a model filter, pages until some match or the store ends)."""
        if parent.isValid() or self._exhausted:
            return
        store: TrajectoryStore = self._store_of()
        found: list[Run] = []
        for _ in range(50):
            page = store.list_runs(**self.filters, limit=PAGE, offset=self._offset)
            self._offset += len(page)
            if len(page) < PAGE:
                self._exhausted = True
            if self.model_name:
                page = [r for r in page if r.provenance.model == self.model_name]
            found += page
            if found or self._exhausted:
                break
        if found:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows) + len(found) - 1)
            self._rows += found
            self.endInsertRows()

    # -- the table ----------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        """Return the number of loaded rows."""
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        """Return the number of columns."""
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:  # noqa: N802
        """Name the columns."""
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = 0) -> Any:
        """Return a cell's text (and the full instruction as its tooltip)."""
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        run = self._rows[index.row()]
        col = index.column()
        values = (
            lambda: run.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            lambda: run.app,
            lambda: run.status.value,
            lambda: verdict_text(run.verdict),
            lambda: run.source.value,
            lambda: run.provenance.model,
            lambda: str(run.step_count),
            lambda: run.instruction,
        )
        return values[col]()


class OverruleDialog(QDialog):
    """Ask for a person's verdict and the reason for it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Overrule the verdict")
        form = QFormLayout(self)
        self.outcome = QComboBox()
        self.outcome.addItems(["success", "failure", "unknown"])
        self.reason = QLineEdit(placeholderText="why (kept with the verdict)")
        form.addRow("Verdict", self.outcome)
        form.addRow("Reason", self.reason)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _accept(self) -> None:
        if not self.reason.text().strip():
            QMessageBox.warning(self, "A reason is needed", "Say why you overrule the verdict.")
            return
        self.accept()

    def success(self) -> bool | None:
        """Return the chosen verdict."""
        return {"success": True, "failure": False}.get(self.outcome.currentText())


class ReviewPane(QWidget):
    """Browse, filter and inspect runs; overrule, delete, export, replay."""

    changed = Signal(str)  # a run was judged, deleted or added (its id)

    def __init__(self, service: Service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self._store: TrajectoryStore | None = None
        self.current: Run | None = None
        self.current_steps: list[Step] = []
        self.current_verdicts: list[Verdict] = []
        self.last_export: Path | None = None
        self.last_error: BaseException | None = None
        self.model = RunsModel(self.store)
        self._build()

    def store(self) -> TrajectoryStore:
        """Return the pane's open store (opened at first use)."""
        if self._store is None:
            self._store = self.service.store()
        return self._store

    def close_store(self) -> None:
        """Close the pane's store (at shutdown)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        bar = QHBoxLayout()
        self.f_app = QComboBox()
        from sandbox import list_profiles

        self.f_app.addItems([ANY, *sorted(list_profiles())])
        self.f_status = QComboBox()
        self.f_status.addItems([ANY, *(s.value for s in RunStatus)])
        self.f_verdict = QComboBox()
        self.f_verdict.addItems([ANY, "success", "failure"])
        self.f_source = QComboBox()
        self.f_source.addItems([ANY, *(s.value for s in RunSource)])
        self.f_model = QLineEdit(placeholderText="model name")
        self.f_since = QComboBox()
        self.f_since.addItems(list(SINCE))
        for label, w in (
            ("App", self.f_app),
            ("Status", self.f_status),
            ("Verdict", self.f_verdict),
            ("Source", self.f_source),
            ("Model", self.f_model),
            ("Date", self.f_since),
        ):
            bar.addWidget(QLabel(label))
            bar.addWidget(w)
            if isinstance(w, QComboBox):
                w.currentIndexChanged.connect(self.apply_filters)
        self.f_model.editingFinished.connect(self.apply_filters)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.apply_filters)
        bar.addWidget(refresh)
        bar.addStretch(1)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate((120, 90, 80, 130, 60, 120, 45)):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)

        self.step_list = QListWidget()
        self.step_list.currentRowChanged.connect(self.show_step)
        self.view = ScreenView()
        self.view.set_placeholder("Pick a run.")
        self.details = QPlainTextEdit(readOnly=True)
        self.details.setMaximumHeight(120)
        self.verdicts = QPlainTextEdit(readOnly=True)
        self.verdicts.setMaximumHeight(70)
        self.header = QLabel("")
        self.header.setWordWrap(True)
        self.meta = QLabel("")
        self.meta.setWordWrap(True)
        self.meta.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        actions = QHBoxLayout()
        self.overrule_button = QPushButton("Overrule…")
        self.delete_button = QPushButton("Delete")
        self.export_kind = QComboBox()
        self.export_kind.addItems(["html", "folder", "dataset"])
        self.export_button = QPushButton("Export…")
        self.replay_button = QPushButton("Replay")
        self.admit_button = QPushButton("Admit to memory")
        self.admit_button.setToolTip(
            "Keep this run as experience the agent is shown later (a verified success, or a "
            "failure as a pitfall)"
        )
        self.forget_button = QPushButton("Forget from memory…")
        self.forget_button.setToolTip("Take this run out of memory; later builds do not bring it back")
        self.memory_state = QLabel("")
        for button in (
            self.overrule_button,
            self.delete_button,
            self.export_kind,
            self.export_button,
            self.replay_button,
            self.admit_button,
            self.forget_button,
        ):
            actions.addWidget(button)
        actions.addStretch(1)
        self.overrule_button.clicked.connect(self._ask_overrule)
        self.delete_button.clicked.connect(self._ask_delete)
        self.export_button.clicked.connect(self._ask_export)
        self.replay_button.clicked.connect(self.replay_current)
        self.admit_button.clicked.connect(self.admit_current)
        self.forget_button.clicked.connect(self._ask_forget)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setOpenExternalLinks(True)

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.header)
        dl.addWidget(self.meta)
        dl.addWidget(self.memory_state)
        inner = QSplitter()
        inner.addWidget(self.step_list)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.view, 1)
        rl.addWidget(self.details)
        inner.addWidget(right)
        inner.setSizes([260, 800])
        dl.addWidget(inner, 1)
        dl.addWidget(QLabel("Verdicts (newest last)"))
        dl.addWidget(self.verdicts)
        dl.addLayout(actions)
        dl.addWidget(self.status)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(detail)
        split.setSizes([190, 710])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        self._enable(False)

    def _enable(self, on: bool) -> None:
        for b in (
            self.overrule_button,
            self.delete_button,
            self.export_button,
            self.replay_button,
            self.admit_button,
            self.forget_button,
        ):
            b.setEnabled(on)

    # -- the list -----------------------------------------------------------------------------
    def filters(self) -> tuple[dict[str, Any], str | None]:
        """Return the store filters and the model name the bar asks for."""
        days = SINCE[self.f_since.currentText()]
        since = None
        if days is not None:
            start = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
            since = (start - timedelta(days=days - 1)).astimezone(UTC)

        def value(combo: QComboBox) -> str | None:
            return None if combo.currentText() == ANY else combo.currentText()

        verdict = value(self.f_verdict)
        return {
            "app": value(self.f_app),
            "status": value(self.f_status),
            "source": value(self.f_source),
            "success": None if verdict is None else verdict == "success",
            "since": since,
        }, self.f_model.text().strip() or None

    def apply_filters(self) -> None:
        """Reload the list with the bar's filters."""
        filters, model_name = self.filters()
        self.model.set_filters(filters, model_name)
        self.status.setText(
            f"{self.model.rowCount()}{'+' if self.model.canFetchMore(QModelIndex()) else ''} runs"
        )

    def select_row(self, row: int) -> None:
        """Select a row of the list (opens its run)."""
        self.table.selectRow(row)

    def _row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid():
            self.open_run(self.model.run_at(current.row()).id)

    # -- one run ------------------------------------------------------------------------------
    def open_run(self, run_id: str) -> None:
        """Show a run: header, its steps (the first selected, with its screenshot), its verdicts."""
        store = self.store()
        run = store.get_run(run_id)
        self.current = run
        self.current_steps = store.steps(run_id)
        self.current_verdicts = store.verdicts(run_id)
        self.header.setText(f"<b>{html.escape(run.instruction)}</b>")
        self.meta.setText(
            f"{run.app} · {run.status.value} · {run.source.value} · model {run.provenance.model} · "
            f"{run.step_count} steps · {run.summary} · run {run.id}"
        )
        self.step_list.blockSignals(True)
        self.step_list.clear()
        items = []
        for s in self.current_steps:
            items.append(
                f"{s.index + 1:>3}  {'👤 ' if s.actor.value == 'person' else ''}{self._action_text(s)}"
            )
        if run.final_screenshot:
            items.append("     final screen")
        self.step_list.addItems(items)
        self.step_list.blockSignals(False)
        self._show_verdicts()
        self._enable(True)
        self._show_memory_state(run_id)
        if items:
            self.step_list.setCurrentRow(0)
        else:
            self.view.set_image(None, [])
            self.view.set_placeholder("This run has no steps.")
            self.details.clear()

    def _show_memory_state(self, run_id: str) -> None:
        """Say where the run stands with memory (read off the GUI thread: the index may be large)."""
        self.memory_state.setText("memory: …")
        service = self.service

        def shown(state: str) -> None:
            if self.current is not None and self.current.id == run_id:
                self.memory_state.setText(f"memory: {state}")

        run_in_background(lambda emit: service.memory_state(run_id), name="memory-state", on_done=shown,
                          on_error=lambda exc: shown(f"unknown ({exc})"))  # fmt: skip

    @staticmethod
    def _action_text(step: Step) -> str:
        if step.action is None:
            return f"(unparsable: {step.parse_error or '?'})"[:80]
        try:
            return "; ".join(describe(a) for a in recorded_actions(step.action))[:120]
        except ActionError:
            return json.dumps(step.action)[:120]

    def show_step(self, row: int) -> None:
        """Show step ``row`` of the open run (or its final screen): screenshot with the action, details."""
        if row < 0 or self.current is None:
            return
        store = self.store()
        if row >= len(self.current_steps):
            sha = self.current.final_screenshot
            if sha:
                self.view.set_image(QImage.fromData(store.screenshot_bytes(sha)), [])
            self.details.setPlainText("The screen after the last action.")
            return
        step = self.current_steps[row]
        image = QImage.fromData(store.screenshot_bytes(step.screenshot))
        self.view.set_image(image, marks_of_json(step.action))
        timings = ", ".join(f"{k} {v:.0f} ms" for k, v in step.timings.items())
        lines = [
            f"Step {step.index + 1} by {step.actor.value} · window: {step.window_title or '?'}",
            f"Thought: {step.thought or ''}",
            f"Action: {self._action_text(step)}",
            f"Timings: {timings}",
            f"Hit: {json.dumps(step.hit) if step.hit else '(none recorded)'}",
        ]
        if step.parse_error:
            lines.append(f"Parse error: {step.parse_error}")
        self.details.setPlainText("\n".join(lines))

    def _show_verdicts(self) -> None:
        lines = []
        for v in self.current_verdicts:
            when = v.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            reasons = "; ".join(v.reasons)
            lines.append(f"{when}  {verdict_text(v)}: {reasons}")
        self.verdicts.setPlainText("\n".join(lines) or "(never judged)")

    # -- changes (off the GUI thread) -------------------------------------------------------------
    def _failed(self, exc: BaseException) -> None:
        self.last_error = exc
        self.status.setStyleSheet("color: #b71c1c")
        self.status.setText(str(exc))

    def _ok(self, message: str) -> None:
        self.last_error = None
        self.status.setStyleSheet("")
        self.status.setText(message)

    def _after_change(self, run_id: str) -> None:
        if self.current is not None and self.current.id == run_id:
            store = self.store()
            self.current = store.get_run(run_id)
            self.current_verdicts = store.verdicts(run_id)
            self._show_verdicts()
            self.model.replace_run(self.current)
        self.changed.emit(run_id)

    def overrule(self, success: bool | None, reason: str) -> Operation | None:
        """Record a person's verdict on the open run (the store keeps the earlier ones too)."""
        if self.current is None:
            return None
        run_id, service = self.current.id, self.service

        def done(verdict: Verdict) -> None:
            self._after_change(run_id)
            self._ok(f"Overruled: {verdict_text(verdict)}")

        return run_in_background(
            lambda emit: service.overrule(run_id, success, reason),
            name="overrule",
            on_done=done,
            on_error=self._failed,
        )

    def _ask_overrule(self) -> None:
        dialog = OverruleDialog(self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.overrule(dialog.success(), dialog.reason.text().strip())

    def delete_current(self) -> Operation | None:
        """Delete the open run and the screenshots no other run uses."""
        if self.current is None:
            return None
        run_id, service = self.current.id, self.service

        def done(_: object) -> None:
            self.model.remove_run(run_id)
            self.current = None
            self.step_list.clear()
            self.details.clear()
            self.verdicts.clear()
            self.header.setText("")
            self.meta.setText("")
            self.view.set_image(None, [])
            self._enable(False)
            self._ok(f"Deleted run {run_id}.")
            self.changed.emit(run_id)

        return run_in_background(
            lambda emit: service.delete_run(run_id), name="delete", on_done=done, on_error=self._failed
        )

    def _ask_delete(self) -> None:
        if self.current is None:
            return
        answer = QMessageBox.question(
            self, "Delete the run?", f"Delete run {self.current.id} and its screenshots?"
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_current()

    def export_current(self, kind: str, dest: Path) -> Operation | None:
        """Export the open run: ``html`` (a page), ``folder`` (JSONL and images) or ``dataset``."""
        if self.current is None:
            return None
        run_id, service = self.current.id, self.service

        def done(path: Path) -> None:
            self.last_export = Path(path)
            self._ok(f'Exported to <a href="{Path(path).resolve().as_uri()}">{path}</a>')

        return run_in_background(
            lambda emit: service.export_runs([run_id], dest, kind=kind),
            name="export",
            on_done=done,
            on_error=self._failed,
        )

    def _ask_export(self) -> None:
        if self.current is None:
            return
        kind = self.export_kind.currentText()
        if kind == "html":
            path, _ = QFileDialog.getSaveFileName(
                self, "Export as HTML", f"run-{self.current.id}.html", "HTML (*.html)"
            )
        else:
            path = QFileDialog.getExistingDirectory(self, f"Export as {kind} into")
        if path:
            self.export_current(kind, Path(path))

    def admit_current(self) -> Operation | None:
        """Admit the open run into experience memory (lifting an earlier forget)."""
        return self._memory_change("admit", lambda service, run_id: service.memory_admit_run(run_id))

    def forget_current(self, reason: str) -> Operation | None:
        """Take the open run out of experience memory, with the person's reason."""
        return self._memory_change(
            "forget", lambda service, run_id: service.memory_forget_run(run_id, reason)
        )

    def _memory_change(self, name: str, call: Callable[[Service, str], str]) -> Operation | None:
        """Run ``call(service, run_id)`` on the open run off the GUI thread; say what it did."""
        if self.current is None:
            return None
        run_id, service = self.current.id, self.service

        def done(said: str) -> None:
            self._ok(f"Memory: {said}")
            self._show_memory_state(run_id)

        return run_in_background(
            lambda emit: call(service, run_id), name=name, on_done=done, on_error=self._failed
        )

    def _ask_forget(self) -> None:
        if self.current is None:
            return
        reason, ok = QInputDialog.getText(
            self, "Forget from memory", "Why should the agent no longer be shown this run?"
        )
        if ok and reason.strip():
            self.forget_current(reason.strip())

    def replay_current(self) -> Operation | None:
        """Replay the open (verified) run in a new sandbox, recorded as a replay run."""
        if self.current is None:
            return None
        run_id, service = self.current.id, self.service
        started = time.monotonic()
        self._ok(f"Replaying {run_id} in a new sandbox …")

        def done(result: ReplayResult) -> None:
            passed = "passed" if result.passed else "did not pass"
            self._ok(
                f"Replay {result.status} in {time.monotonic() - started:.1f} s; the validator {passed};"
                f" new run {result.run_id}"
            )
            self.apply_filters()
            self.changed.emit(run_id)

        return run_in_background(
            lambda emit: service.replay(run_id), name="replay", on_done=done, on_error=self._failed
        )


__all__ = ["PAGE", "ReviewPane", "RunsModel", "verdict_text"]
