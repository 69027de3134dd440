"""Goals on a web form a browser shows: fill some of its controls and send it.

A walk over a page clicks one control at a time; a person asks for a form filled in and sent
("type this name, pick that size, tick the box, press Send"). When the walk's start state shows
a local page the setup wrote, and that page holds a form sent by GET, this module reads the
form from the page's HTML (its text fields, list, radio group, check boxes and send button, in
order) and proposes goals that set two to four of them and press the button.

The validator is the page the browser lands on: its address bar holds the target page's path
and the query the browser builds from every control's value (``page.html?name=word&size=large&
news=on``), so a wrong word, a wrong pick, an extra tick, a control left out or a form never
sent all fail, while any route to the same submission passes. The demonstration is the clicks
and typing a person would do, each control found by its accessible name (the list opened, then
its item picked), admitted like any candidate: proven from a fresh reset, every proper prefix
failing (nothing is sent before the last click), near misses failing.

Nothing here reads a built-in task: the form is the seed's (``cua.synth.seeds``) and the
phrasings are ``grammar.yaml``'s ``goal/form-send`` list and its ``form_send_*`` clauses (one
wording of each drawn per goal).
"""

from __future__ import annotations

import html
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

from cua.synth.derive import grammar, written
from cua.synth.state import Change, NodeKey, Snapshot
from cua.synth.words import words
from cua.tasks.params import HOME
from cua.tasks.spec import LaunchStep, SetupItem

Step = dict[str, Any]
"""One oracle step in the task-file form."""
FormGoal = tuple[str, list[tuple[Step, str]], Change, dict[str, Any], dict[str, str]]
"""(kind, (step, label) pairs, the change, the validator, the phrasing's values); values whose
key starts with '_' are clauses already quoted."""
#: A value a goal types: one plain lowercase word, the same in a query as typed.
_PLAIN = re.compile(r"[a-z]+")
_TITLE = re.compile(r"<title>(.*?)</title>", re.S | re.I)


@dataclass
class Control:
    """One control of a form: its kind, the name it sends, its accessible name, its options."""

    kind: str  # text, textarea, select, radio, checkbox
    name: str
    label: str = ""
    value: str = ""  # a radio button's value
    options: list[str] = field(default_factory=list)  # a select's option values (shown as themselves)


@dataclass
class Form:
    """A GET form of a local page: where it sends, its controls in order, its send button."""

    page: str  # the page showing it, a path under HOME
    address: NodeKey  # the address bar showing that page
    action: str  # the page it sends to, a path under HOME
    landing_title: str  # that page's title
    controls: list[Control]
    button: str


