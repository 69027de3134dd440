"""The Models pane: the registry's models, one model's lineage and decisions; promote, roll back, train.

Reads and changes go through ``Service`` only (``models``, ``bundled_checkpoint``,
``model_promote``, ``model_rollback``, ``train``); the registry itself (``cua.learn.registry``)
stays behind it. Reading the registry is one short SQLite query and runs on the GUI thread;
promoting, rolling back and the learning round (minutes) run through :mod:`ui.worker`, whose
callbacks redraw the pane. Workers never touch widgets: the round's progress lines come back as
events.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cua.errors import CuaError, UsageError
from cua.service import Service
from cua.store import StoreError
from ui.worker import Emit, Operation, run_in_background

COLUMNS = (
    "Model",
    "In use",
    "Kind",
    "Status",
    "Parent",
    "Created",
    "Rows",
    "Gate W/L/T",
    "p-value",
    "Gate reason",
)
"""The table's columns, in order."""
CURRENT = "current"
"""The "In use" cell of the current model of its kind."""
EMPTY = "No trained models yet: explore an application, then Train a round. The shipped policy is in use."
"""What the pane says over an empty registry."""
#: Decision numbers shown first, in this order; the rest follow sorted by name.
_NUMBERS_FIRST = ("wins", "losses", "ties", "n", "p_value", "alpha")


def when(iso: str | None) -> str:
    """Return an ISO 8601 time from the registry as local 'YYYY-MM-DD HH:MM:SS' ('' for None)."""
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def latest_gate(model: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the model's latest decision with a gate's numbers (source gate, or wins in its data)."""
    for decision in reversed(model.get("decisions", [])):
        if decision.get("source") == "gate" or "wins" in decision.get("data", {}):
            return dict(decision)
    return None


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def decision_numbers(data: Mapping[str, Any]) -> str:
    """Return a decision's numbers as 'wins 3, losses 0, …' (the gate's first; reason, source left out)."""
    keys = [k for k in _NUMBERS_FIRST if k in data]
    keys += sorted(k for k in data if k not in keys and k not in ("reason", "source", "promoted"))
    return ", ".join(f"{k} {_number(data[k])}" for k in keys)


def table_cells(model: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the table row of one ``Service.models()`` entry, in :data:`COLUMNS` order."""
    gate = latest_gate(model)
    data = gate["data"] if gate is not None else {}
    wlt = "/".join(str(data[k]) for k in ("wins", "losses", "ties")) if "wins" in data else ""
    rows = model.get("dataset", {}).get("rows")
    return (
        str(model["id"]),
        CURRENT if model.get("current") else "",
        str(model["kind"]),
        str(model["status"]),
        str(model.get("parent") or ""),
        when(model.get("created")),
        "" if rows is None else str(rows),
        wlt,
        _number(data["p_value"]) if "p_value" in data else "",
        str(gate["reason"]) if gate is not None else "",
    )


