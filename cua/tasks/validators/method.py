"""The check of a method: the recorded inputs include these presses, in this order.

Where an instruction prescribes how ("with the calculator's buttons"), the final state alone
cannot tell the method from a shortcut (the digits of the answer typed in). A ``trajectory``
check reads the run's recorded inputs (``Context.trajectory``) as a sequence of *presses*:

- a click on an accessible node: the node's name (``+`` for the button named '+');
- typed text: one press per character (a newline is ``enter``);
- a key or a hotkey: its name (``enter``, ``ctrl+s``), with key names of characters read as
  the character (``plus`` is ``+``, ``KP_Multiply`` is ``*``).

``sequence`` must appear in that order, other presses may come between. ``same`` lists, for a
press, the others that count as it (a calculator's ``=`` and ``enter``). A run recorded without
what its clicks hit cannot show a method and fails, saying so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cua.tasks.errors import Where
from cua.tasks.validators.base import Check, Context, Move, ValidatorVerdict, fail, ok
from cua.tasks.validators.fields import read_mapping, read_str

#: Key names that stand for a character.
_KEY_CHARS = {
    "plus": "+", "kp_add": "+", "minus": "-", "kp_subtract": "-", "asterisk": "*",
    "kp_multiply": "*", "slash": "/", "kp_divide": "/", "equal": "=", "period": ".",
    "kp_decimal": ".", "parenleft": "(", "parenright": ")", "space": " ", "return": "enter",
    "kp_enter": "enter", "enter": "enter",
}  # fmt: skip


def presses(trajectory: Sequence[Move]) -> list[str]:
    """Return the presses of a recorded trajectory, in order (see the module docstring)."""
    out: list[str] = []
    for move in trajectory:
        action = move.action
        kind = action.get("type")
        if kind == "sequence":
            items = action.get("actions", [])
            out += presses([Move(a, move.hit if i == 0 else None) for i, a in enumerate(items)])
        elif kind == "click":
            name = (move.hit or {}).get("name")
            out.append(str(name) if name else "?click")
        elif kind == "type":
            out += ["enter" if ch == "\n" else ch for ch in str(action.get("text", ""))]
        elif kind in ("key", "hotkey"):
            keys = [str(k).lower() for k in (action.get("keys") or [action.get("key", "")])]
            out.append(_KEY_CHARS.get(keys[0], keys[0]) if len(keys) == 1 else "+".join(keys))
    return out


@dataclass(frozen=True)
class TrajectoryCheck(Check):
    """The run's presses include ``sequence`` in order (``same``: presses that count as another)."""

    sequence: tuple[str, ...]
    same: Mapping[str, tuple[str, ...]]
    kind: ClassVar[str] = "trajectory"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        m = read_mapping(value, at, ["sequence"], ["same"])
        seq = m["sequence"]
        if not isinstance(seq, list) or not seq:
            raise at.at("sequence").error("a non-empty list of presses (button names, characters, keys)", seq)
        same = m.get("same", {})
        if not isinstance(same, dict):
            raise at.at("same").error("a mapping of a press to the presses that count as it", same)
        parsed: dict[str, tuple[str, ...]] = {}
        for k, v in same.items():
            items = v if isinstance(v, list) else [v]
            parsed[read_str(k, at.at("same"))] = tuple(read_str(x, at.at("same").at(str(k))) for x in items)
        return cls(tuple(read_str(s, at.at("sequence").at(i)) for i, s in enumerate(seq)), parsed)

    def to_json(self) -> Any:
        """Return the mapping form."""
        data: dict[str, Any] = {"sequence": list(self.sequence)}
        if self.same:
            data["same"] = {k: list(v) for k, v in self.same.items()}
        return data

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Find the sequence in the recorded presses."""
        label = f"the inputs press {' '.join(self.sequence)} in order"
        if ctx.trajectory is None:
            return fail(f"{label}: no recorded trajectory (validate with the run's recorded inputs)")
        got = presses(ctx.trajectory)
        if "?click" in got and not any(m.hit for m in ctx.trajectory):
            return fail(f"{label}: the run's clicks were recorded without what they hit")
        pos = 0
        for press in got:
            if pos < len(self.sequence):
                wanted = self.sequence[pos]
                if press in (wanted, *self.same.get(wanted, ())):
                    pos += 1
        if pos == len(self.sequence):
            return ok(label)
        shown = " ".join(got[-20:]) if got else "nothing"
        return fail(f"{label}: no {self.sequence[pos]!r} after the first {pos}; the presses were {shown}")
