"""The main window: the Run, Explore, Review and Models panes as tabs, settings, and a clean close."""

from __future__ import annotations

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QMessageBox, QTabWidget, QWidget

from cua.service import Service
from ui.explore_pane import ExplorePane
from ui.models_pane import ModelsPane
from ui.review_pane import ReviewPane
from ui.run_pane import RunPane


class MainWindow(QMainWindow):
    """Run, Explore, Review and Models; closing while work is active asks, then stops it."""

    def __init__(self, service: Service, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.settings = settings
        self.setWindowTitle("cua — computer-use agent")
        self.tabs = QTabWidget()
        self.run_pane = RunPane(service, settings)
        self.explore_pane = ExplorePane(service, settings, self.run_pane.choice)
        self.review_pane = ReviewPane(service)
        self.models_pane = ModelsPane(service)
        self.tabs.addTab(self.run_pane, "Run")
        self.tabs.addTab(self.explore_pane, "Explore")
        self.tabs.addTab(self.review_pane, "Review")
        self.tabs.addTab(self.models_pane, "Models")
        self.setCentralWidget(self.tabs)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.run_pane.runFinished.connect(lambda _: self._review_stale())
        self.explore_pane.explorationFinished.connect(lambda _: self._review_stale())
        self.models_pane.trainingFinished.connect(lambda _: self._review_stale())  # the gate's runs
        self._review_loaded = False
        self.confirm_close: bool | None = None
        """Pre-set answer to "stop the run and quit?" (None: ask with a dialog)."""
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1320, 860)
        self.statusBar().showMessage(
            "Run: start the agent on a task. Explore: let it invent and prove tasks. "
            "Review: what it recorded. Models: what it learned."
        )
        QTimer.singleShot(0, self.run_pane.load_tasks)

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.explore_pane and not self.explore_pane.running:
            self.explore_pane.refresh()
        if self.tabs.widget(index) is self.review_pane and not self._review_loaded:
            self._review_loaded = True
            self.review_pane.apply_filters()
        if self.tabs.widget(index) is self.models_pane:
            self.models_pane.refresh()

    def _review_stale(self) -> None:
        if self._review_loaded:
            self.review_pane.apply_filters()

    def show_review(self) -> ReviewPane:
        """Switch to the Review pane (loading its list the first time); return it."""
        self.tabs.setCurrentWidget(self.review_pane)
        self._tab_changed(self.tabs.currentIndex())
        return self.review_pane

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        """Ask before stopping active work; stop it (records finished, sandboxes closed), then close."""
        active = [
            what
            for what, busy in (
                ("a run", self.run_pane.running),
                ("an exploration", self.explore_pane.running),
                ("a learning round", self.models_pane.running),
            )
            if busy
        ]
        if active:
            answer = self.confirm_close
            if answer is None:
                reply = QMessageBox.question(
                    self,
                    "Work is active",
                    f"Stop {' and '.join(active)} and quit? A run is recorded as cancelled; an "
                    "exploration finishes its walk in flight and resumes from there next time. A "
                    "learning round cannot pause: it is abandoned and its candidate not registered.",
                )
                answer = reply == QMessageBox.StandardButton.Yes
            if not answer:
                event.ignore()
                return
            self.statusBar().showMessage(f"stopping {' and '.join(active)} …")
            self.run_pane.shutdown()
            self.explore_pane.shutdown()
        self.run_pane.save_settings()
        self.explore_pane.save_settings()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.sync()
        self.review_pane.close_store()
        event.accept()


__all__ = ["MainWindow"]