def lineage(model_id: str, models: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return the model's id and its ancestors' (parent, grandparent, …) from the entries list."""
    by_id = {str(m["id"]): m for m in models}
    chain = [model_id]
    while (parent := by_id.get(chain[-1], {}).get("parent")) and parent not in chain:
        chain.append(str(parent))
    return chain


def _block(title: str, values: Mapping[str, Any]) -> list[str]:
    if not values:
        return [f"{title}: (none)"]
    return [
        f"{title}:",
        *("  " + line for line in json.dumps(values, indent=2, sort_keys=True).splitlines()[1:-1]),
    ]


def details_text(model: Mapping[str, Any], models: Sequence[Mapping[str, Any]]) -> str:
    """Return the details of one model: where it is, its lineage, config, metrics and every decision."""
    chain = lineage(str(model["id"]), models)
    root = " (a root: trained from the shipped checkpoint, or registered by hand)"
    lines = [
        f"{model['id']} · {model['kind']} · {model['status']}"
        + (" · in use now" if model.get("current") else ""),
        f"Path: {model['path']}",
        f"Content hash: {model.get('content_hash', '')}",
        f"Created: {when(model.get('created'))}"
        + (f" · last promoted {when(model.get('promoted_at'))}" if model.get("promoted_at") else ""),
    ]
    if model.get("note"):
        lines.append(f"Note: {model['note']}")
    lines.append("Lineage: " + " ← ".join(chain) + (root if len(chain) == 1 else ""))
    lines += _block("Dataset", model.get("dataset", {}))
    lines += _block("Config", model.get("config", {}))
    lines += _block("Metrics", model.get("metrics", {}))
    decisions = model.get("decisions", [])
    lines.append(f"Decisions ({len(decisions)}, oldest first):" if decisions else "Decisions: (none yet)")
    for d in decisions:
        lines.append(
            f"  {when(d.get('time'))}  {d.get('action')} by {d.get('source')}: {d.get('reason') or ''}"
        )
        numbers = decision_numbers(d.get("data", {}))
        if numbers:
            lines.append(f"      {numbers}")
    return "\n".join(lines)


def _error_text(exc: BaseException) -> str:
    """Return what to show for ``exc``: a Usage- or store error as is (it says what to do); else named."""
    return str(exc) if isinstance(exc, UsageError | StoreError) else f"{type(exc).__name__}: {exc}"


class ModelsPane(QWidget):
    """The registered models, the one in use, their lineage and decisions; promote, roll back, train."""

    modelsChanged = Signal()  # noqa: N815 (Qt's naming): a promotion, rollback or round changed the registry
    trainingFinished = Signal(object)  # noqa: N815 (Qt's naming): the round's report dict (its gate runs are in the store)

    def __init__(self, service: Service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.models: list[dict[str, Any]] = []
        """The last ``Service.models()`` read, oldest first (the table is newest first)."""
        self.operation: Operation | None = None
        """The learning round, while one runs (promote and roll back are separate, short operations)."""
        self.last_error: BaseException | None = None
        self.last_report: dict[str, Any] | None = None

        self.in_use = QLabel()
        self.in_use.setWordWrap(True)
        self.in_use.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty = QLabel(EMPTY)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #555; font-style: italic; padding: 12px")

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.itemSelectionChanged.connect(self._show_selected)

        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("Select a model to see its lineage, config, metrics and decisions.")
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.details.setFont(mono)

        self.promote_button = QPushButton("Promote…")
        self.promote_button.setToolTip(
            "Make the selected model the one in use (asks why; recorded as yours)."
        )
        self.rollback_button = QPushButton("Roll back…")
        self.rollback_button.setToolTip("Retire the model in use; the one promoted before it is used again.")
        self.train_button = QPushButton("Train a round")
        self.train_button.setToolTip(
            "Train a candidate on the explored tasks' verified runs and let the gate decide (minutes)."
        )
        self.refresh_button = QPushButton("Refresh")
        self.promote_button.clicked.connect(self._ask_promote)
        self.rollback_button.clicked.connect(self._ask_rollback)
        self.train_button.clicked.connect(self.train)
        self.refresh_button.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        for b in (self.promote_button, self.rollback_button, self.train_button, self.refresh_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setPlaceholderText("The learning round's progress shows here.")

        top = QVBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.in_use)
        top.addLayout(buttons)
        top.addWidget(self.status)
        top.addWidget(self.empty)
        top.addWidget(self.table, 1)
        top_box = QWidget()
        top_box.setLayout(top)
        bottom = QSplitter()
        details_box = QWidget()
        details_layout = QVBoxLayout(details_box)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.addWidget(QLabel("Selected model"))
        details_layout.addWidget(self.details)
        log_box = QWidget()
        log_layout = QVBoxLayout(log_box)
        log_layout.setContentsMargins(0, 0, 0, 0)
        log_layout.addWidget(QLabel("Learning round"))
        log_layout.addWidget(self.log)
        bottom.addWidget(details_box)
        bottom.addWidget(log_box)
        bottom.setStretchFactor(0, 2)
        bottom.setStretchFactor(1, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top_box)
        split.addWidget(bottom)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([300, 450])  # the details (decisions) matter more than an empty table's height
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self.refresh()

    # -- state ------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Return whether a learning round started here has not finished yet."""
        return self.operation is not None and not self.operation.delivered

    def selected(self) -> dict[str, Any] | None:
        """Return the selected model's entry (``Service.models()`` dict), or None."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        model_id = item.text() if item is not None else ""
        return next((m for m in self.models if m["id"] == model_id), None)

    def row_of(self, model_id: str) -> int | None:
        """Return the table row showing ``model_id``, or None."""
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.text() == model_id:
                return row
        return None

    def select(self, model_id: str) -> bool:
        """Select the model's row (its details show); return whether it is listed."""
        row = self.row_of(model_id)
        if row is None:
            return False
        self.table.selectRow(row)
        return True

    # -- reading (GUI thread: one short query) -----------------------------------------------------
    def refresh(self) -> None:
        """Read the registry and the checkpoint in use again; keep the selection where it can be kept."""
        keep = self.selected()
        failed = False
        try:
            path, name = self.service.bundled_checkpoint()
            self.models = self.service.models()
        except CuaError as exc:  # a damaged, newer or locked registry: say what to do, show nothing stale
            self.models = []
            self._failed(exc)
            failed = True
            path, name = None, "?"
        where = f" ({path})" if path is not None else ""
        self.in_use.setText(f"<b>In use:</b> {html.escape(name + where)}")
        self.in_use.setToolTip("The checkpoint `cua run` and the bundled policy load now.")
        self.empty.setVisible(not self.models and not failed)  # a damaged registry is not an empty one
        self.table.setVisible(bool(self.models))
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(self.models))
        bold = QFont(self.table.font())
        bold.setBold(True)
        for row, model in enumerate(reversed(self.models)):  # newest first
            for col, value in enumerate(table_cells(model)):
                item = QTableWidgetItem(value)
                if model.get("current"):
                    item.setFont(bold)
                if col == len(COLUMNS) - 1:
                    item.setToolTip(value)
                self.table.setItem(row, col, item)
        self.table.blockSignals(False)
        target = (
            keep["id"] if keep is not None else next((m["id"] for m in self.models if m["current"]), None)
        )
        if not (target is not None and self.select(str(target))) and self.models:
            self.table.selectRow(0)
        self._show_selected()

    def _show_selected(self) -> None:
        model = self.selected()
        self.details.setPlainText(details_text(model, self.models) if model is not None else "")
        self._enable()

    def _enable(self) -> None:
        model = self.selected()
        self.promote_button.setEnabled(
            model is not None and not model.get("current") and model.get("status") != "removed"
        )
        kind = str(model["kind"]) if model is not None else "bundled"
        in_use = any(m["current"] and m["kind"] == kind for m in self.models)
        self.rollback_button.setEnabled(in_use)
        self.train_button.setEnabled(not self.running)

    # -- changes (off the GUI thread) ---------------------------------------------------------------
    def promote(self, model_id: str, reason: str) -> Operation:
        """Make ``model_id`` the one in use, with the person's reason (``Service.model_promote``)."""
        service = self.service

        def done(entry: dict[str, Any]) -> None:
            self.refresh()
            self.select(str(entry["id"]))
            self._ok(f"Promoted {entry['id']}: it is the {entry['kind']} model in use now.")
            self.modelsChanged.emit()

        return run_in_background(
            lambda emit: service.model_promote(model_id, reason),
            name="model-promote",
            on_done=done,
            on_error=self._failed,
        )

    def rollback(self, reason: str, kind: str = "bundled") -> Operation:
        """Retire the current model of ``kind`` (``Service.model_rollback``); the one before is used again."""
        service = self.service

        def done(entry: dict[str, Any]) -> None:
            self.refresh()
            self.select(str(entry["id"]))
            self._ok(f"Rolled back: {entry['id']} is the {entry['kind']} model in use again.")
            self.modelsChanged.emit()

        return run_in_background(
            lambda emit: service.model_rollback(reason, kind=kind),
            name="model-rollback",
            on_done=done,
            on_error=self._failed,
        )

    def _ask_reason(self, title: str, question: str) -> str | None:
        reason, ok = QInputDialog.getText(self, title, question)
        return reason.strip() if ok and reason.strip() else None

    def _ask_promote(self) -> None:
        model = self.selected()
        if model is None:
            return
        reason = self._ask_reason(
            "Promote model", f"Why should {model['id']} be the {model['kind']} model in use?"
        )
        if reason is not None:
            self.promote(str(model["id"]), reason)

    def _ask_rollback(self) -> None:
        model = self.selected()
        kind = str(model["kind"]) if model is not None else "bundled"
        current = next((m["id"] for m in self.models if m["current"] and m["kind"] == kind), None)
        if current is None:
            return
        reason = self._ask_reason("Roll back", f"Why should {current} no longer be used?")
        if reason is not None:
            self.rollback(reason, kind=kind)

    def train(self) -> Operation | None:
        """Run one learning round (``Service.train``) in the background; None if one already runs."""
        if self.running:
            return None
        service = self.service
        self.last_error = None
        self.last_report = None
        self.log.clear()
        self._ok("Training a round: rows from verified runs, a candidate, then the gate (minutes) …")

        def work(emit: Emit) -> dict[str, Any]:
            report = service.train(progress=emit)
            return dict(report.as_dict())

        self.operation = run_in_background(
            work,
            name="train",
            on_event=self._on_progress,
            on_done=self._on_trained,
            on_error=self._on_train_error,
        )
        self._enable()
        return self.operation

    # -- events (GUI thread) ---------------------------------------------------------------------
    def _on_progress(self, line: Any) -> None:
        self.log.appendPlainText(str(line))

    def _on_trained(self, report: dict[str, Any]) -> None:
        self.last_report = report
        decision = report.get("decision", {})
        verdict = (
            "promoted: it is in use now" if report.get("promoted") else "rejected: the parent stays in use"
        )
        message = f"Round finished in {report.get('seconds', 0):.0f} s: {report.get('model_id')} {verdict}."
        if decision.get("reason"):
            message += f" {decision['reason']}"
        self.log.appendPlainText(message)
        self.refresh()
        if report.get("model_id"):
            self.select(str(report["model_id"]))
        self._ok(message)
        self._enable()
        self.trainingFinished.emit(report)
        self.modelsChanged.emit()

    def _on_train_error(self, exc: BaseException) -> None:
        self.log.appendPlainText(f"round failed: {_error_text(exc)}")
        self.refresh()
        self._failed(exc)
        self._enable()

    # -- helpers -----------------------------------------------------------------------------------
    def _failed(self, exc: BaseException) -> None:
        self.last_error = exc
        self.status.setStyleSheet("color: #b71c1c")
        self.status.setText(_error_text(exc))

    def _ok(self, message: str) -> None:
        self.last_error = None
        self.status.setStyleSheet("")
        self.status.setText(message)


__all__ = [
    "COLUMNS",
    "CURRENT",
    "EMPTY",
    "ModelsPane",
    "decision_numbers",
    "details_text",
    "latest_gate",
    "lineage",
    "table_cells",
    "when",
]
