"""Locators find the same widget again after it moved."""

from __future__ import annotations

from cua.locators import Locator, locate_point, node_at, resolve
from sandbox import A11yNode


def node(
    role: str, name: str, bbox: tuple[int, int, int, int], path: tuple[int, ...], depth: int = 2
) -> A11yNode:
    return A11yNode(role, name, "", ("enabled",), bbox, depth, path, "app")


TREE = [
    node("frame", "Editor", (100, 100, 600, 400), (0,), 0),
    node("panel", "", (100, 130, 600, 40), (0, 0), 1),
    node("push button", "Save", (110, 135, 80, 30), (0, 0, 1)),
    node("push button", "Open", (200, 135, 80, 30), (0, 0, 2)),
]


def test_node_at_prefers_the_smallest_widget() -> None:
    hit = node_at(TREE, 150, 150)
    assert hit is not None and hit.name == "Save"
    assert node_at(TREE, 5, 5) is None


def test_locator_survives_a_moved_window() -> None:
    loc = locate_point(TREE, 130, 140)
    assert loc.role == "push button" and loc.name == "Save" and loc.describe() == "push button 'Save'"
    moved = [
        A11yNode(
            n.role,
            n.name,
            n.text,
            n.states,
            (n.bbox[0] + 250, n.bbox[1] + 60, n.bbox[2], n.bbox[3]),
            n.depth,
            n.path,
            n.app,
        )
        for n in TREE
    ]
    x, y = resolve(loc, moved)  # type: ignore[misc]
    assert (x, y) == (130 + 250, 140 + 60)
    assert Locator.from_json(loc.to_json()) == loc


def test_a_point_without_a_node_has_no_identity() -> None:
    loc = locate_point(TREE, 5, 5)
    assert loc.role is None and resolve(loc, TREE) is None
