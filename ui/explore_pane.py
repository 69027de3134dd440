"""The Explore pane: start, stop and resume an exploration; watch it; open its morning report.

An exploration is one background operation (:mod:`ui.worker`) calling ``Service.explore``; each
finished walk arrives as an event with the exploration's figures, and the pane redraws its
progress, the success-per-kind plot (the report's, a PNG from the service) and the list of
proven tasks. Stop asks the running ``Explorer`` to finish the walk in flight; the same
application and seed resume the same exploration later (its walks are numbered, its state is in
``explore.sqlite``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cua.errors import UsageError
from cua.explore import Explorer, ExploreSettings, WalkResult
from cua.explore.report import round_cells
from cua.policies.registry import MODEL
from cua.service import Service
from cua.synth.compose import PER_WALK
from cua.synth.templates import PER_WALK as TEMPLATES_PER_WALK
from ui import policies
from ui.settings import text
from ui.worker import Emit, Operation, run_in_background

#: (policy name, label) of the attempting policies the pane offers.
POLICIES: tuple[tuple[str, str], ...] = (
    ("bundled", "bundled: the trained policy (the registry's current one, else the shipped one)"),
    ("match", "match: the instruction matched against accessible names (baseline)"),
    ("oracle", "oracle: replay of each task's proven walk"),
    ("random", "random input (baseline)"),
    ("noop", "noop: declares done at once (baseline)"),
    (MODEL, "the Run pane's model (endpoint or checkpoint)"),
)
#: Proven tasks listed, newest first.
SHOWN_TASKS = 200
#: Columns of the learning-rounds table (newest first): when, then ``round_cells``.
ROUND_COLUMNS = ("When", "Model", "Gate", "Wins", "Losses", "p", "Rows", "Reason")


@dataclass
class Walked:
    """One finished walk and the exploration's figures after it (emitted by the worker)."""

    result: WalkResult
    summary: dict[str, Any]


