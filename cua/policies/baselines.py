"""Baseline policies that need no model: ``noop`` (does nothing) and ``random`` (random input).

They bound what an evaluation means: a validator that a noop episode passes is broken, and a
model should beat random clicks and keys. Both are deterministic given their seed.
"""

from __future__ import annotations

import random
from typing import Any

from cua import actions as act
from cua.policy import PolicyInput, PolicyOutput

RANDOM_KEYS = ("enter", "tab", "escape", "backspace", "up", "down", "left", "right", "space", "a", "1")
RANDOM_WORDS = ("hello", "42", "total", "x", "report", "3.5", "yes")


class NoopPolicy:
    """Declares the task done at once, without touching anything."""

    name = "noop"
    format_name = "pyautogui"

    def act(self, inp: PolicyInput) -> PolicyOutput:
        """Answer done."""
        return PolicyOutput(text="done without acting", actions=[act.Done()])

    def provenance(self) -> dict[str, Any]:
        """Name the baseline."""
        return {"backend": "baseline", "model": "noop"}


class RandomPolicy:
    """Random clicks, keys, words and scrolls inside the screen, until the step budget ends."""

    name = "random"
    format_name = "pyautogui"

    def __init__(self, seed: int = 0) -> None:
        """Seed the choices so that an episode can be replayed exactly."""
        self.seed = seed
        self._rng = random.Random(seed)

    def act(self, inp: PolicyInput) -> PolicyOutput:
        """Pick one random action inside the screen."""
        w, h = inp.screen_size
        rng = self._rng
        kind = rng.choice(("click", "click", "click", "key", "type", "scroll"))
        x, y = rng.randrange(w), rng.randrange(h)
        action: act.Action
        if kind == "click":
            action = act.Click(x, y, count=rng.choice((1, 1, 1, 2)))
        elif kind == "key":
            action = act.Key(rng.choice(RANDOM_KEYS))
        elif kind == "type":
            action = act.TypeText(rng.choice(RANDOM_WORDS))
        else:
            action = act.Scroll(x, y, rng.choice(("up", "down")), rng.randint(1, 5))
        return PolicyOutput(text=f"random {kind}", actions=[action])

    def provenance(self) -> dict[str, Any]:
        """Name the baseline and its seed."""
        return {"backend": "baseline", "model": "random", "seed": self.seed}
