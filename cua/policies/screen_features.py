"""What the bundled policy sees of a step, as numbers: options on the screen, spans, history.

One function, :func:`featurize`, turns a :class:`~cua.policy.PolicyInput` (whose screen was read
by ``cua.locators.read_screen``) into the arrays the network scores. The dataset builder of
``cua.learn`` calls the same function on re-enacted demonstrations, so what the policy learns
from is exactly what it sees at run time.

The action space is *symbolic*: a step is a :class:`Target`: an action kind, plus the option
(an accessible node, or an OCR text box where the tree is thin) it points at, or the key or key
combination it presses, or the text it types as a *template* with one slot filled by a *span*
of the instruction (a quoted value, or a number). ``touch {}`` with the span ``notes.txt``
types ``touch notes.txt``; the template ``{}`` copies the span; a template without a slot types
itself. :func:`target_of` reads a typed action back into a target (for training rows);
:func:`Target.action` turns a target into the typed action the loop executes.

Each past step is remembered as one line of text (:func:`history_line`), which the policy
writes as its answer and reads back from :attr:`PolicyInput.history`: the history features
(what was clicked, which spans were typed) come from those lines, so parallel episodes can
share one policy instance.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from cua import actions as act
from cua.locators import CONTAINER_ROLES
from cua.policy import HistoryItem, PolicyInput
from sandbox.base import A11yNode, TextBox

F32 = npt.NDArray[np.float32]

#: What a step can do: point at an option (three ways), type, press a key (or combination), stop.
KINDS = ("click", "double_click", "right_click", "type", "key", "done")
POINTER_KINDS = frozenset({"click", "double_click", "right_click"})
#: Roles an option can have (index ``len(ROLES)`` is every other role); 'ocr' marks OCR text. A
#: checkpoint's role embedding is indexed by this tuple, so it is written out, never derived from
#: the walk's role sets (which may grow): a new role goes at the end. It covers every role a walk
#: acts on (``tests/cua/learn/test_bundled.py`` checks it).
ROLES = (
    "push button",
    "toggle button",
    "check box",
    "radio button",
    "menu",
    "menu item",
    "check menu item",
    "radio menu item",
    "page tab",
    "link",
    "list item",
    "table cell",
    "tree item",
    "combo box",
    "icon",
    "text",
    "entry",
    "spin button",
    "terminal",
    "label",
    "ocr",
)
#: States an option carries as features.
STATES = ("focused", "editable", "checked", "selected", "expanded", "pressed", "focusable")
#: Most options scored in one step (document order; the tree of a big table is cut here).
MAX_OPTIONS = 200
#: Most instruction spans a typed text may copy.
MAX_SPANS = 6
#: Keys and combinations every policy can press, before any mined from training rows.
BASE_KEYS = (
    "enter", "escape", "tab", "backspace", "delete", "up", "down", "left", "right", "home",
    "end", "pageup", "pagedown", "space", "f2", "ctrl+a", "ctrl+c", "ctrl+v", "ctrl+x",
    "ctrl+z", "ctrl+s", "ctrl+n", "ctrl+o", "ctrl+f", "ctrl+b", "ctrl+i", "ctrl+u",
)  # fmt: skip
FEATURES_VERSION = 4
"""Bumped whenever a feature is added, removed or changed: a checkpoint says which it was made for."""
OPTION_LEX = 21
"""Width of an option's hand-made features (lexical match, state, geometry, history)."""
HISTORY_DIM = 2 * (len(KINDS) + 1) + 11
SPAN_DIM = MAX_SPANS + 8
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"|‘([^’]+)’|“([^”]+)”")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)?(?![\w])")
#: A value people leave unquoted because its shape marks it: a file name with an extension or a
#: path ('notes.txt', 'docs/a.md'), or a spreadsheet cell or range ('C4', 'B2:B6').
_FILE = re.compile(r"(?<![\w./-])(?:[\w-]+/)*[\w-]+\.[A-Za-z0-9]{1,5}(?![\w/-])")
_CELL = re.compile(r"(?<![\w:])[A-Z]{1,2}[1-9]\d{0,4}(?::[A-Z]{1,2}[1-9]\d{0,4})?(?![\w:])")
#: A bare name an English phrase introduces ('a folder named reports', 'the file called x').
_NAMED = re.compile(r"\b(?:named|called|titled)\s+([\w][\w.-]*[\w]|\w)")
#: An arithmetic expression as a person writes it: numbers joined by spaced operators, maybe grouped.
_EXPRESSION = re.compile(r"\(?\s*\d+(?:\.\d+)?\s*\)?(?:\s+[-+×x*/÷−]\s+\(?\s*\d+(?:\.\d+)?\s*\)?)+")
#: How a keypad labels the operators an instruction writes.
_KEYPAD_SYMBOLS = str.maketrans({"×": "*", "x": "*", "÷": "/", "−": "-", " ": None})
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Option:
    """Something on the screen the policy may point at."""

    source: str
    """'a11y' or 'ocr'."""
    role: str
    name: str
    text: str
    states: tuple[str, ...]
    bbox: tuple[int, int, int, int]

    def center(self) -> tuple[int, int]:
        """Return the point a click on the option goes to."""
        x, y, w, h = self.bbox
        return x + w // 2, y + h // 2

    def label(self) -> str:
        """Return what the option is called or shows (name, else text), on one line."""
        return " ".join((self.name or self.text).split())[:80]

    def contains(self, x: int, y: int) -> bool:
        """Return whether screen point (x, y) lies on the option."""
        bx, by, bw, bh = self.bbox
        return bx <= x < bx + bw and by <= y < by + bh


