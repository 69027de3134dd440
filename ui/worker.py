"""The one way the app runs long work off the GUI thread: :func:`run_in_background`.

A worker is a plain function called on a thread of its own with an ``emit`` callable; what it
emits, returns or raises reaches the GUI thread as a queued Qt signal of an :class:`Operation`
(a QObject living on the GUI thread), whose callbacks may touch widgets. Workers never touch
widgets themselves: they only call the core (``Service``, ``AgentControl``, a sandbox) and emit
plain-Python values. The pattern is that of Anki's ``aqt.operations`` and napari's
``thread_worker``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

Emit = Callable[[object], None]
Work = Callable[[Emit], Any]

_live: set[Operation] = set()
"""Running operations, kept alive until their last signal is delivered."""


class Operation(QObject):
    """One piece of background work and the GUI-thread callbacks that see its events and result."""

    _event = Signal(object)
    _done = Signal(object)
    _failed = Signal(object)

    def __init__(
        self,
        work: Work,
        *,
        name: str,
        on_event: Callable[[Any], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self._work = work
        self._on_event = on_event
        self._on_done = on_done
        self._on_error = on_error
        self._thread = threading.Thread(target=self._main, name=f"ui-{name}", daemon=True)
        self._finished = threading.Event()
        self.delivered = False
        """True once the result (or error) callback has run on the GUI thread."""
        queued = Qt.ConnectionType.QueuedConnection
        self._event.connect(self._deliver_event, queued)
        self._done.connect(self._deliver_done, queued)
        self._failed.connect(self._deliver_error, queued)

    def start(self) -> Operation:
        """Start the work on its own thread; return self."""
        _live.add(self)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """Return whether the work function has not returned yet."""
        return not self._finished.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Block until the work function returned (True) or ``timeout_s`` passed (False)."""
        return self._finished.wait(timeout_s)

    def _main(self) -> None:
        try:
            result = self._work(self._event.emit)
        except BaseException as exc:  # handed to the GUI thread, which reports it
            self._finished.set()
            self._failed.emit(exc)
        else:
            self._finished.set()
            self._done.emit(result)

    @Slot(object)
    def _deliver_event(self, event: object) -> None:
        if self._on_event is not None:
            self._on_event(event)

    @Slot(object)
    def _deliver_done(self, result: object) -> None:
        self.delivered = True
        _live.discard(self)
        if self._on_done is not None:
            self._on_done(result)

    @Slot(object)
    def _deliver_error(self, exc: BaseException) -> None:
        self.delivered = True
        _live.discard(self)
        if self._on_error is not None:
            self._on_error(exc)


def run_in_background(
    work: Work,
    *,
    name: str,
    on_event: Callable[[Any], None] | None = None,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
) -> Operation:
    """Run ``work(emit)`` on a new thread; the callbacks run on the GUI thread. Return the operation.

    ``on_event`` sees each value ``work`` emits, in order; then ``on_done`` its return value, or
    ``on_error`` what it raised. Call from the GUI thread.
    """
    return Operation(work, name=name, on_event=on_event, on_done=on_done, on_error=on_error).start()


def running_operations() -> list[Operation]:
    """Return the operations whose result has not been delivered yet (for a clean shutdown)."""
    return [op for op in _live if not op.delivered]


__all__ = ["Emit", "Operation", "Work", "run_in_background", "running_operations"]
