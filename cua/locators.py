"""Locators: how to find a screen target again, independent of where it was on the screen.

A click is recorded with the locator of what it hit (the accessibility node under the point;
where there is none, as in a terminal, the word OCR reads there; failing both, the point
itself), so that replay and oracles can re-find the target after a window moved or resized.
Task oracles, the agent and memory share this one type.

:func:`merge_candidates` is the one list of what is on the screen for policies, locators and
the memory: accessibility nodes and OCR text boxes, each tagged with where it came from.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sandbox.base import A11yNode, Sandbox, TextBox
from sandbox.ocr import ocr_available

#: Roles that are only containers; a locator prefers the widget inside them.
CONTAINER_ROLES = frozenset(
    {
        "frame",
        "window",
        "filler",
        "panel",
        "scroll pane",
        "viewport",
        "layered pane",
        "root pane",
        "application",
    }
)


@dataclass(frozen=True)
class Locator:
    """A way to find a target: by accessibility role and name (and path), or by a point."""

    role: str | None = None
    name: str | None = None
    app: str | None = None
    path: tuple[int, ...] | None = None
    """Child indices from the application root when the node was seen (a tie-breaker)."""
    text: str | None = None
    """Visible text of the target, when it has any (for text-based re-location)."""
    bbox: tuple[int, int, int, int] | None = None
    """Where the target was when recorded, (x, y, w, h); a last resort, not an identity."""
    offset: tuple[float, float] | None = None
    """Where inside the bbox the point was, as fractions (0.5, 0.5 is the centre)."""
    source: str | None = None
    """'ocr' when the target is a word read on the screenshot (no accessible node was there)."""

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict without empty fields."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Locator:
        """Build a locator from :meth:`to_json` output."""
        kwargs = dict(data)
        for key in ("path", "bbox", "offset"):
            if kwargs.get(key) is not None:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    def describe(self) -> str:
        """Return a short human/model-readable description, e.g. ``push button 'OK'``."""
        if self.source == "ocr" and self.text:
            return f"text '{self.text}'"
        if self.role:
            label = self.name or self.text or ""
            return f"{self.role} '{label}'" if label else self.role
        if self.bbox:
            return f"point near ({self.bbox[0]}, {self.bbox[1]})"
        return "unknown target"


def node_at(nodes: Sequence[A11yNode], x: int, y: int) -> A11yNode | None:
    """Return the most specific visible node containing (x, y): the smallest non-container one."""
    hits = [
        n for n in nodes if n.bbox[0] <= x < n.bbox[0] + n.bbox[2] and n.bbox[1] <= y < n.bbox[1] + n.bbox[3]
    ]
    if not hits:
        return None
    widgets = [n for n in hits if n.role not in CONTAINER_ROLES] or hits
    return min(widgets, key=lambda n: (n.bbox[2] * n.bbox[3], -n.depth))


def locate_point(nodes: Sequence[A11yNode] | None, x: int, y: int, text: Sequence[TextBox] = ()) -> Locator:
    """Return the locator of what lies under (x, y).

    Its a11y node if any, else the OCR word there (from ``text``, the observation's text
    boxes), else the point.
    """
    node = node_at(nodes or (), x, y)
    if node is None:
        word = word_at(text, x, y)
        if word is not None:
            wx, wy, ww, wh = word.bbox
            return Locator(
                text=word.text,
                bbox=word.bbox,
                offset=(round((x - wx) / max(ww, 1), 3), round((y - wy) / max(wh, 1), 3)),
                source="ocr",
            )
        return Locator(bbox=(x, y, 1, 1), offset=(0.0, 0.0))
    bx, by, bw, bh = node.bbox
    return Locator(
        role=node.role,
        name=node.name or None,
        app=node.app or None,
        path=node.path,
        text=(node.text[:200] or None) if node.text else None,
        bbox=node.bbox,
        offset=(round((x - bx) / max(bw, 1), 3), round((y - by) / max(bh, 1), 3)),
    )


def same_label(shown: str, wanted: str) -> bool:
    """Return whether a node's name or text is the label: equal but for spaces around it.

    Some menus pad an item's name with the spaces before its accelerator ("Save As...      ").
    """
    return shown == wanted or shown.strip() == wanted.strip()


def candidates(locator: Locator, nodes: Sequence[A11yNode]) -> list[A11yNode]:
    """Return the nodes ``locator`` matches, best first (document order within a rank).

    With a role: nodes of that role whose name (and app) match, else those of that role whose
    visible text equals the locator's text. Without a role but with a name or text (a target
    described only by what it shows, as task oracles write "the thing labelled Save"): widgets
    whose name or text equals it, before containers. The recorded path, when several match,
    puts the node with that path first. A point locator (no role, name or text) matches nothing.
    """
    if locator.role is None:
        label = locator.name if locator.name is not None else locator.text
        if label is None:
            return []
        found = [
            n
            for n in nodes
            if (same_label(n.name, label) or same_label(n.text, label))
            and (locator.app is None or n.app == locator.app)
        ]
        found.sort(key=lambda n: n.role in CONTAINER_ROLES)
    else:
        found = [
            n
            for n in nodes
            if n.role == locator.role
            and (locator.name is None or same_label(n.name, locator.name))
            and (locator.app is None or n.app == locator.app)
        ]
        if not found and locator.text:
            found = [n for n in nodes if n.role == locator.role and same_label(n.text, locator.text)]
    if len(found) > 1 and locator.path is not None:
        found.sort(key=lambda n: n.path != locator.path)
    return found


def point_in(locator: Locator, node: A11yNode | TextBox) -> tuple[int, int]:
    """Return the screen point inside ``node`` at the locator's recorded offset (default: centre)."""
    fx, fy = locator.offset or (0.5, 0.5)
    x, y, w, h = node.bbox
    return x + min(int(fx * w), max(w - 1, 0)), y + min(int(fy * h), max(h - 1, 0))


