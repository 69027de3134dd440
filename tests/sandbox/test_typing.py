"""Typing is exact in every application: all printable ASCII and a sample of other scripts.

Read back the way each application keeps it: the file ``cat`` wrote in xterm, mousepad's text
view and a Chromium text area through the accessibility tree.
"""

from __future__ import annotations

import time

import pytest

from sandbox import Click, Key, TypeText, XvfbSandbox
from sandbox.profile import WriteFile

pytestmark = [pytest.mark.x11, pytest.mark.timeout(240)]

PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
SAMPLE = PRINTABLE + " héllo ✓ 你好 <title>x</title>"


def texts(sb: XvfbSandbox) -> list[str]:
    return [node.text for node in sb.observe(a11y=True).a11y or () if node.text]


def wait_for(read: object, want: str, timeout_s: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while time.monotonic() < deadline:
        seen = read()  # type: ignore[operator]
        if want in seen:
            break
        time.sleep(0.2)
    return seen


def test_xterm_receives_every_character(sb: XvfbSandbox) -> None:
    sb.reset("xterm")
    sb.step(TypeText("cat > ~/typed.txt\n"))
    sb.step(TypeText(SAMPLE + "\n"))
    sb.step(Key(("ctrl", "d")))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not sb.exec(["test", "-s", "/home/user/typed.txt"]).ok:
        time.sleep(0.1)
    time.sleep(0.3)
    assert sb.read_file("/home/user/typed.txt").decode() == SAMPLE + "\n"


def test_mousepad_receives_every_character(sb: XvfbSandbox) -> None:
    sb.reset("mousepad")
    sb.step(TypeText(SAMPLE))
    assert SAMPLE in wait_for(lambda: texts(sb), SAMPLE)


def test_chromium_receives_every_character(sb: XvfbSandbox) -> None:
    page = b"<title>typing</title><textarea autofocus rows=4 cols=80></textarea>"
    # A file: page (the sandbox's Chromium refuses data: URLs, docs/security.md).
    sb.reset("chromium", [WriteFile("typing.html", page)], app_args=["file:///home/user/typing.html"])
    deadline = time.monotonic() + 15
    area = None
    while area is None and time.monotonic() < deadline:
        area = next((n for n in sb.observe(a11y=True).a11y or () if n.role == "entry" and not n.name), None)
        time.sleep(0.1)
    assert area is not None, "the text area never showed"
    x, y, w, h = area.bbox
    sb.step(Click(x + w // 2, y + h // 2))
    sb.step(TypeText(SAMPLE))
    assert SAMPLE in wait_for(lambda: texts(sb), SAMPLE)
