"""ScriptedPolicy: a test double, shipped in the package, that replays a fixed list of outputs.

Tests of the agent loop, the recorder, the critic and the UI need a policy whose every step is
known in advance. Each scripted entry is either raw model text (parsed by ``format_name``'s
parser, like a real model's reply) or typed ``cua.actions`` actions (used as they are, the text
being their rendering in the format, for the trajectory record). After the last entry the
policy repeats it (``then="repeat"``) or answers ``Done()`` (``then="done"``, the default).
Every input it was given is kept in ``inputs``, for assertions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal

from cua.actions import ACTION_CLASSES, Action, Done, to_json
from cua.errors import PolicyError
from cua.formats import RenderError
from cua.models.messages import resolve_format
from cua.policy import PolicyInput, PolicyOutput

#: One scripted step: raw model text, one typed action, or several typed actions.
ScriptEntry = str | Action | Sequence[Action]


def _as_actions(entry: ScriptEntry) -> list[Action] | None:
    """Return the entry's typed actions, or None for raw text; PolicyError for anything else."""
    if isinstance(entry, str):
        return None
    if isinstance(entry, ACTION_CLASSES):
        return [entry]
    if isinstance(entry, Sequence) and entry and all(isinstance(a, ACTION_CLASSES) for a in entry):
        return [a for a in entry if isinstance(a, ACTION_CLASSES)]
    raise PolicyError(
        f"a scripted output must be text, an action or a non-empty list of actions, got {entry!r}"
    )


class ScriptedPolicy:
    """Replays ``outputs`` in order, one per ``act``; then repeats the last or answers Done.

    A test double (see the module docstring); ``reset()`` starts the script again.
    """

    def __init__(
        self,
        outputs: Sequence[ScriptEntry],
        *,
        format_name: str = "ui-tars-1.5",
        then: Literal["repeat", "done"] = "done",
        name: str = "scripted",
    ) -> None:
        if then not in ("repeat", "done"):
            raise PolicyError(f"then must be 'repeat' or 'done', got {then!r}")
        if not outputs and then == "repeat":
            raise PolicyError("a ScriptedPolicy with then='repeat' needs at least one output")
        try:
            self._format = resolve_format(format_name)
        except ValueError as exc:
            raise PolicyError(str(exc)) from None
        self._entries = [(entry, _as_actions(entry)) for entry in outputs]
        self.format_name = self._format.name
        self.then = then
        self.name = name
        self.inputs: list[PolicyInput] = []
        self._next = 0

    def reset(self) -> None:
        """Start the script from its first output again and forget the inputs seen."""
        self._next = 0
        self.inputs.clear()

    def act(self, inp: PolicyInput) -> PolicyOutput:
        """Return the next scripted output (see the class docstring for what follows the last)."""
        self.inputs.append(inp)
        index = self._next
        self._next += 1
        if index >= len(self._entries):
            if self.then == "done":
                return self._typed([Done()], inp, index)
            index = len(self._entries) - 1
        entry, actions = self._entries[index]
        if actions is None:
            assert isinstance(entry, str)
            return PolicyOutput(text=entry, usage={"script_index": index})
        return self._typed(actions, inp, index)

    def _typed(self, actions: list[Action], inp: PolicyInput, index: int) -> PolicyOutput:
        try:
            text = self._format.render(actions, inp.screen_size, inp.screenshot.size)
        except RenderError:
            text = "\n".join(json.dumps(to_json(a)) for a in actions)
        return PolicyOutput(text=text, actions=tuple(actions), usage={"script_index": index})

    def provenance(self) -> dict[str, Any]:
        """Describe the script: its length, a hash of its content, the format and the ending."""
        content = [
            entry if actions is None else [to_json(a) for a in actions] for entry, actions in self._entries
        ]
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        return {
            "backend": "scripted",
            "outputs": len(self._entries),
            "script_sha256": digest,
            "format": self.format_name,
            "then": self.then,
        }


__all__ = ["ScriptEntry", "ScriptedPolicy"]