class ExplorePane(QWidget):
    """Pick an application and a budget; start, stop, resume; progress, plot, tasks, report."""

    explorationFinished = Signal(object)  # noqa: N815 (Qt's naming): the summary dict

    def __init__(
        self,
        service: Service,
        settings: QSettings,
        model_choice: Callable[[], policies.PolicyChoice],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.settings = settings
        self._model_choice = model_choice
        self.operation: Operation | None = None
        self._explorer: list[Explorer] = []
        self.last_error: BaseException | None = None
        self.last_summary: dict[str, Any] | None = None
        self._started = 0.0
        self._settings_running: ExploreSettings | None = None

        self.app = QComboBox()
        self.app.addItems(service.explorable_apps())
        self.app.setCurrentText(text(settings, "explore/app", "galculator"))
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.seed.setToolTip("The same application and seed resume the same exploration.")
        self.episodes = QSpinBox()
        self.episodes.setRange(0, 1_000_000)
        self.episodes.setSpecialValueText("no limit")
        self.episodes.setValue(20)
        self.episodes.setToolTip("Walks in all; a resumed exploration counts its earlier walks.")
        self.hours = QDoubleSpinBox()
        self.hours.setRange(0.0, 240.0)
        self.hours.setDecimals(2)
        self.hours.setSpecialValueText("no limit")
        self.disk = QSpinBox()
        self.disk.setRange(0, 10_000_000)
        self.disk.setSuffix(" MB")
        self.disk.setSpecialValueText("no limit")
        self.parallel = QSpinBox()
        self.parallel.setRange(1, 16)
        self.attempts = QSpinBox()
        self.attempts.setRange(0, 20)
        self.attempts.setValue(2)
        self.attempts.setToolTip("Attempts at admitted tasks after each walk, picked by the curriculum.")
        self.random_actions = QSpinBox()
        self.random_actions.setRange(0, 200)
        self.random_actions.setValue(20)
        self.random_actions.setToolTip(
            "A candidate that passes after any of this many random single actions is trivial: dropped."
        )
        self.gui_near_misses = QCheckBox("also prove each task against altered demonstrations")
        self.gui_near_misses.setChecked(True)
        self.gui_near_misses.setToolTip("Stricter and slower admission: near misses run in the sandbox.")
        self.composed = QSpinBox()
        self.composed.setRange(0, 10)
        self.composed.setValue(PER_WALK)
        self.composed.setToolTip(
            "Goal-level tasks composed per walk (keypad arithmetic, file operations); 0: none."
        )
        self.templates = QSpinBox()
        self.templates.setRange(0, 10)
        self.templates.setValue(TEMPLATES_PER_WALK)
        self.templates.setToolTip(
            "Template tasks drawn per walk (forms, word replacement, folders, row formulas): admitted "
            "unproven, proven by the first attempt that passes; 0: none."
        )
        self.memory = QCheckBox("admit each judged attempt to the experience memory")
        self.memory.setChecked(True)
        self.train_every = QSpinBox()
        self.train_every.setRange(0, 100_000)
        self.train_every.setSpecialValueText("never")
        self.train_every.setSuffix(" verified episodes")
        self.train_every.setToolTip(
            "Run a learning round (train, then the paired gate) after every this many verified episodes."
        )
        self.policy = QComboBox()
        for name, label in POLICIES:
            self.policy.addItem(label, name)
        index = self.policy.findData(text(settings, "explore/policy", "bundled"))
        self.policy.setCurrentIndex(max(index, 0))

        form = QFormLayout()
        form.addRow("Application", self.app)
        form.addRow("Seed", self.seed)
        form.addRow("Walks", self.episodes)
        form.addRow("Hours", self.hours)
        form.addRow("Disk budget", self.disk)
        form.addRow("Parallel sandboxes", self.parallel)
        form.addRow("Attempts per walk", self.attempts)
        form.addRow("Attempting policy", self.policy)
        form.addRow("Trivial check", self.random_actions)
        form.addRow("Near misses", self.gui_near_misses)
        form.addRow("Composed goals per walk", self.composed)
        form.addRow("Templates per walk", self.templates)
        form.addRow("Memory", self.memory)
        form.addRow("Train every", self.train_every)

        self.start_button = QPushButton("Start / resume")
        self.stop_button = QPushButton("Stop")
        self.report_button = QPushButton("Open report")
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.report_button.clicked.connect(self.open_report)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.stop_button, self.report_button):
            buttons.addWidget(b)
        self.stop_button.setEnabled(False)

        self.status = QLabel("Pick an application and a budget, then start.")
        self.status.setWordWrap(True)
        self.figures = QLabel("")
        self.figures.setWordWrap(True)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)

        left = QVBoxLayout()
        left.addLayout(form)
        left.addLayout(buttons)
        left.addWidget(self.status)
        left.addWidget(self.figures)
        left.addWidget(QLabel("Walks"))
        left.addWidget(self.log, 1)
        left_box = QWidget()
        left_box.setLayout(left)

        self.plot = QLabel("no attempts yet")
        self.plot.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.plot.setMinimumHeight(240)
        self.memory_plot = QLabel("no attempt admitted to memory yet")
        self.memory_plot.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.plots = QTabWidget()
        self.plots.addTab(self.plot, "Success over time per task kind")
        self.plots.addTab(self.memory_plot, "Memory growth")
        self.tasks = QTableWidget(0, 4)
        self.tasks.setHorizontalHeaderLabels(["Task", "Kind", "Steps", "Instruction"])
        self.tasks.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.tasks.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tasks.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tasks.verticalHeader().setVisible(False)
        self.explorations = QTableWidget(0, 6)
        self.explorations.setHorizontalHeaderLabels(
            ["Exploration", "Status", "Walks", "Proven", "Kinds", "Attempts"]
        )
        self.explorations.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.explorations.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.explorations.verticalHeader().setVisible(False)
        self.rounds = QTableWidget(0, len(ROUND_COLUMNS))
        self.rounds.setHorizontalHeaderLabels(list(ROUND_COLUMNS))
        self.rounds.horizontalHeader().setSectionResizeMode(
            len(ROUND_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch
        )
        self.rounds.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.rounds.verticalHeader().setVisible(False)
        right = QVBoxLayout()
        right.addWidget(self.plots)
        right.addWidget(QLabel("Proven tasks (newest first)"))
        right.addWidget(self.tasks, 2)
        right.addWidget(QLabel("Learning rounds and their gate decisions (the Models tab has the models)"))
        right.addWidget(self.rounds, 1)
        right.addWidget(QLabel("Explorations in this data directory"))
        right.addWidget(self.explorations, 1)
        right_box = QWidget()
        right_box.setLayout(right)

        split = QSplitter()
        split.addWidget(left_box)
        split.addWidget(right_box)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self.app.currentTextChanged.connect(lambda _: self.refresh())

    # -- state ------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Return whether an exploration started here has not finished yet."""
        return self.operation is not None and not self.operation.delivered

    def explore_settings(self) -> ExploreSettings:
        """Return the exploration the fields describe; UsageError says what is wrong."""
        app = self.app.currentText().strip()
        if not app:
            raise UsageError("pick an application to explore")
        episodes = self.episodes.value() or None
        hours = self.hours.value() or None
        if episodes is None and hours is None:
            raise UsageError("set a budget: a number of walks or hours (both may be set)")
        return ExploreSettings(
            app,
            seed=self.seed.value(),
            episodes=episodes,
            hours=hours,
            parallel=self.parallel.value(),
            attempts=self.attempts.value(),
            random_actions=self.random_actions.value(),
            gui_near_misses=self.gui_near_misses.isChecked(),
            composed=self.composed.value(),
            templates=self.templates.value(),
            memory=self.memory.isChecked(),
            policy=str(self.policy.currentData()),
            disk_mb=float(self.disk.value()) or None,
            train_every=self.train_every.value() or None,
        )

    def save_settings(self) -> None:
        """Remember the application and policy for the next start of the app."""
        self.settings.setValue("explore/app", self.app.currentText())
        self.settings.setValue("explore/policy", str(self.policy.currentData()))

    # -- actions ---------------------------------------------------------------------------------
    def start(self) -> Operation | None:
        """Start (or resume) the exploration the fields describe; None, with the reason shown, if not."""
        if self.running:
            return None
        try:
            settings = self.explore_settings()
            choice = self._model_choice() if settings.policy == MODEL else None
            if choice is not None and choice.kind not in (policies.ENDPOINT, policies.CHECKPOINT):
                raise UsageError(
                    "the Run pane's policy is not a model: pick an endpoint or a checkpoint there first"
                )
        except UsageError as exc:
            self._say(str(exc), error=True)
            return None
        self.save_settings()
        self.last_error = None
        self.last_summary = None
        self._explorer = []
        self._started = time.monotonic()
        self._settings_running = settings
        self.log.clear()
        self._set_running(True)
        self._say(f"exploring {settings.app} ({settings.exploration_id}) …")

        def work(emit: Emit) -> dict[str, Any]:
            model = policies.build_policy(choice, self.service.data_dir) if choice is not None else None
            return self.service.explore(
                settings,
                progress=lambda result, summary: emit(Walked(result, summary)),
                explorer=self._explorer,
                model=model,
            )

        self.operation = run_in_background(
            work, name="explore", on_event=self._on_walk, on_done=self._on_done, on_error=self._on_error
        )
        return self.operation

    def stop(self) -> None:
        """Ask the exploration to stop after the walks in flight (they are kept)."""
        for explorer in self._explorer:
            explorer.stop()
        if self.running:
            self.stop_button.setEnabled(False)
            self._say("stopping: finishing the walk in flight …")

    def shutdown(self, timeout_s: float = 300.0) -> bool:
        """Stop an active exploration and wait (processing events) until it has ended."""
        from PySide6.QtCore import QCoreApplication

        operation = self.operation
        if operation is None or operation.delivered:
            return True
        self.stop()
        deadline = time.monotonic() + timeout_s
        while not operation.delivered and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            operation.wait(0.05)
        QCoreApplication.processEvents()
        return operation.delivered

    def open_report(self) -> Path | None:
        """Write the HTML report of the chosen application and open it in the browser."""
        dest = Path(tempfile.gettempdir()) / f"cua-explore-report-{self.app.currentText()}.html"
        try:
            written = self.service.explore_report(dest, app=self.app.currentText() or None)
        except UsageError as exc:
            self._say(str(exc), error=True)
            return None
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(written)))
        self._say(f"report written to {written}")
        return written

    def refresh(self) -> None:
        """Redraw the plot, the proven tasks and the explorations from the data directory."""
        app = self.app.currentText()
        _show_png(self.plot, self.service.explore_plot(app) if app else None, "no attempts yet")
        _show_png(
            self.memory_plot,
            self.service.memory_plot(app) if app else None,
            "no attempt admitted to memory yet",
        )
        tasks = list(reversed(self.service.explored_tasks(app)))[:SHOWN_TASKS]
        self.tasks.setRowCount(len(tasks))
        for row, task in enumerate(tasks):
            for col, value in enumerate((task.id, task.kind, str(task.chain), task.instruction)):
                self.tasks.setItem(row, col, QTableWidgetItem(value))
        rounds = list(reversed(self.service.learning_rounds(app or None)))
        self.rounds.setRowCount(len(rounds))
        for row, r in enumerate(rounds):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["at"]))
            for col, value in enumerate((when, *round_cells(r))):
                item = QTableWidgetItem(str(value))
                item.setToolTip(str(r.get("reason", "")))  # the gate's sentence, with its numbers
                self.rounds.setItem(row, col, item)
        found = self.service.explorations()
        self.explorations.setRowCount(len(found))
        for row, e in enumerate(found):
            s = e["summary"]
            cells = (
                e["id"],
                e["status"],
                str(s["walks"]),
                str(s["proven_tasks"]),
                str(s["task_kinds"]),
                f"{s['attempt_successes']}/{s['attempts']}",
            )
            for col, value in enumerate(cells):
                self.explorations.setItem(row, col, QTableWidgetItem(value))

    # -- events (GUI thread) ---------------------------------------------------------------------
    def _on_walk(self, event: Any) -> None:
        if not isinstance(event, Walked):
            return
        r, s = event.result, event.summary
        line = f"walk {r.number}: {r.moves} moves, {r.candidates} candidates, {len(r.admitted)} admitted"
        line += f" ({r.seconds:.1f} s)"
        if r.attempts:
            line += f"; attempts {sum(ok for _, ok in r.attempts)}/{len(r.attempts)} passed"
        if r.error:
            line += f"; {r.error}"
        self.log.appendPlainText(line)
        self._show_figures(s)
        self.refresh()

    def _show_figures(self, s: dict[str, Any]) -> None:
        settings = self._settings_running
        budget = []
        if settings is not None and settings.episodes is not None:
            budget.append(f"{s['walks']}/{settings.episodes} walks")
        if settings is not None and settings.hours is not None:
            budget.append(f"{(time.monotonic() - self._started) / 60:.1f}/{settings.hours * 60:.0f} min")
        rejected = ", ".join(f"{n} {why}" for why, n in sorted(s["rejected"].items(), key=lambda kv: -kv[1]))
        memory = (
            f"; memory {s['memory_items']} items ({s['memory_admitted']} attempts admitted, "
            "alike ones merged)"
            if s.get("memory_items") is not None
            else ""
        )
        if s.get("memory_failed"):
            memory += f"; {s['memory_failed']} attempts not admitted to memory (see the report)"
        rounds = (
            f"; learning rounds {s['rounds']} ({s['rounds_promoted']} promoted)" if s.get("rounds") else ""
        )
        self.figures.setText(
            f"{' · '.join(budget) or str(s['walks']) + ' walks'} — {s['candidates']} candidates, "
            f"{s['proven_tasks']} proven ({s['task_kinds']} kinds, {s['chains_3plus']} chains of 3+); "
            f"attempts {s['attempt_successes']}/{s['attempts']} passed"
            + memory
            + rounds
            + (f"; rejected: {rejected}" if rejected else "")
        )

    def _on_done(self, summary: Any) -> None:
        self.last_summary = summary
        self._set_running(False)
        status = summary.get("status", "finished")
        extra = f" ({summary['budget_spent']})" if summary.get("budget_spent") else ""
        if summary.get("error"):
            self._say(f"exploration {status}: {summary['error']}", error=True)
        else:
            self._say(f"exploration {status}{extra}: start again with the same seed to resume")
        self._show_figures(summary)
        self.refresh()
        self.explorationFinished.emit(summary)

    def _on_error(self, exc: BaseException) -> None:
        self.last_error = exc
        self._set_running(False)
        self._say(f"{type(exc).__name__}: {exc}", error=True)
        self.refresh()

    # -- helpers -----------------------------------------------------------------------------------
    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for w in (
            self.app, self.seed, self.policy, self.parallel, self.random_actions, self.gui_near_misses,
            self.composed, self.templates, self.memory, self.train_every,
        ):  # fmt: skip
            w.setEnabled(not running)

    def _say(self, message: str, *, error: bool = False) -> None:
        self.status.setStyleSheet("color: #b71c1c" if error else "")
        self.status.setText(message)


def _show_png(label: QLabel, png: bytes | None, empty: str) -> None:
    """Show the plot ``png`` in ``label``, or the sentence ``empty`` when there is none yet."""
    if png is None:
        label.setPixmap(QPixmap())
        label.setText(empty)
        return
    pixmap = QPixmap()
    pixmap.loadFromData(png, "PNG")
    label.setPixmap(pixmap)


__all__ = ["POLICIES", "ExplorePane", "Walked"]