def options_of(a11y: Sequence[A11yNode] | None, ocr: Sequence[TextBox] = ()) -> list[Option]:
    """Return the options of a screen: widgets of the tree (document order), then OCR boxes.

    Containers and slivers (under 4 px) are left out, and so are unnamed widgets that cannot be
    typed into: nothing could tell them apart. At most :data:`MAX_OPTIONS`: past it the most
    numerous role is cut (a big table's cells), so the few controls beside it stay (a
    spreadsheet's name box, which comes after the cells in LibreOffice's tree).
    """
    out: list[Option] = []
    for n in a11y or ():
        if n.role in CONTAINER_ROLES or n.bbox[2] < 4 or n.bbox[3] < 4:
            continue
        if not (n.name.strip() or "editable" in n.states or n.role == "terminal"):
            continue
        out.append(Option("a11y", n.role, n.name, n.text, tuple(n.states), n.bbox))
    for box in ocr:
        if box.bbox[2] >= 4 and box.bbox[3] >= 4 and box.text.strip():
            out.append(Option("ocr", "ocr", "", box.text, (), box.bbox))
    return _capped(out)


def _capped(options: list[Option]) -> list[Option]:
    """Return ``options`` cut to :data:`MAX_OPTIONS`, in order, the most numerous role losing its tail."""
    if len(options) <= MAX_OPTIONS:
        return options
    crowded, count = Counter(o.role for o in options).most_common(1)[0]
    room = MAX_OPTIONS - (len(options) - count)
    if room < 0:
        return options[:MAX_OPTIONS]
    out = []
    for o in options:
        if o.role == crowded:
            if room == 0:
                continue
            room -= 1
        out.append(o)
    return out


def spans_of(instruction: str) -> list[str]:
    """Return the instruction's spans a typed text may copy.

    In order: quoted values; unquoted values marked by their shape or by the phrase before them
    (file names and paths, cell references and ranges, a name after 'named'/'called'), in the
    order they appear; bare numbers; arithmetic expressions as a keypad spells them.
    """
    quoted = [next(g for g in m.groups() if g is not None) for m in _QUOTED.finditer(instruction)]
    rest = _QUOTED.sub(" ", instruction)
    marked = sorted(
        [(m.start(), m.group(0)) for m in (*_FILE.finditer(rest), *_CELL.finditer(rest))]
        + [(m.start(1), m.group(1)) for m in _NAMED.finditer(rest)]
    )
    bare = [value for _, value in marked]
    numbers = [m.group(0) for m in _NUMBER.finditer(rest)]
    expressions = [
        _balanced(m.group(0).strip()).translate(_KEYPAD_SYMBOLS) for m in _EXPRESSION.finditer(rest)
    ]
    out: list[str] = []
    for s in (*quoted, *bare, *numbers, *expressions):
        if s and s not in out:
            out.append(s)
    return out[:MAX_SPANS]


