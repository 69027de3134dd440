"""Geany, the application no built-in task was written for, works in the sandbox as a person uses it.

It starts in an XvfbSandbox on a file, shows a real accessibility tree (its menu bar, named
toolbar buttons, a document tab and the editable Scintilla text with the file's contents), and
reacts to clicks and typing: a menu opens, typed text shows up in the tree and, once saved, in
the file; the New button opens a second document. A reset then gives back the pristine file and
a single document. One sandbox serves the module; each test restarts Geany on a fresh HOME.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from sandbox import A11yNode, Click, Key, TypeText, XvfbSandbox
from sandbox.profile import BUILTIN_DIR, WriteFile, load_profile

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]

NOTES = "first line of notes\nsecond line\n"
DEADLINE_S = 10.0


def tree(sb: XvfbSandbox) -> tuple[A11yNode, ...]:
    return sb.observe(a11y=True).a11y or ()


def wait_tree(
    sb: XvfbSandbox, what: str, test: Callable[[tuple[A11yNode, ...]], bool]
) -> tuple[A11yNode, ...]:
    """Poll the tree until ``test`` holds; fail naming ``what`` and the last tree's roles otherwise."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        nodes = tree(sb)
        if test(nodes):
            return nodes
        if time.monotonic() > deadline:
            seen = sorted({f"{n.role}:{n.name}" for n in nodes})
            pytest.fail(f"geany: {what} not seen within {DEADLINE_S} s; tree has {seen}")
        time.sleep(0.1)


def editor(nodes: tuple[A11yNode, ...]) -> A11yNode:
    found = [n for n in nodes if n.role == "text" and "editable" in n.states]
    assert found, "no editable text in Geany's tree"
    return found[0]


def start(sb: XvfbSandbox) -> tuple[A11yNode, ...]:
    obs = sb.reset(
        load_profile(BUILTIN_DIR / "geany.toml"), (WriteFile("notes.txt", NOTES.encode()),), ("notes.txt",)
    )
    assert obs.app_running
    assert "notes.txt" in (obs.window_title or ""), obs.window_title
    return wait_tree(sb, "the file's text", lambda ns: any(n.role == "text" and n.text == NOTES for n in ns))


@pytest.fixture
def geany(sb: XvfbSandbox) -> XvfbSandbox:
    """The module's sandbox with Geany freshly started on notes.txt (each test starts from there)."""
    start(sb)
    return sb


def test_tree_has_menus_buttons_tab_and_the_files_text(geany: XvfbSandbox) -> None:
    nodes = tree(geany)
    menus = {n.name for n in nodes if n.role == "menu"}
    assert {"File", "Edit", "Search", "View", "Document", "Help"} <= menus, menus
    buttons = {n.name for n in nodes if n.role == "push button"}
    assert {"New", "Open", "Close"} <= buttons, buttons
    assert [n.name for n in nodes if n.role == "page tab" and n.name.endswith(".txt")] == ["notes.txt"]
    text = editor(nodes)
    assert text.text == NOTES and "focused" in text.states


def test_clicking_a_menu_opens_its_items(geany: XvfbSandbox) -> None:
    file_menu = next(n for n in tree(geany) if n.role == "menu" and n.name == "File")
    geany.step(Click(*file_menu.center()))
    nodes = wait_tree(geany, "the File menu's items", lambda ns: any(n.role == "menu item" for n in ns))
    items = {n.name for n in nodes if n.role == "menu item"}
    assert {"New", "Open...", "Close All"} <= items, sorted(items)
    geany.step(Key(("Escape",)))
    wait_tree(geany, "the menu closed", lambda ns: not any(n.role == "menu item" for n in ns))


def test_typing_changes_the_text_and_saving_writes_the_file(geany: XvfbSandbox) -> None:
    geany.step(Click(*editor(tree(geany)).center()))
    geany.step(Key(("ctrl", "End")))
    geany.step(TypeText("typed here"))
    wait_tree(geany, "the typed text", lambda ns: editor(ns).text == NOTES + "typed here")
    assert (geany.observe().window_title or "").startswith("*"), "an edited document is marked modified"
    assert geany.read_file("notes.txt").decode() == NOTES, "nothing is written before saving"
    geany.step(Key(("ctrl", "s")))
    deadline = time.monotonic() + DEADLINE_S
    saved = NOTES + "typed here\n"  # Geany ends a saved file with a newline
    while geany.read_file("notes.txt").decode() != saved and time.monotonic() < deadline:
        time.sleep(0.1)
    assert geany.read_file("notes.txt").decode() == saved


def test_the_new_button_opens_a_second_document(geany: XvfbSandbox) -> None:
    new = next(n for n in tree(geany) if n.role == "push button" and n.name == "New")
    geany.step(Click(*new.center()))
    nodes = wait_tree(geany, "a second tab", lambda ns: len([n for n in ns if n.role == "page tab"]) >= 3)
    tabs = [n.name for n in nodes if n.role == "page tab" and n.name != "Symbols"]
    assert len(tabs) == 2 and "notes.txt" in tabs and any(t.startswith("untitled") for t in tabs), tabs


def test_reset_gives_back_the_pristine_file_and_one_document(geany: XvfbSandbox) -> None:
    geany.step(Key(("ctrl", "End")))
    geany.step(TypeText("unsaved words"))
    wait_tree(geany, "the typed text", lambda ns: editor(ns).text.endswith("unsaved words"))
    geany.write_file("notes.txt", b"changed behind its back\n")
    geany.write_file("stray.txt", b"left over\n")
    nodes = start(geany)
    assert geany.read_file("notes.txt").decode() == NOTES
    assert not geany.exec(["test", "-e", "/home/user/stray.txt"]).ok, "a reset empties HOME"
    assert [n.name for n in nodes if n.role == "page tab" and n.name != "Symbols"] == ["notes.txt"]
    assert not (geany.observe().window_title or "").startswith("*")