def resolve(
    locator: Locator, nodes: Sequence[A11yNode], text: Sequence[TextBox] = ()
) -> tuple[int, int] | None:
    """Find ``locator`` among ``nodes`` and return the screen point to act on, or None.

    Matches role and name (and app) first, prefers the recorded path among several matches,
    then falls back to visible text; a locator without a role matches by name or text alone
    (see :func:`candidates`); one without a role whose text no node shows is looked for among
    the OCR words of ``text`` (see :func:`text_candidates`). The point keeps the recorded offset
    inside the node or word.
    """
    found = candidates(locator, nodes)
    if found:
        return point_in(locator, found[0])
    words = text_candidates(locator, text) if locator.role is None else []
    return point_in(locator, words[0]) if words else None


# -- text read by OCR ---------------------------------------------------------------------------
def words(box: TextBox) -> list[TextBox]:
    """Split an OCR line into its words, each with its share of the line's box.

    The share is by character count, exact for a terminal's monospaced text and close for
    proportional fonts.
    """
    x, y, w, h = box.bbox
    n = len(box.text)
    out = []
    start = 0
    for part in box.text.split(" "):
        if part:
            x0 = x + round(w * start / n)
            x1 = x + round(w * (start + len(part)) / n)
            out.append(TextBox(part, (x0, y, max(x1 - x0, 1), h), box.score))
        start += len(part) + 1
    return out


def word_at(text: Sequence[TextBox], x: int, y: int, slack: int = 2) -> TextBox | None:
    """Return the OCR word under (x, y) (or the nearest word of the line there), or None."""
    lines = [
        b
        for b in text
        if b.bbox[0] - slack <= x < b.bbox[0] + b.bbox[2] + slack
        and b.bbox[1] - slack <= y < b.bbox[1] + b.bbox[3] + slack
    ]
    if not lines:
        return None
    line = min(lines, key=lambda b: abs(b.bbox[1] + b.bbox[3] / 2 - y))
    parts = words(line)
    if not parts:
        return None
    return min(
        parts, key=lambda wd: 0 if wd.bbox[0] <= x < wd.bbox[0] + wd.bbox[2] else abs(wd.center()[0] - x)
    )


def _norm(word: str) -> str:
    return word.strip(".,;:!?'\"()[]{}").casefold()


def text_candidates(locator: Locator, text: Sequence[TextBox]) -> list[TextBox]:
    """Return the OCR words showing the locator's text, best first.

    Exact words first, then words equal but for case and surrounding punctuation, then (OCR
    misreads a character now and then) words at least 80 % alike. Among equals, the one
    nearest where the target was recorded comes first.
    """
    label = locator.text
    if not label:
        return []
    every = [wd for box in text for wd in words(box)]
    found = [wd for wd in every if wd.text == label]
    if not found:
        found = [wd for wd in every if _norm(wd.text) == _norm(label)]
    if not found and len(label) >= 4:
        found = [wd for wd in every if difflib.SequenceMatcher(None, wd.text, label).ratio() >= 0.8]
    if locator.bbox is not None and len(found) > 1:
        bx, by = locator.bbox[0] + locator.bbox[2] / 2, locator.bbox[1] + locator.bbox[3] / 2
        found.sort(key=lambda wd: (wd.center()[0] - bx) ** 2 + (wd.center()[1] - by) ** 2)
    return found