def _balanced(expr: str) -> str:
    """Return ``expr`` without a parenthesis the match cut from its partner (a trailing ')' of prose)."""
    while expr.count(")") > expr.count("(") and expr.endswith(")"):
        expr = expr[:-1].rstrip()
    while expr.count("(") > expr.count(")") and expr.startswith("("):
        expr = expr[1:].lstrip()
    return expr


@dataclass(frozen=True)
class Target:
    """One step in the policy's symbolic action space (see the module docstring)."""

    kind: str
    option: int | None = None
    """Index into the step's options, for a pointer kind."""
    key: str | None = None
    """'enter' or 'ctrl+a', for the key kind."""
    template: str | None = None
    """The typed text with '{}' where the span goes (or without a slot), for the type kind."""
    span: int | None = None
    """Index into the instruction's spans filling the template's slot."""

    def text(self, spans: Sequence[str]) -> str:
        """Return the text a type target types."""
        template = self.template or ""
        if "{}" in template:
            return template.replace("{}", spans[self.span or 0] if spans else "", 1)
        return template

    def action(self, options: Sequence[Option], spans: Sequence[str]) -> act.Action:
        """Return the typed action of this target on the step's options; ActionError when impossible."""
        if self.kind in POINTER_KINDS:
            if self.option is None or not 0 <= self.option < len(options):
                raise act.ActionError(f"{self.kind}: no option {self.option} on this screen")
            x, y = options[self.option].center()
            if self.kind == "right_click":
                return act.Click(x, y, button="right")
            return act.Click(x, y, count=2 if self.kind == "double_click" else 1)
        if self.kind == "type":
            return act.TypeText(self.text(spans))
        if self.kind == "key":
            keys = tuple((self.key or "").split("+"))
            return act.Key(keys[0]) if len(keys) == 1 else act.Hotkey(keys)
        return act.Done()


def key_name(action: act.Key | act.Hotkey) -> str:
    """Return the key vocabulary's name of a key press: 'enter', 'ctrl+a'."""
    return action.key if isinstance(action, act.Key) else "+".join(action.keys)


def template_of(text: str, spans: Sequence[str]) -> tuple[str, int | None]:
    """Return (template, span index) of typed ``text``: the longest span it contains becomes '{}'."""
    for i in sorted(range(len(spans)), key=lambda i: -len(spans[i])):
        if spans[i] and spans[i] in text:
            return text.replace(spans[i], "{}", 1), i
    return text, None


def target_of(action: act.Action, options: Sequence[Option], spans: Sequence[str]) -> Target | None:
    """Return the target of a typed action on a step's screen, or None when the space lacks it.

    A click names the smallest option under its point (None when it hits no option); drags,
    scrolls, moves and waits have no target: the bundled policy cannot produce them.
    """
    match action:
        case act.Click(x, y, button, count):
            hits = [i for i, o in enumerate(options) if o.contains(x, y)]
            if not hits:
                return None
            best = min(hits, key=lambda i: options[i].bbox[2] * options[i].bbox[3])
            kind = "right_click" if button == "right" else "double_click" if count == 2 else "click"
            return Target(kind, option=best)
        case act.TypeText(text):
            template, span = template_of(text, spans)
            return Target("type", template=template, span=span)
        case act.Key() | act.Hotkey():
            return Target("key", key=key_name(action))
        case act.Done():
            return Target("done")
    return None


def history_line(target: Target, options: Sequence[Option], spans: Sequence[str]) -> str:
    """Return the one line a step is remembered by (the policy's answer text); see :func:`read_history`."""
    data: dict[str, Any] = {"kind": target.kind}
    if target.option is not None and 0 <= target.option < len(options):
        o = options[target.option]
        data.update(role=o.role, label=o.label())
    if target.kind == "type":
        data["text"] = target.text(spans)
        if target.span is not None:
            data["span"] = spans[target.span] if target.span < len(spans) else ""
    if target.key:
        data["key"] = target.key
    return "bundled " + json.dumps(data, ensure_ascii=False)


