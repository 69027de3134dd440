"""Control of a running episode from another thread: pause, resume, cancel.

The loop checks it before every step; a GUI or a scheduler holds it and calls it from its own
thread.
"""

from __future__ import annotations

import threading


class AgentControl:
    """Pause, resume and cancel an episode from another thread."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._cancelled = threading.Event()

    def pause(self) -> None:
        """Stop before the next step until resumed."""
        self._running.clear()

    def resume(self) -> None:
        """Continue a paused episode."""
        self._running.set()

    def cancel(self) -> None:
        """End the episode before its next step (as ``cancelled``)."""
        self._cancelled.set()
        self._running.set()

    @property
    def cancelled(self) -> bool:
        """Return whether cancel() was called."""
        return self._cancelled.is_set()

    @property
    def paused(self) -> bool:
        """Return whether the episode is paused."""
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        """Block while paused (returns at once when running or cancelled)."""
        self._running.wait()