class _FormReader(HTMLParser):
    """Reads the first GET form of a page: controls in document order and their labels."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.action: str | None = None
        self.controls: list[Control] = []
        self.button = ""
        self._in_form = False
        self._done = False
        self._by_id: dict[str, Control] = {}
        self._label_for: str | None = None
        self._label_text: list[str] = []
        self._wrapped: Control | None = None
        self._in_label = False
        self._select: Control | None = None
        self._in_button = False
        self._labels: dict[str, str] = {}
        self.preset = False  # a control starts checked, selected or filled: its sent value is not read here

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and not self._done and a.get("method", "get").lower() == "get":
            self._in_form, self.action = True, a.get("action", "")
        if not self._in_form:
            return
        control: Control | None = None
        if (
            "checked" in a
            or "selected" in a
            or (tag == "input" and a.get("type", "text") == "text" and a.get("value"))
        ):
            self.preset = True
        if tag == "input" and a.get("type", "text") in ("text", "radio", "checkbox") and a.get("name"):
            control = Control(a.get("type", "text"), a["name"], value=a.get("value", "on"))
        elif tag == "textarea" and a.get("name"):
            control = Control("textarea", a["name"])
        elif tag == "select" and a.get("name"):
            control = self._select = Control("select", a["name"])
        elif tag == "option" and self._select is not None:
            self._select.options.append(a.get("value", ""))
        elif tag == "label":
            self._in_label, self._label_for, self._label_text, self._wrapped = True, a.get("for"), [], None
        elif tag == "button" and a.get("type", "submit") == "submit" and not self.button:
            self._in_button = True
        if control is not None:
            self.controls.append(control)
            if a.get("id"):
                self._by_id[a["id"]] = control
            if self._in_label and self._label_for is None:
                self._wrapped = control

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "label" and self._in_label:
            text = " ".join("".join(self._label_text).split())
            if self._label_for:
                self._labels[self._label_for] = text
            elif self._wrapped is not None:
                self._wrapped.label = text
            self._in_label = False
        elif tag == "button":
            self._in_button = False
        elif tag == "form" and self._in_form:
            self._in_form, self._done = False, True
            for ident, text in self._labels.items():
                if ident in self._by_id:
                    self._by_id[ident].label = text

    def handle_data(self, data: str) -> None:
        if self._in_label:
            self._label_text.append(data)
        if self._in_button:
            self.button += data.strip()


def shown_form(start: Snapshot, setup: Sequence[SetupItem]) -> Form | None:
    """Return the GET form of the local page a browser shows in ``start``, or None.

    The page is one the setup wrote and launched, and the address bar (the editable field whose
    text is that page's path) shows it; every control the goal may set must be on screen under
    its label.
    """
    launched = [a for s in setup if isinstance(s, LaunchStep) for a in s.args if a.startswith("file://")]
    if len(launched) != 1 or not launched[0].startswith(f"file://{HOME}/"):
        return None
    path = launched[0].removeprefix("file://")
    page = path.removeprefix(HOME + "/")
    address = next((k for k, v in start.nodes.items() if k.role == "entry" and v.text == path), None)
    source = written(setup, page)
    if address is None or source is None:
        return None
    reader = _FormReader()
    reader.feed(source.content.decode("utf-8", "replace"))
    if reader.preset or not reader.button or not reader.action or re.search(r"[/:?#]", reader.action):
        return None
    if ("push button", reader.button) not in start.visible:
        return None
    folder = page.rpartition("/")[0]
    action = f"{folder}/{reader.action}" if folder else reader.action
    target = written(setup, action)
    found = _TITLE.search(target.content.decode("utf-8", "replace")) if target is not None else None
    if found is None:
        return None
    title = html.unescape(found.group(1)).strip()
    return Form(page, address, action, title, reader.controls, reader.button)


def form_goals(start: Snapshot, form: Form, rng: random.Random, count: int) -> list[FormGoal]:
    """Return up to ``count`` different goals that set two to four of ``form``'s controls and send it."""
    goals: list[FormGoal] = []
    for _ in range(count * 3):
        if len(goals) >= count:
            break
        goal = _goal(start, form, rng)
        if goal is not None and all(goal[3] != g[3] for g in goals):
            goals.append(goal)
    return goals


def _click(role: str, name: str, until: Step | None = None) -> tuple[Step, str]:
    step: Step = {"click": {"role": role, "name": name}}
    return ({**step, "until": until} if until else step), f"click {role} '{name}'"


def _goal(start: Snapshot, form: Form, rng: random.Random) -> FormGoal | None:
    shown = set(start.visible)

    def on_screen(kind: str, role: str) -> list[Control]:
        return [c for c in form.controls if c.kind == kind and (role, c.label) in shown]

    texts, radios, boxes = (
        on_screen("text", "entry"),
        on_screen("radio", "radio button"),
        on_screen("checkbox", "check box"),
    )
    selects = [c for c in on_screen("select", "combo box") if len(c.options) >= 2]
    typed: dict[str, str] = {}
    picked: dict[str, str] = {}  # a select's or a radio group's name -> the value sent
    ticked: set[str] = set()
    for c in rng.sample(texts, min(len(texts), rng.randint(1, 2))):
        typed[c.name] = next(w for w in words(rng, 20) if _PLAIN.fullmatch(w))
    if selects and rng.random() < 0.6:
        c = rng.choice(selects)
        picked[c.name] = rng.choice(c.options[1:])  # not the first: that one is already selected
    if radios and rng.random() < 0.7:
        radio = rng.choice(radios)
        picked[radio.name] = radio.value
    if boxes and rng.random() < 0.6:
        ticked.add(rng.choice(boxes).name)
    if len(typed) + len(picked) + len(ticked) < 2:
        return None
    phrases = grammar()["clauses"]
    clause = {k: rng.choice(phrases[f"form_send_{k}"]) for k in ("field", "select", "pick", "tick")}
    steps: list[tuple[Step, str]] = []
    parts: list[str] = []
    sent: list[tuple[str, str]] = []  # what the browser sends, in the form's order
    for c in form.controls:
        if c.kind in ("text", "textarea"):
            sent.append((c.name, typed.get(c.name, "")))
            if c.name in typed:
                steps += [_click("entry", c.label), ({"type": typed[c.name]}, f"type '{typed[c.name]}'")]
                parts.append(_fill(clause["field"], field=c.label, value=typed[c.name]))
        elif c.kind == "select":
            value = picked.get(c.name, c.options[0] if c.options else "")
            sent.append((c.name, value))
            if c.name in picked:
                item = {"role": "menu item", "name": value}
                steps += [
                    _click("combo box", c.label, {"node": item}),
                    _click("menu item", value, {"gone": item}),
                ]
                parts.append(_fill(clause["select"], field=c.label, choice=value))
        elif picked.get(c.name) == c.value or c.name in ticked:  # a radio button or a check box
            sent.append((c.name, c.value))
            steps.append(_click("radio button" if c.kind == "radio" else "check box", c.label))
            parts.append(_fill(clause["pick" if c.kind == "radio" else "tick"], choice=c.label))
    landing = f"{HOME}/{form.action}?{urlencode(sent)}"
    steps.append(_click("push button", form.button, {"node": {"role": "entry", "text": landing}}))
    # The page landed on, under its address with the query sent, the address bar no longer being
    # edited (a typed address not yet opened shows the same text while the field has the focus).
    validator = {
        "all": [
            {"a11y": {"target": form.address.target(), "text_equals": landing, "not_states": ["focused"]}},
            {"window_title": {"matches": re.escape(form.landing_title) + r"( - .*)?"}},
        ]
    }
    change = Change("goal/form-send", form.address, f"{HOME}/{form.page}", landing)
    joined = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return "goal/form-send", steps, change, validator, {"_fields": joined, "button": form.button}


def _fill(text: str, **values: str) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: f"'{values[m.group(1)]}'", text)


__all__ = ["Control", "Form", "form_goals", "shown_form"]