def read_history(history: Sequence[HistoryItem]) -> list[dict[str, Any]]:
    """Return the steps of ``history`` the policy wrote (:func:`history_line`); other lines are skipped."""
    out = []
    for item in history:
        if item.output.startswith("bundled {"):
            try:
                data = json.loads(item.output[len("bundled ") :])
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                out.append(data)
    return out


@dataclass
class Features:
    """The arrays of one step, ready for the network (a batch of one; the trainer stacks them)."""

    instruction: F32
    """(D,) the instruction's text vector."""
    option_text: F32
    """(N, D) each option's text vector."""
    option_lex: F32
    """(N, OPTION_LEX) hand-made features of each option."""
    option_role: npt.NDArray[np.int64]
    """(N,) role index (len(ROLES) for any other role)."""
    history: F32
    """(HISTORY_DIM,) what the episode did so far."""
    spans: F32
    """(MAX_SPANS, SPAN_DIM) features of each span slot (zeros where there is none)."""
    span_count: int
    options: list[Option] = field(default_factory=list)
    span_texts: list[str] = field(default_factory=list)


Encode = Callable[[Sequence[str]], F32]
"""Turns texts into L2-normalised row vectors (``cua.models.embed.TextEncoder.encode``)."""


def words(text: str) -> set[str]:
    """Return the case-folded words of ``text``."""
    return {w.casefold() for w in _WORD.findall(text)}


def _kind_onehot(kind: str | None) -> list[float]:
    vec = [0.0] * (len(KINDS) + 1)
    vec[KINDS.index(kind) if kind in KINDS else len(KINDS)] = 1.0
    return vec


@dataclass(frozen=True)
class Spelling:
    """How far the instruction's spans are spelled out on one-character controls (a keypad)."""

    nexts: set[str]
    """The next character of the span furthest along (the longest of those tied)."""
    chars: set[str]
    """Every character of every span."""
    complete: bool
    """The last clicks spelled a whole span (the expression is entered: '=' or done comes next)."""
    after: bool
    """A whole span was spelled earlier and something was clicked since."""


def spelled(clicked: Sequence[tuple[Any, Any]], spans: Sequence[str]) -> Spelling:
    """Return how far the spans are spelled out by the latest clicks on one-character labels.

    A keypad enters '69' as a click on '6' then on '9': the last clicks on one-character labels
    that spell the start of a span say how far it got; its next character is what to click next.
    Where spans overlap ('37', '18' and the expression '37+18'), the one furthest along leads.
    """
    labels = [label if isinstance(label, str) else "" for _, label in clicked]
    tail: list[str] = []
    for label in reversed(labels):
        if len(label) != 1:
            break
        tail.insert(0, label)
    progress: list[tuple[int, int, str]] = []
    finished: list[str] = []
    for s in spans:
        done = max(k for k in range(min(len(tail), len(s)) + 1) if "".join(tail[len(tail) - k :]) == s[:k])
        if done < len(s):
            progress.append((done, len(s), s[done]))
        elif s:
            finished.append(s)
    longest = max(finished, key=len, default="")
    # A span inside a finished one is finished with it; one not begun waits while another is done.
    progress = [p for p in progress if not longest or p[0] >= len(longest)]
    typed = "".join(label if len(label) == 1 else "\x00" for label in labels)
    seen = max((s for s in spans if s and s in typed), key=len, default="")
    after = bool(seen) and not typed.endswith(seen) and not any(p[0] for p in progress)
    if after:
        progress = []  # entered and confirmed: nothing more to spell
    best = max(progress, default=None)
    nexts = {c for done, size, c in progress if best is not None and (done, size) == best[:2]}
    complete = bool(longest) and not progress
    return Spelling(nexts, {c for s in spans for c in s}, complete, after)


