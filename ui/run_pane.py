"""The Run pane: instruction, application or task, policy; the live screen; pause, stop, take over.

A run is one background operation (:mod:`ui.worker`) that builds the policy and iterates
``Service.run_events``; a second one polls the run's sandbox for frames while it lives. The
pane holds the run's :class:`~cua.agent.control.AgentControl` and calls it from the GUI thread;
the agent's questions (``call_user``, safety-guard confirmations) arrive as a queued signal and
are answered with a dialog.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cua import actions as act
from cua.agent import AgentControl, Question, StepEvent
from cua.agent.safety import SafetyGuard
from cua.episode import EpisodeOutcome, Phase
from cua.errors import CuaError
from cua.formats import FORMATS
from cua.service import Notice, RunRequest, Service
from cua.store import Actor
from sandbox.base import Sandbox
from sandbox.errors import SandboxClosed, SandboxError
from ui import policies
from ui.screen_view import ScreenView, marks_of, pil_to_qimage
from ui.settings import text
from ui.worker import Emit, Operation, run_in_background

FREE = "(free instruction)"
LIVE_INTERVAL_S = 0.08
"""Pause between two frame requests of the live view (about 12 frames a second at most)."""


@dataclass
class SandboxStarted:
    """The run's sandbox exists (emitted by the run's worker; the pane starts the live view)."""

    sandbox: Sandbox


@dataclass
class PolicyReady:
    """The policy is built (its name, for the status line)."""

    name: str


@dataclass
class _Live:
    """One active run: its control, its operations and what it has shown so far."""

    control: AgentControl
    operation: Operation | None = None
    frames: Operation | None = None
    stop_frames: threading.Event = field(default_factory=threading.Event)
    sandbox: Sandbox | None = None
    started: float = field(default_factory=time.monotonic)
    outcome: EpisodeOutcome | None = None


def poll_frames(sandbox: Sandbox, stop: threading.Event, emit: Emit) -> int:
    """Emit a QImage of the sandbox screen each time it changes, until ``stop`` or the sandbox closes.

    Runs on a worker thread; return how many frames it emitted.
    """
    last: object = None
    count = 0
    while not stop.is_set() and not sandbox.closed:
        t0 = time.monotonic()
        try:
            obs = sandbox.observe()
        except SandboxClosed:
            break
        except SandboxError:  # not reset yet, or between two resets: try again shortly
            stop.wait(0.1)
            continue
        if obs.screenshot is not last:  # an unchanged screen comes back as the same image object
            last = obs.screenshot
            emit(pil_to_qimage(obs.screenshot))
            count += 1
        stop.wait(max(0.0, LIVE_INTERVAL_S - (time.monotonic() - t0)))
    return count


def describe_action(action: act.Action) -> str:
    """Return an action in a few words for the step list."""
    return act.describe(action)


def _path_field(placeholder: str, browse: Callable[[], None]) -> tuple[QWidget, QLineEdit]:
    """Return a row of a path field and its Browse… button (which calls ``browse``), and the field."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    field = QLineEdit(placeholderText=placeholder)
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    layout.addWidget(field)
    layout.addWidget(button)
    return row, field


