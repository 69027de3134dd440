"""``match``: a baseline that acts by matching the instruction's quoted values to the screen's names.

No model: each quoted value of the instruction ('Bold', '15', 'notes.txt'), in order, is
carried out by string matching against the accessibility tree, as a person new to the
application might:

1. a control named exactly that value is clicked (a button, a menu entry, a file; a text field
   so named is clicked to focus it, and the next value is typed there);
2. otherwise, when every character of the value names a button, those buttons are clicked in
   turn (a calculator's keypad spelling out a number);
3. otherwise the value is typed into an editable field (the focused one, else the first),
   after a click on it and select-all.

When every value is used up it declares the task done. It is the documented floor that
exploration attempts start from until a trained policy exists; it cannot read an instruction
without quoted values and says so in its answer text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from cua import actions as act
from cua.policy import PolicyInput, PolicyOutput
from cua.synth.walk import ACTIONABLE
from cua.tasks.targets import a11y_tree
from sandbox.base import A11yNode, Sandbox

#: Roles clicked to choose a value: the walk's actionable roles, less the combo box (a container).
CLICKABLE = ACTIONABLE - {"combo box"}
EDITABLE = frozenset({"text", "entry", "spin button"})
_QUOTED = re.compile(r"'([^']+)'")


def quoted_values(instruction: str) -> list[str]:
    """Return the instruction's quoted values, in order."""
    return _QUOTED.findall(instruction)


class MatchPolicy:
    """Clicks controls named after the instruction's quoted values, spells them out, or types them."""

    name = "match"
    format_name = "pyautogui"

    def __init__(self, sandbox: Sandbox) -> None:
        """Read the screen of ``sandbox`` (already set up for the task) at each step."""
        self.sandbox = sandbox
        self._plan: list[act.Action] = []
        self._values: list[str] | None = None

    def act(self, inp: PolicyInput) -> PolicyOutput:
        """Return the next action of the current value's plan, or done."""
        if self._values is None:
            self._values = quoted_values(inp.instruction)
            if not self._values:
                return PolicyOutput(text="no quoted value to match in the instruction", actions=[act.Done()])
        while not self._plan and self._values:
            value = self._values.pop(0)
            self._plan = plan(value, a11y_tree(self.sandbox))
        if not self._plan:
            return PolicyOutput(text="every quoted value matched", actions=[act.Done()])
        action = self._plan.pop(0)
        return PolicyOutput(text=f"match: {action}", actions=[action])

    def provenance(self) -> dict[str, Any]:
        """Name the baseline."""
        return {"backend": "baseline", "model": "match"}


def plan(value: str, nodes: Sequence[A11yNode]) -> list[act.Action]:
    """Return the actions that put ``value`` on the screen of ``nodes`` (empty: nothing matches)."""
    clickable = [n for n in nodes if n.role in CLICKABLE and n.name]
    exact = [n for n in clickable if n.name.strip() == value]
    if exact:
        return [act.Click(*exact[0].center())]
    named = [n for n in nodes if n.role in EDITABLE and "editable" in n.states and n.name.strip() == value]
    if named:  # "in the 'City' field type ...": focus the field; the next value is typed there
        return [act.Click(*named[0].center())]
    by_name = {n.name.strip(): n for n in clickable if len(n.name.strip()) == 1}
    if len(value) > 1 and all(ch in by_name for ch in value):
        return [act.Click(*by_name[ch].center()) for ch in value]
    fields = [n for n in nodes if n.role in EDITABLE and "editable" in n.states]
    if fields:
        field = next((n for n in fields if "focused" in n.states), fields[0])
        return [act.Click(*field.center()), act.Hotkey(("ctrl", "a")), act.TypeText(value)]
    return []
