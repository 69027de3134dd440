"""Locators find the same widget again after it moved."""

from __future__ import annotations

from pathlib import Path

import pytest

from cua import actions as act
from cua.eval.suite import evaluate
from cua.locators import (
    Locator,
    locate_point,
    merge_candidates,
    node_at,
    resolve,
    text_candidates,
    words,
)
from cua.policies.scripted import ScriptedPolicy
from cua.replay import replay
from cua.store import TrajectoryStore
from cua.tasks import find_task, start
from sandbox import A11yNode, XvfbSandbox
from sandbox.actions import TypeText
from sandbox.base import TextBox
from sandbox.ocr import ocr_available


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


def test_a_label_padded_with_spaces_is_the_same_label() -> None:
    padded = [node("menu item", "Save As...      ", (110, 200, 120, 20), (0, 1, 3))]
    assert resolve(Locator(role="menu item", name="Save As..."), padded) == (170, 210)
    assert resolve(Locator(name="Save As..."), padded) == (170, 210)  # by its label alone
    assert resolve(Locator(role="menu item", name="Save As"), padded) is None  # a prefix is not the label


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


# -- text read by OCR, where there is no accessible node ----------------------------------------
LINE = TextBox("$ echo walnut meadow", (40, 60, 200, 20), 0.97)


def test_a_point_on_text_without_a_node_is_located_by_its_word() -> None:
    loc = locate_point(TREE, 145, 70, [LINE])  # outside every node, on "walnut"
    assert loc.source == "ocr" and loc.text == "walnut" and loc.role is None
    assert loc.describe() == "text 'walnut'"
    assert Locator.from_json(loc.to_json()) == loc
    moved = [TextBox(LINE.text, (LINE.bbox[0] + 210, LINE.bbox[1] + 45, 200, 20), 0.95)]
    x, y = resolve(loc, TREE, moved)  # type: ignore[misc]
    assert abs(x - (145 + 210)) <= 1 and y == 70 + 45  # the same spot in the word (offsets are rounded)
    assert resolve(loc, TREE) is None  # without the OCR boxes there is nothing to find it by
    assert locate_point(TREE, 600, 700, [LINE]).source is None  # no text there either: a point


def test_ocr_words_are_matched_exactly_before_loosely() -> None:
    boxes = [TextBox("Walnut, meadow", (0, 0, 140, 20), 0.9), TextBox("walnut", (0, 100, 60, 20), 0.9)]
    assert [w.text for w in words(boxes[0])] == ["Walnut,", "meadow"]
    found = text_candidates(Locator(text="walnut", bbox=(0, 0, 60, 20)), boxes)
    assert found[0].bbox[1] == 100  # the exact word first, though the other is nearer
    assert text_candidates(Locator(text="meadows"), boxes)[0].text == "meadow"  # 1 letter misread
    assert text_candidates(Locator(text="quartz"), boxes) == []


def test_candidates_merge_nodes_and_the_text_they_do_not_tell() -> None:
    boxes = [
        TextBox("Save", (120, 140, 40, 16), 0.99),  # the Save button's label: the tree has it
        TextBox("total 572", (300, 300, 90, 18), 0.93),  # drawn text no node tells
    ]
    merged = merge_candidates(TREE, boxes)
    assert [c.source for c in merged] == ["a11y"] * len(TREE) + ["ocr"]
    assert merged[-1].text == "total 572" and merged[-1].role == "text" and merged[-1].label() == "total 572"
    assert merged[2].label() == "Save" and merged[2].score == 1.0
    assert merge_candidates(None, boxes)[0].source == "ocr"


@pytest.mark.x11
@pytest.mark.skipif(not ocr_available(), reason="the `ocr` extra is not installed")
def test_a_terminal_run_that_clicks_on_text_replays_in_a_moved_window(
    sb: XvfbSandbox, tmp_path: Path
) -> None:
    """xterm has no accessibility tree: the recorded clicks are found again by the words OCR reads.

    The run selects a file name printed in the terminal (triple click) and pastes it (middle
    click) after ``touch``; the replay, in a moved and resized window, must click the word
    where it is now, or the pasted name, and the file, are wrong.
    """
    _, task = find_task("xterm.touch/0")
    name = str(task.params["name"])
    show = f"echo {name.upper()} | tr A-Z a-z\n"  # the name appears, in lower case, only as output
    start(sb, task)
    sb.step(TypeText(show))
    found = text_candidates(Locator(text=name), sb.observe(ocr=True).text)
    assert found, f"{name} not read on the screen"
    x, y = found[0].center()
    script = [
        act.TypeText(show),
        act.Click(x, y, count=3),  # select the line holding the name
        act.TypeText("touch "),
        act.Click(x, y, button="middle"),  # paste it
        act.TypeText("\n"),
        act.Done(),
    ]
    store = TrajectoryStore(tmp_path)
    report = evaluate(
        [task],
        lambda t, box, seed: ScriptedPolicy(script, format_name="pyautogui"),
        policy_name="scripted",
        store=store,
    )
    run_id = report.episodes[0].run_id
    assert report.episodes[0].passed and run_id, report.episodes[0]
    hits = [s.hit for s in store.steps(run_id) if s.hit]
    assert [h.get("source") for h in hits] == ["ocr", "ocr"] and {h.get("text") for h in hits} == {name}

    result = replay(store, run_id, sb, move_window=True)
    assert result.window is not None and result.window.shift_px >= 200
    assert result.stats.handed_over_at is None, result.stats.reason
    assert result.stats.relocated == 2 and result.stats.max_shift_px >= 150
    assert result.passed, result.reasons
