"""Control of a running episode from another thread: pause, resume, cancel, take-over, questions.

The loop consults it before every step; a GUI, a scheduler or the terminal holds it and calls it
from its own thread. Plain Python and thread-safe (one condition variable guards every field):

* ``pause()`` / ``resume()`` / ``cancel()``: before the next step.
* ``take_over()``: the agent stops before its next step and a person drives the sandbox. Each
  ``person_step(action)`` is queued here; the loop (which owns the sandbox and the record) runs it
  through ``Sandbox.step`` and records it with ``actor=person`` in the same run. ``hand_back()``
  lets the agent continue from the screen the person left.
* Questions: the agent's ``call_user`` and the safety guard's confirmations go through
  ``ask()``. With an ``answerer`` (the terminal's prompt) it is called directly; with
  ``interactive=True`` the question waits here until another thread calls ``answer()``
  (``pending_question()`` shows it, ``on_question`` announces it); otherwise (batch) there is
  nobody to ask and ``ask`` returns None at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from cua import actions as act
from cua.errors import CuaError

Answerer = Callable[[str, float], str | None]
"""Asks the person a question, waits at most the given seconds, returns the answer or None."""

QuestionKind = Literal["call_user", "safety"]


@dataclass
class Question:
    """A question of the agent waiting for a person's answer."""

    text: str
    kind: QuestionKind
    timeout_s: float
    asked_at: float = field(default_factory=time.monotonic)


class AgentControl:
    """Pause, resume, cancel, take over and answer an episode from other threads."""

    def __init__(self, *, interactive: bool = False, answerer: Answerer | None = None) -> None:
        """``interactive``: questions wait for ``answer()``; ``answerer``: questions go to it instead."""
        self._cond = threading.Condition()
        self._paused = False
        self._cancelled = False
        self._taken_over = False
        self._person: deque[act.Action] = deque()
        self._question: Question | None = None
        self._reply: str | None = None
        self._replied = False
        self.interactive = interactive
        self.answerer = answerer
        self.on_question: Callable[[Question], None] | None = None
        """Called (on the agent's thread) when a question starts waiting for ``answer()``."""

    # -- pause, resume, cancel ----------------------------------------------------------------
    def pause(self) -> None:
        """Stop before the next step until resumed."""
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        """Continue a paused episode."""
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def cancel(self) -> None:
        """End the episode before its next step (as ``cancelled``); an open question gets no answer."""
        with self._cond:
            self._cancelled = True
            self._paused = False
            self._cond.notify_all()

    @property
    def cancelled(self) -> bool:
        """Return whether cancel() was called."""
        return self._cancelled

    @property
    def paused(self) -> bool:
        """Return whether the episode is paused (a take-over pauses the agent too)."""
        return self._paused or self._taken_over

    def wait_while_paused(self) -> None:
        """Block while paused and not taken over (returns at once when running or cancelled)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._paused or self._cancelled or self._taken_over)

    # -- take-over ----------------------------------------------------------------------------
    def take_over(self) -> None:
        """Let a person drive the sandbox: the agent stops before its next step until hand_back()."""
        with self._cond:
            self._taken_over = True
            self._cond.notify_all()

    def hand_back(self) -> None:
        """End a take-over (after the queued person steps ran); the agent continues from the new screen."""
        with self._cond:
            self._taken_over = False
            self._paused = False
            self._cond.notify_all()

    @property
    def taken_over(self) -> bool:
        """Return whether a person drives the sandbox now."""
        return self._taken_over

    def person_step(self, action: act.Action) -> None:
        """Queue one action of the person; the loop runs and records it (``actor=person``)."""
        if isinstance(action, act.Done | act.Fail | act.CallUser):
            raise CuaError(f"a person's step acts on the screen; {type(action).__name__} does not")
        with self._cond:
            if not self._taken_over:
                raise CuaError("take_over() first: the agent is driving the sandbox")
            self._person.append(action)
            self._cond.notify_all()

    def next_person_step(self) -> act.Action | None:
        """Block until the person's next action (returned) or the end of the take-over (None).

        Called by the loop. Queued actions run even after ``hand_back()``; a cancel drops them.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._person or not self._taken_over or self._cancelled)
            if self._cancelled or not self._person:
                return None
            return self._person.popleft()

    # -- questions ----------------------------------------------------------------------------
    def ask(self, text: str, timeout_s: float, kind: QuestionKind = "call_user") -> str | None:
        """Ask the person (see the module docstring); return the answer, or None (none in time)."""
        if self.answerer is not None:
            return self.answerer(text, timeout_s)
        if not self.interactive:
            return None
        question = Question(text, kind, timeout_s)
        with self._cond:
            self._question, self._reply, self._replied = question, None, False
        try:
            if self.on_question is not None:
                self.on_question(question)
            with self._cond:
                self._cond.wait_for(lambda: self._replied or self._cancelled, timeout=timeout_s)
                return self._reply if self._replied else None
        finally:
            with self._cond:
                self._question = None

    def pending_question(self) -> Question | None:
        """Return the question waiting for an answer, or None."""
        with self._cond:
            return self._question

    def answer(self, text: str | None) -> None:
        """Answer the pending question (None: decline to answer); CuaError when none is pending."""
        with self._cond:
            if self._question is None:
                raise CuaError("no question is waiting for an answer")
            self._reply, self._replied = (text.strip() or None) if text else None, True
            self._cond.notify_all()