class RunPane(QWidget):
    """Start a run and follow it live; pause, resume, stop, take over, hand back, answer questions."""

    questionAsked = Signal(object)  # noqa: N815 (emitted on the agent's thread, delivered queued)
    runFinished = Signal(object)  # noqa: N815 (the EpisodeOutcome, or the exception)

    def __init__(self, service: Service, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.settings = settings
        self.live: _Live | None = None
        self.last_outcome: EpisodeOutcome | None = None
        self.last_error: BaseException | None = None
        self.auto_answer: str | None = None
        """When set, questions are answered with it instead of a dialog (scripted use)."""
        self.confirm_real_screen: bool | None = None
        """Pre-set answer to "act on the real screen for this run?" (None: ask with a dialog)."""
        self.questionAsked.connect(self._on_question, Qt.ConnectionType.QueuedConnection)
        self._build()
        self._load_settings()
        self._set_running(False)

    # -- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        form = QFormLayout()
        self.instruction = QLineEdit(placeholderText="e.g. type hello world and save it as notes.txt")
        form.addRow("Instruction", self.instruction)
        self.app = QComboBox()
        from sandbox import list_profiles

        self.app.addItems(sorted(list_profiles()))
        form.addRow("Application", self.app)
        self.task = QComboBox(editable=True)
        self.task.addItem(FREE)
        self.task.setToolTip(
            "A built-in task id (its setup, instruction and validator), or a free instruction"
        )
        form.addRow("Task", self.task)
        self.max_steps = QSpinBox(minimum=1, maximum=200, value=15)
        form.addRow("Step budget", self.max_steps)
        self.real_screen = QCheckBox("Act on this computer's own screen (no sandbox, no undo)")
        self.real_screen.setToolTip(
            "The agent moves your mouse and types on this display; asked again before every run, "
            "and the safety guard asks before anything destructive."
        )
        form.addRow("Where", self.real_screen)

        policy_box = QGroupBox("Policy")
        pform = QFormLayout(policy_box)
        self.policy_kind = QComboBox()
        for kind, label in policies.CHOICES:
            self.policy_kind.addItem(label, kind)
        pform.addRow("Who acts", self.policy_kind)
        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        pform.addRow("Output format", self.format)
        self.policy_fields = QStackedWidget()
        # endpoint
        ep = QWidget()
        ef = QFormLayout(ep)
        ef.setContentsMargins(0, 0, 0, 0)
        self.endpoint = QLineEdit(placeholderText="http://127.0.0.1:8000/v1")
        self.model_name = QLineEdit(placeholderText="the model id the server serves")
        self.api_key_env = QLineEdit(placeholderText="environment variable holding the key (optional)")
        self.check_button = QPushButton("Check connection")
        self.check_result = QLabel("")
        self.check_result.setWordWrap(True)
        ef.addRow("URL", self.endpoint)
        ef.addRow("Model name", self.model_name)
        ef.addRow("API key variable", self.api_key_env)
        ef.addRow(self.check_button, self.check_result)
        cp, self.checkpoint = _path_field("a folder with config.json", self._browse_checkpoint)
        sp, self.script = _path_field("a JSON list of model replies or action objects", self._browse_script)
        # baselines
        base = QWidget()
        bl = QFormLayout(base)
        bl.setContentsMargins(0, 0, 0, 0)
        self.seed = QSpinBox(minimum=0, maximum=1_000_000)
        bl.addRow("Seed (random)", self.seed)
        bundled = QLabel(
            "A small network over the screen's controls, trained only on tasks the agent invented "
            "and proved itself (Models tab: which checkpoint is in use)."
        )
        bundled.setWordWrap(True)
        for page in (ep, cp, sp, base, bundled):
            self.policy_fields.addWidget(page)
        pform.addRow(self.policy_fields)
        self.policy_kind.currentIndexChanged.connect(self._kind_changed)
        self.check_button.clicked.connect(self.check_connection)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.takeover_button = QPushButton("Take over")
        for b in (self.start_button, self.pause_button, self.stop_button, self.takeover_button):
            buttons.addWidget(b)
        self.start_button.clicked.connect(self.start_run)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop_run)
        self.takeover_button.clicked.connect(self.toggle_takeover)
        self.status = QLabel("Ready.")
        self.status.setWordWrap(True)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.addLayout(form)
        ll.addWidget(policy_box)
        ll.addLayout(buttons)
        ll.addWidget(self.status)
        ll.addWidget(QLabel("Thought"))
        self.thought = QPlainTextEdit(readOnly=True)
        self.thought.setMaximumHeight(110)
        ll.addWidget(self.thought)
        self.steps = QTableWidget(0, 4)
        self.steps.setHorizontalHeaderLabels(["#", "Who", "Action", "Timings (ms)"])
        self.steps.verticalHeader().setVisible(False)
        self.steps.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.steps.horizontalHeader()
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.steps.setColumnWidth(0, 32)
        self.steps.setColumnWidth(1, 56)
        self.steps.setColumnWidth(3, 150)
        ll.addWidget(self.steps, 1)

        self.view = ScreenView()
        self.view.set_placeholder("The sandbox screen appears here when a run starts.")
        self.view.personAction.connect(self._person_action)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.view)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([420, 860])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

    def _kind_changed(self) -> None:
        kind = self.policy_kind.currentData()
        page = {policies.ENDPOINT: 0, policies.CHECKPOINT: 1, policies.SCRIPT: 2, policies.BUNDLED: 4}.get(
            kind, 3
        )
        self.policy_fields.setCurrentIndex(page)

    def _browse_checkpoint(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Checkpoint directory", self.checkpoint.text())
        if path:
            self.checkpoint.setText(path)

    def _browse_script(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Script file", self.script.text(), "JSON (*.json)")
        if path:
            self.script.setText(path)

    # -- settings -----------------------------------------------------------------------------
    _FIELDS = ("instruction", "endpoint", "model_name", "api_key_env", "checkpoint", "script")

    def _load_settings(self) -> None:
        s = self.settings
        for name in self._FIELDS:
            getattr(self, name).setText(text(s, f"run/{name}"))
        for combo, key in ((self.app, "run/app"), (self.format, "run/format")):
            i = combo.findText(text(s, key))
            if i >= 0:
                combo.setCurrentIndex(i)
        i = self.policy_kind.findData(text(s, "run/policy", policies.ENDPOINT))
        self.policy_kind.setCurrentIndex(max(i, 0))
        self._kind_changed()

    def save_settings(self) -> None:
        """Remember the fields for the next start (never a key itself: only its variable's name)."""
        s = self.settings
        for name in self._FIELDS:
            s.setValue(f"run/{name}", getattr(self, name).text())
        s.setValue("run/app", self.app.currentText())
        s.setValue("run/format", self.format.currentText())
        s.setValue("run/policy", self.policy_kind.currentData())

    def load_tasks(self) -> None:
        """Fill the task list with the built-in task ids, off the GUI thread."""

        def work(emit: Emit) -> list[str]:
            from cua.tasks import builtin_tasks

            return sorted(t.id for t in builtin_tasks())

        def fill(ids: list[str]) -> None:
            current = self.task.currentText()
            self.task.addItems(ids)
            self.task.setCurrentText(current)

        run_in_background(work, name="tasks", on_done=fill, on_error=lambda exc: None)

    # -- policy -------------------------------------------------------------------------------
    def choice(self) -> policies.PolicyChoice:
        """Return the policy fields as they stand."""
        return policies.PolicyChoice(
            kind=str(self.policy_kind.currentData()),
            endpoint=self.endpoint.text(),
            model_name=self.model_name.text(),
            api_key_env=self.api_key_env.text(),
            checkpoint=self.checkpoint.text(),
            script=self.script.text(),
            format_name=self.format.currentText(),
            seed=self.seed.value(),
        )

    def check_connection(self) -> Operation:
        """Check the endpoint off the GUI thread; the result line says what is wrong, if anything."""
        self.check_button.setEnabled(False)
        self.check_result.setText("checking …")
        choice = self.choice()

        def done(message: str) -> None:
            self.check_button.setEnabled(True)
            self.check_result.setStyleSheet("color: #1b5e20")
            self.check_result.setText(message)

        def failed(exc: BaseException) -> None:
            self.check_button.setEnabled(True)
            self.check_result.setStyleSheet("color: #b71c1c")
            self.check_result.setText(str(exc))

        return run_in_background(
            lambda emit: policies.check_endpoint(choice), name="check", on_done=done, on_error=failed
        )

    # -- running ------------------------------------------------------------------------------
    def request(self) -> RunRequest:
        """Return the run the fields describe (without its policy); UsageError says what is wrong."""
        task = self.task.currentText().strip()
        instruction = self.instruction.text().strip()
        real = self.real_screen.isChecked()
        if task and task != FREE:
            return RunRequest(task=task, max_steps=self.max_steps.value(), real_screen=real)
        return RunRequest(
            instruction=instruction or None,
            app=self.app.currentText(),
            max_steps=self.max_steps.value(),
            real_screen=real,
        )

    def _consent_to_real_screen(self, app: str) -> bool:
        """Ask the person, for this run only, to let the agent act on their own display."""
        answer = self.confirm_real_screen
        if answer is None:
            display = os.environ.get("DISPLAY", "this display")
            reply = QMessageBox.warning(
                self,
                "Act on your real screen?",
                f"The agent will start {app} and move the mouse and type on {display}, outside any "
                "sandbox: what it does cannot be undone. The safety guard asks before destructive "
                "actions; Stop or Take over end its control at any step.\n\nAllow it for this run?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            answer = reply == QMessageBox.StandardButton.Yes
        return answer

    @property
    def running(self) -> bool:
        """Return whether a run is active."""
        return self.live is not None

    def start_run(self) -> Operation | None:
        """Check the fields, then run in the background; None (and the reason shown) when they are wrong."""
        if self.live is not None:
            return None
        try:
            request = self.request()
            if request.task is None and request.instruction is None:
                raise CuaError("type an instruction for the agent, or pick a built-in task")
            task, _, app, _ = self.service.check(request)
            problem = self.choice().problem()
            if problem is not None:
                raise CuaError(problem)
        except CuaError as exc:
            self._say(f"Cannot start: {exc}", error=True)
            return None
        request = replace(request, task=task) if task is not None else request
        if request.real_screen:
            if not self._consent_to_real_screen(app):
                self._say("Not started: acting on the real screen was not confirmed.")
                return None
            request = replace(request, guard=SafetyGuard(real_screen=True))
        self.save_settings()
        control = AgentControl(interactive=True)
        control.on_question = self.questionAsked.emit
        live = _Live(control)
        self.live = live
        self.steps.setRowCount(0)
        self.thought.clear()
        self.view.set_image(None, [])
        self.view.set_placeholder("starting the sandbox …")
        self._set_running(True)
        self._say(f"Starting {app} …")
        choice = self.choice()
        service = self.service

        def work(emit: Emit) -> EpisodeOutcome:
            policy = policies.build_policy(choice, service.data_dir)
            emit(PolicyReady(getattr(policy, "name", type(policy).__name__)))
            base = service.sandbox_factory

            def factory(app_name: str) -> Sandbox:
                if request.real_screen:
                    from sandbox.host import HostScreen

                    sb: Sandbox = HostScreen(consent=True)  # the person confirmed it for this run
                elif base is not None:
                    sb = base(app_name)
                else:
                    from sandbox import XvfbSandbox, find_profile

                    sb = XvfbSandbox(find_profile(app_name).screen)
                emit(SandboxStarted(sb))
                return sb

            runner = Service(service.data_dir, sandbox_factory=factory)
            events = runner.run_events(replace(request, policy=policy), control=control)
            from cua.agent import drive

            return drive(events, emit)

        live.operation = run_in_background(
            work, name="run", on_event=self._on_event, on_done=self._on_done, on_error=self._on_error
        )
        return live.operation

    def _on_event(self, event: Any) -> None:
        live = self.live
        if live is None:
            return
        if isinstance(event, SandboxStarted):
            live.sandbox = event.sandbox
            sb, stop = event.sandbox, live.stop_frames
            live.frames = run_in_background(
                lambda emit: poll_frames(sb, stop, emit),
                name="frames",
                on_event=self._on_frame,
                on_error=lambda exc: None,
            )
        elif isinstance(event, PolicyReady):
            self._say(f"Policy {event.name} ready; starting the sandbox …")
        elif isinstance(event, Notice):
            self._say(event.text)
        elif isinstance(event, Phase):
            self._say(f"{event.name}: {event.detail}" if event.detail else f"{event.name} …")
        elif isinstance(event, StepEvent):
            self._add_step(event)

    def _on_frame(self, image: QImage) -> None:
        if self.live is not None:
            self.view.set_image(image)

    def _add_step(self, event: StepEvent) -> None:
        row = self.steps.rowCount()
        self.steps.insertRow(row)
        who = "person" if event.actor is Actor.PERSON else "agent"
        what = "; ".join(describe_action(a) for a in event.actions) or (event.parse_error or "(nothing)")
        numbers = {k: v for k, v in event.timings.items() if isinstance(v, int | float)}
        shown = [k for k in ("step", "policy", "sandbox_total") if k in numbers] or list(numbers)[:3]
        timings = " · ".join(f"{k.removeprefix('sandbox_')} {numbers[k]:.0f}" for k in shown)
        number = "" if event.actor is Actor.PERSON else str(event.index + 1)
        every = ", ".join(f"{k} {v:.0f} ms" for k, v in numbers.items())
        for col, value in enumerate((number, who, what, timings)):
            item = QTableWidgetItem(value)
            item.setToolTip(every if col == 3 else value)
            self.steps.setItem(row, col, item)
        self.steps.scrollToBottom()
        if event.actor is Actor.AGENT:
            self.thought.setPlainText(event.thought)
        if self.view.image is None:
            self.view.set_image(pil_to_qimage(event.observation.screenshot))
        marks = marks_of(event.actions)
        if marks:  # the latest pointing action stays drawn until the next one
            self.view.set_marks([replace(m, label=f"step {number or 'person'}: {m.label}") for m in marks])

    def _finish(self) -> None:
        live = self.live
        if live is None:
            return
        live.stop_frames.set()
        self.live = None
        self.view.set_takeover(False)
        self._set_running(False)

    def _on_done(self, outcome: EpisodeOutcome) -> None:
        self.last_outcome, self.last_error = outcome, None
        self._finish()
        verdict = ""
        if outcome.verdict is not None:
            verdict = f"; validator: {'PASS' if outcome.verdict.passed else 'FAIL'}"
        elif outcome.critic is not None:
            word = {True: "success", False: "failure", None: "unknown"}[outcome.critic.success]
            verdict = f"; critic: {word} ({outcome.critic.source.value})"
        self._say(
            f"Finished: {outcome.status.value} after {outcome.steps} steps: {outcome.summary}{verdict}"
            f" (run {outcome.run_id})"
        )
        self.runFinished.emit(outcome)

    def _on_error(self, exc: BaseException) -> None:
        self.last_outcome, self.last_error = None, exc
        self._finish()
        self._say(f"The run failed: {exc}", error=True)
        self.runFinished.emit(exc)

    # -- control ------------------------------------------------------------------------------
    def toggle_pause(self) -> None:
        """Pause before the next step, or resume."""
        if self.live is None:
            return
        control = self.live.control
        if control.paused and not control.taken_over:
            control.resume()
            self.pause_button.setText("Pause")
            self._say("Resumed.")
        else:
            control.pause()
            self.pause_button.setText("Resume")
            self._say("Paused: the agent stops before its next step.")

    def stop_run(self) -> None:
        """Cancel the run before its next step (recorded as cancelled)."""
        if self.live is None:
            return
        self.live.control.cancel()
        self.stop_button.setEnabled(False)
        self._say("Stopping …")

    def toggle_takeover(self) -> None:
        """Take over the sandbox (your input in the view goes to it), or hand it back to the agent."""
        if self.live is None:
            return
        control = self.live.control
        if control.taken_over:
            control.hand_back()
            self.view.set_takeover(False)
            self.takeover_button.setText("Take over")
            self.pause_button.setText("Pause")
            self._say("Handed back: the agent continues from this screen.")
        else:
            control.take_over()
            self.view.set_takeover(True)
            self.takeover_button.setText("Hand back")
            self._say("You have the sandbox: click and type in the view (recorded as person steps).")

    def _person_action(self, action: act.Action) -> None:
        if self.live is None or not self.live.control.taken_over:
            return
        try:
            self.live.control.person_step(action)
        except CuaError as exc:
            self._say(str(exc), error=True)

    @Slot(object)
    def _on_question(self, question: Question) -> None:
        live = self.live
        if live is None or live.control.pending_question() is None:
            return
        if self.auto_answer is not None:
            answer: str | None = self.auto_answer
        elif question.kind == "safety":
            box = QMessageBox(
                QMessageBox.Icon.Warning, "The safety guard stopped an action", question.text, parent=self
            )
            box.setInformativeText(f"Answer within {question.timeout_s:.0f} s, or the run stops.")
            allow = box.addButton("Allow", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("Deny", QMessageBox.ButtonRole.RejectRole)
            box.setObjectName("safetyDialog")
            QTimer.singleShot(int(question.timeout_s * 1000), box, box.reject)  # the agent stops waiting
            box.exec()
            answer = "yes" if box.clickedButton() is allow else "no"
        else:
            reply, ok = QInputDialog.getText(self, "The agent asks", question.text)
            answer = reply if ok else None
        if self.live is live and live.control.pending_question() is not None:
            live.control.answer(answer)

    # -- shutdown -----------------------------------------------------------------------------
    def shutdown(self, timeout_s: float = 60.0) -> bool:
        """Cancel an active run and wait (processing events) until its record and sandbox are closed."""
        from PySide6.QtCore import QCoreApplication

        live = self.live
        if live is None:
            return True
        live.control.cancel()
        live.stop_frames.set()
        deadline = time.monotonic() + timeout_s
        while self.live is live and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            if live.operation is not None:
                live.operation.wait(0.05)
        QCoreApplication.processEvents()
        if live.frames is not None:
            live.frames.wait(5.0)
        return self.live is not live

    # -- helpers ------------------------------------------------------------------------------
    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        for b in (self.pause_button, self.stop_button, self.takeover_button):
            b.setEnabled(running)
        self.pause_button.setText("Pause")
        self.takeover_button.setText("Take over")

    def _say(self, message: str, *, error: bool = False) -> None:
        self.status.setStyleSheet("color: #b71c1c" if error else "")
        self.status.setText(message)


__all__ = ["FREE", "PolicyReady", "RunPane", "SandboxStarted", "poll_frames"]