# -- one list of what is on the screen ----------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """Something on the screen a policy may act on: an accessible node or a text box OCR read."""

    source: Literal["a11y", "ocr"]
    role: str
    """The node's role; 'text' for an OCR box."""
    name: str
    text: str
    bbox: tuple[int, int, int, int]
    """(x, y, width, height) in screen pixels."""
    score: float
    """1.0 for a node; the recogniser's confidence for an OCR box."""

    def center(self) -> tuple[int, int]:
        """Return the screen point at the middle of the candidate."""
        x, y, w, h = self.bbox
        return x + w // 2, y + h // 2

    def label(self) -> str:
        """Return what the candidate shows or is called (name, else text)."""
        return self.name or self.text


def merge_candidates(nodes: Sequence[A11yNode] | None, text: Sequence[TextBox] = ()) -> list[Candidate]:
    """Return the accessible nodes (document order) then the OCR boxes no node already tells.

    An OCR box is left out when its centre lies in a non-container node whose name or text
    contains what it reads: the tree says it better (with a role). Everything else OCR reads
    (terminal contents, canvases, images, apps with a poor tree) is added with source 'ocr'.
    """
    out = [Candidate("a11y", n.role, n.name, n.text, n.bbox, 1.0) for n in nodes or ()]
    widgets = [n for n in nodes or () if n.role not in CONTAINER_ROLES]
    for box in text:
        cx, cy = box.center()
        said = box.text.strip().casefold()
        told = any(
            n.bbox[0] <= cx < n.bbox[0] + n.bbox[2]
            and n.bbox[1] <= cy < n.bbox[1] + n.bbox[3]
            and (said in n.name.casefold() or said in n.text.casefold())
            for n in widgets
        )
        if not told:
            out.append(Candidate("ocr", "text", "", box.text, box.bbox, box.score))
    return out


# -- against a live sandbox ---------------------------------------------------------------------
def locate_on(sandbox: Sandbox, x: int, y: int) -> Locator:
    """Return the locator of what lies under (x, y) on ``sandbox`` now.

    The accessibility tree first; only where no node is there (a terminal, a canvas) is the
    screen read by OCR (when the ``ocr`` extra is installed), so apps with a tree pay nothing.
    """
    obs = sandbox.observe(a11y=True)
    locator = locate_point(obs.a11y, x, y)
    if locator.role is None and ocr_available():
        locator = locate_point(obs.a11y, x, y, sandbox.observe(ocr=True).text)
    return locator


def resolve_on(sandbox: Sandbox, locator: Locator) -> tuple[int, int] | None:
    """Find ``locator`` on ``sandbox`` now (see :func:`resolve`); OCR only when the tree fails."""
    nodes = sandbox.observe(a11y=True).a11y or ()
    point = resolve(locator, nodes)
    if point is None and locator.role is None and locator.text and ocr_available():
        point = resolve(locator, nodes, sandbox.observe(ocr=True).text)
    return point


#: A tree with fewer widgets than this offers too little to act on: the screen is read by OCR too.
THIN_TREE = 3


def read_screen(sandbox: Sandbox) -> tuple[tuple[A11yNode, ...], tuple[TextBox, ...]]:
    """Return the screen's accessibility tree and, where the tree is thin, the text OCR reads.

    A terminal or a canvas shows its content to OCR only; an application with a tree pays nothing
    for OCR. Both the agent loop (for a ``cua.policy.ReadsScreen`` policy) and the dataset builder
    read the screen through this one function, so a trained policy sees what it learned from.
    """
    nodes = sandbox.observe(a11y=True).a11y or ()
    widgets = [n for n in nodes if n.role not in CONTAINER_ROLES and (n.name or "editable" in n.states)]
    if len(widgets) >= THIN_TREE or not ocr_available():
        return tuple(nodes), ()
    return tuple(nodes), tuple(sandbox.observe(ocr=True).text)