def featurize(inp: PolicyInput, encode: Encode) -> Features:
    """Return the features of the step ``inp`` describes (its ``a11y``/``ocr`` read the screen)."""
    options = options_of(inp.a11y, inp.ocr)
    spans = spans_of(inp.instruction)
    past = read_history(inp.history)
    instruction = inp.instruction.strip()
    texts = [instruction] + [f"{o.role} {o.label()}" for o in options] + spans
    vecs = encode(texts)
    q = vecs[0]
    option_text = vecs[1 : 1 + len(options)]
    span_vecs = vecs[1 + len(options) :]
    iwords = words(instruction)
    lowered = instruction.casefold()
    clicked = [(h.get("role"), h.get("label")) for h in past if h.get("kind") in POINTER_KINDS]
    typed = [str(h.get("text", "")) for h in past if h.get("kind") == "type"]
    width, height = inp.screen_size
    spelling = spelled(clicked, spans)
    next_chars, span_chars = spelling.nexts, spelling.chars
    lex = np.zeros((len(options), OPTION_LEX), np.float32)
    for i, o in enumerate(options):
        label = o.label()
        lw = words(label)
        times = sum(1 for c in clicked if c == (o.role, label))
        x, y, w, h = o.bbox
        lex[i] = [
            float(bool(label) and label in spans),
            float(len(label) >= 2 and label.casefold() in lowered),
            len(lw & iwords) / max(1, len(lw | iwords)),
            len(lw & iwords) / max(1, len(lw)),
            float(option_text[i] @ q),
            float(times > 0),
            min(times, 3) / 3,
            float(bool(clicked) and clicked[-1] == (o.role, label)),
            *(float(s in o.states) for s in STATES[:5]),
            float(o.source == "ocr"),
            x / max(1, width),
            y / max(1, height),
            min(1.0, w / max(1, width) * 4),
            min(1.0, h / max(1, height) * 8),
            i / max(1, len(options)),
            float(label in next_chars),
            float(len(label) == 1 and label in span_chars),
        ]
    role = np.array([ROLES.index(o.role) if o.role in ROLES else len(ROLES) for o in options], np.int64)
    typed_spans = [s for s in spans if any(s in t for t in typed)]
    clicked_labels = {c[1] for c in clicked}
    editable_focus = any("focused" in o.states and "editable" in o.states for o in options)
    history = np.array(
        [
            *_kind_onehot(past[-1]["kind"] if past else None),
            *_kind_onehot(past[-2]["kind"] if len(past) > 1 else None),
            min(len(past), 10) / 10,
            len(spans) / MAX_SPANS,
            len(typed_spans) / max(1, len(spans)),
            sum(1 for s in spans if s in clicked_labels) / max(1, len(spans)),
            float(editable_focus),
            float(any(lex[i, 0] for i in range(len(options)))),
            float(bool(past) and past[-1].get("kind") == "type" and bool(past[-1].get("span"))),
            float(not options),
            float(any(o.text.strip() in spans for o in options if o.text.strip())),
            float(spelling.complete),
            float(spelling.after),
        ],
        np.float32,
    )
    span_feats = np.zeros((MAX_SPANS, SPAN_DIM), np.float32)
    for j, s in enumerate(spans):
        span_feats[j, j] = 1.0
        span_feats[j, MAX_SPANS:] = [
            float(s in typed_spans),
            float(s in clicked_labels),
            float(bool(_NUMBER.fullmatch(s))),
            min(len(s), 40) / 40,
            float(span_vecs[j] @ q),
            float(bool(re.search(r"[/.]", s))),
            float(bool(_FILE.fullmatch(s))),
            float(bool(_CELL.fullmatch(s))),
        ]
    return Features(q, option_text, lex, role, history, span_feats, len(spans), options, spans)


__all__ = [
    "BASE_KEYS",
    "HISTORY_DIM",
    "KINDS",
    "MAX_OPTIONS",
    "MAX_SPANS",
    "OPTION_LEX",
    "POINTER_KINDS",
    "ROLES",
    "SPAN_DIM",
    "Encode",
    "Features",
    "Option",
    "Target",
    "featurize",
    "history_line",
    "key_name",
    "options_of",
    "read_history",
    "spans_of",
    "target_of",
    "template_of",
    "words",
]
