"""What a validator can read, captured before and after each exploration step, and what changed.

A ``Snapshot`` holds the accessibility nodes that carry state (a field's text, a check box's
``checked``, a tab's ``selected``), the focused window's title and HOME's listing with content
hashes (small changed text files are read when a change is derived). ``changes`` lists the
differences between two snapshots as ``Change`` records: the raw material of synthesized tasks.
Nothing here knows about any task suite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cua.locators import Locator
from cua.tasks.params import HOME
from cua.tasks.targets import Target, a11y_tree
from cua.tasks.validators.home import HomeListing, diff, read_home
from sandbox.base import A11yNode, Sandbox
from sandbox.errors import SandboxError

#: Roles whose text is a value a person sets (typed, computed), not a label.
TEXT_ROLES = frozenset({"text", "entry", "spin button", "combo box", "password text"})
#: Roles whose ``checked``/``selected`` state a person toggles.
STATE_ROLES = frozenset(
    {
        "check box",
        "radio button",
        "toggle button",
        "check menu item",
        "radio menu item",
        "page tab",
        "list item",
        "table cell",
        "tree item",
    }
)
TRACKED_STATES = ("checked", "selected")
#: Largest changed file read during a walk (its text may be quoted in an instruction).
MAX_READ_BYTES = 4096
#: Longest text value kept as a change (a whole document is no single value a person asks for).
MAX_VALUE_CHARS = 80


@dataclass(frozen=True)
class NodeKey:
    """A node as a task file names it: role, name, and its index among nodes with both."""

    role: str
    name: str
    nth: int

    def target(self) -> dict[str, Any]:
        """Return the task-file target for this node."""
        data: dict[str, Any] = {"role": self.role}
        if self.name:
            data["name"] = self.name
        if self.nth:
            data["nth"] = self.nth
        return data

    def describe(self) -> str:
        """Return e.g. ``check box 'Bold'`` or ``the 2nd text``."""
        if self.name:
            return f"{self.role} '{self.name}'"
        return f"{self.role} #{self.nth + 1}" if self.nth else f"the {self.role}"


def key_of(node: A11yNode, nodes: Sequence[A11yNode]) -> NodeKey:
    """Return the key that finds ``node`` again among ``nodes`` (its place among its namesakes)."""
    found = Target(Locator(role=node.role, name=node.name)).find_all(nodes)
    nth = next((i for i, n in enumerate(found) if n.path == node.path), 0)
    return NodeKey(node.role, node.name, nth)


@dataclass(frozen=True)
class NodeValue:
    """What a node shows: its text (for value roles) and its tracked states."""

    text: str
    states: frozenset[str]


@dataclass
class Snapshot:
    """The readable state of a sandbox at one moment."""

    nodes: dict[NodeKey, NodeValue]
    title: str
    home: HomeListing | None
    visible: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    """(role, name) of every visible node: tells whether a step did anything at all."""
    texts: dict[str, bytes] = field(default_factory=dict)
    """Contents of small files that changed just before this moment, by ``path@sha256``."""

    def same_screen(self, other: Snapshot) -> bool:
        """Return whether nothing a validator or a person could see differs."""
        return (
            self.nodes == other.nodes
            and self.title == other.title
            and self.visible == other.visible
            and _entries(self.home) == _entries(other.home)
        )


def _entries(home: HomeListing | None) -> dict[str, Any]:
    return dict(home.entries) if home is not None else {}


def snapshot(
    sandbox: Sandbox,
    volatile: Sequence[str],
    nodes: Sequence[A11yNode] | None = None,
    previous: Snapshot | None = None,
) -> Snapshot:
    """Capture the state of ``sandbox`` (``nodes``: a tree already read, to save a read).

    Files created or changed since ``previous`` that are small enough to quote are read too.
    """
    tree = tuple(nodes) if nodes is not None else a11y_tree(sandbox)
    values: dict[NodeKey, NodeValue] = {}
    for node in tree:
        if node.role in TEXT_ROLES or node.role in STATE_ROLES:
            states = frozenset(s for s in TRACKED_STATES if s in node.states)
            text = node.text if node.role in TEXT_ROLES else ""
            values[key_of(node, tree)] = NodeValue(text, states)
    home = read_home(sandbox, volatile)
    title = sandbox.observe().window_title or ""
    listing = home if isinstance(home, HomeListing) else None
    texts: dict[str, bytes] = {}
    if listing is not None and previous is not None and previous.home is not None:
        d = diff(previous.home, listing)
        for path in (*d.created, *d.modified):
            entry = listing.entries[path]
            if entry.kind == "f" and 0 < entry.size <= MAX_READ_BYTES:
                try:
                    texts[f"{path}@{entry.digest}"] = sandbox.read_file(f"{HOME}/{path}")
                except SandboxError:
                    continue  # gone again, or unreadable: the change cannot be quoted
    return Snapshot(values, title, listing, frozenset((n.role, n.name) for n in tree), texts)


def shown_value(text: str) -> str:
    """Return the value a text node shows: its first line (further lines of a display show modes)."""
    return text.partition("\n")[0]


@dataclass(frozen=True)
class Change:
    """One difference between a start state and a later one, in validator terms.

    ``kind`` is the state kind and the change kind, e.g. ``a11y/text``, ``a11y/checked``,
    ``title/changed``, ``files/created``: the task kind of a task derived from it.
    """

    kind: str
    node: NodeKey | None = None
    before: str = ""
    after: str = ""
    created: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    moved: tuple[tuple[str, str], ...] = ()
    copied: tuple[tuple[str, str], ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        """Return every path this change names (created, deleted, modified)."""
        return (*self.created, *self.deleted, *self.modified)

    def describe(self) -> str:
        """Return a one-line account for logs and reports."""
        if self.node is not None:
            return f"{self.kind}: {self.node.describe()} {self.before!r} -> {self.after!r}"
        if self.moved or self.copied:
            pairs = [f"{a} -> {b}" for a, b in self.moved] + [f"{a} => {b}" for a, b in self.copied]
            return f"{self.kind}: " + ", ".join(pairs)
        if self.paths:
            return f"{self.kind}: {', '.join(self.paths)}"
        return f"{self.kind}: {self.before!r} -> {self.after!r}"


def changes(start: Snapshot, now: Snapshot) -> list[Change]:
    """Return what differs from ``start`` in ``now``: node values and states, the title, HOME.

    A node must exist in both states (a dialog's fields that appear are no change of value);
    HOME's differences come as one ``files/...`` change holding the whole difference, since a
    file task is judged by the whole difference under HOME anyway.
    """
    out: list[Change] = []
    for key, value in now.nodes.items():
        was = start.nodes.get(key)
        if was is None:
            continue
        shown, more = value.text.partition("\n")[::2]
        if (
            value.text != was.text
            and key.role in TEXT_ROLES
            and key.role != "password text"
            and shown.strip()
            and len(shown) <= MAX_VALUE_CHARS
            # One line, or a value line above lines that did not change (a calculator's display
            # with its modes and flags): the change is the first line's, the rest stays as it was.
            and ("\n" not in value.text or ("\n" in was.text and more == was.text.partition("\n")[2]))
        ):
            out.append(Change("a11y/text", key, was.text, value.text))
        for state in TRACKED_STATES:
            if (state in value.states) != (state in was.states):
                gained = state in value.states
                if state == "selected" and not gained:
                    continue  # deselecting is the other node's selection
                kind = f"a11y/{state}" if gained else f"a11y/un{state}"
                out.append(Change(kind, key, str(state in was.states), str(gained)))
    if now.title != start.title and now.title:
        out.append(Change("title/changed", None, start.title, now.title))
    files = _file_change(start.home, now.home)
    if files is not None:
        out.append(files)
    return out


def _file_change(a: HomeListing | None, b: HomeListing | None) -> Change | None:
    if a is None or b is None:
        return None
    d = diff(a, b)
    if not (d.created or d.deleted or d.modified):
        return None
    moved: list[tuple[str, str]] = []
    created, deleted = list(d.created), list(d.deleted)
    for src in list(deleted):
        entry = a.entries[src]
        if entry.kind != "f":
            continue
        same = [p for p in created if b.entries[p] == entry]
        if len(same) == 1:
            moved.append((src, same[0]))
            created.remove(same[0])
            deleted.remove(src)
    # A moved folder's files moved with it: keep the top-most pairs only.
    dirs_moved = [
        (s, t)
        for s in deleted
        if a.entries[s].kind == "d"
        for t in created
        if b.entries[t].kind == "d" and s.rsplit("/", 1)[-1] == t.rsplit("/", 1)[-1]
    ]
    for s, t in dirs_moved:
        moved = [(x, y) for x, y in moved if not x.startswith(s + "/")]
        moved.append((s, t))
        deleted = [p for p in deleted if p != s and not p.startswith(s + "/")]
        created = [p for p in created if p != t and not p.startswith(t + "/")]
    # A new file with the very bytes of a file that is still there, unchanged, is its copy (a
    # copied text of many lines can be asked for by its source, where it cannot be quoted).
    copied: list[tuple[str, str]] = []
    for path in list(created):
        entry = b.entries[path]
        if entry.kind != "f" or entry.size == 0:
            continue
        same = [s for s, e in a.entries.items() if e == entry and b.entries.get(s) == e]
        if len(same) == 1:
            copied.append((same[0], path))
            created.remove(path)
    kinds = []
    if moved:
        kinds.append("moved")
    if copied:
        kinds.append("copied")
    if created:
        kinds.append("created")
    if deleted:
        kinds.append("deleted")
    if d.modified:
        kinds.append("modified")
    return Change(
        "files/" + "+".join(kinds),
        created=tuple(sorted(created)),
        deleted=tuple(sorted(deleted)),
        modified=tuple(sorted(d.modified)),
        moved=tuple(sorted(moved)),
        copied=tuple(sorted(copied)),
    )
