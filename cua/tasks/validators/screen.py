"""Checks of what is on the screen: the window title, accessibility nodes, visible text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from cua.tasks.errors import Where
from cua.tasks.targets import Target, parse_target
from cua.tasks.validators.base import Check, Context, ValidatorVerdict, fail, ok, quote
from cua.tasks.validators.fields import TEXT_OPS, compare_text, read_mapping, read_one_op, read_text_op


@dataclass(frozen=True)
class WindowTitle(Check):
    """The focused window's title (read from X) matches a regex or equals a string."""

    op: str
    value: str
    kind: ClassVar[str] = "window_title"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        op, text = read_text_op(value, at, "matches")
        return cls(op, text)

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Read the title and compare."""
        title = ctx.title() or ""
        label = f"window title {self.op.replace('_', ' ')} {quote(self.value)}"
        return (
            ok(label) if compare_text(title, self.op, self.value) else fail(f"{label}: it is {quote(title)}")
        )

    def to_json(self) -> Any:
        """Return the mapping form."""
        return {self.op: self.value}


@dataclass(frozen=True)
class A11yState(Check):
    """An accessibility node exists (or not) with the given states and text.

    The node's text (its name when it has none) is compared whole and as it is: an editor
    holding the word plus a blank line does not equal the word.
    """

    target: Target
    present: bool = True
    states: tuple[str, ...] = ()
    not_states: tuple[str, ...] = ()
    text_op: str | None = None
    text: str = ""
    kind: ClassVar[str] = "a11y"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        text_ops = [f"text_{op}" for op in TEXT_OPS]
        m = read_mapping(value, at, ["target"], ["present", "states", "not_states", *text_ops])
        present = m.get("present", True)
        if not isinstance(present, bool):
            raise at.at("present").error("true or false", present)
        text_op: str | None = None
        text = ""
        if any(k in m for k in text_ops):
            text_op, text = read_one_op(m, at, TEXT_OPS, prefix="text_")
        return cls(
            parse_target(m["target"], at.at("target")),
            present,
            _state_list(m.get("states", []), at.at("states")),
            _state_list(m.get("not_states", []), at.at("not_states")),
            text_op,
            text,
        )

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Find the node in the live tree and compare."""
        # States are checked on the found node, not used to find it: "the box exists but is
        # not checked" must fail with that reason, not with "no such node".
        node = self.target.find(ctx.tree())
        label = self.target.describe()
        if not self.present:
            return ok(f"no {label}") if node is None else fail(f"no {label}: it is there")
        if node is None:
            return fail(f"{label} is shown: it is not")
        missing = [s for s in self.states if s not in node.states]
        extra = [s for s in self.not_states if s in node.states]
        if missing or extra:
            what = ", ".join([f"not {s}" for s in missing] + [s for s in extra])
            return fail(f"{label} state: it is {what}")
        if self.text_op is not None:
            actual = node.text or node.name
            wanted = f"text {self.text_op.replace('_', ' ')} {quote(self.text)}"
            if not compare_text(actual, self.text_op, self.text):
                return fail(f"{label} {wanted}: it is {quote(actual)}")
            label += f" {wanted}"
        if self.states:
            label += f" is {', '.join(self.states)}"
        if self.not_states:
            label += f" is not {', '.join(self.not_states)}"
        return ok(label)

    def to_json(self) -> Any:
        """Return the mapping form."""
        data: dict[str, Any] = {"target": self.target.to_json()}
        if not self.present:
            data["present"] = False
        if self.states:
            data["states"] = list(self.states)
        if self.not_states:
            data["not_states"] = list(self.not_states)
        if self.text_op is not None:
            data[f"text_{self.text_op}"] = self.text
        return data


def _state_list(value: Any, at: Where) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise at.error("a list of state names such as [checked]", value)
    return tuple(value)


@dataclass(frozen=True)
class ScreenText(Check):
    """Text is visible on the screen: in a visible accessibility node's name or text, or the title.

    Not OCR: no OCR package is installed here, so only text an application exposes counts.
    """

    op: str
    value: str
    kind: ClassVar[str] = "screen_text"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        op, text = read_text_op(value, at, "contains")
        if op == "equals":
            raise at.error("contains, not_contains or matches (screen text is never one exact string)", value)
        return cls(op, text)

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Search the visible texts."""
        texts = [ctx.title() or ""] + [t for n in ctx.tree() for t in (n.name, n.text) if t]
        label = f"screen text {self.op.replace('_', ' ')} {quote(self.value)}"
        if self.op == "not_contains":
            hit = any(self.value in t for t in texts)
            return fail(f"{label}: it is shown") if hit else ok(label)
        hit = any(compare_text(t, self.op, self.value) for t in texts)
        return ok(label) if hit else fail(f"{label}: not among {len(texts)} visible texts")

    def to_json(self) -> Any:
        """Return the mapping form."""
        return {self.op: self.value}
