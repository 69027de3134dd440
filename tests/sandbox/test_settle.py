"""Settling by the X server's DAMAGE events, and the polling fallback.

A step waits until the X server reports no more drawing (or, where DAMAGE is missing or
``CUA_SETTLE=poll`` is set on the host, until screenshots stop changing), and reports the drawn
areas as ``Observation.damage``.
"""

from __future__ import annotations

import time

import pytest
from PIL import Image

from sandbox import Click, TypeText, XvfbSandbox
from sandbox.errors import ProfileError
from sandbox.profile import SettleWindows, find_profile, parse_profile

pytestmark = [pytest.mark.x11, pytest.mark.timeout(180)]


def button(sb: XvfbSandbox, name: str) -> tuple[int, int, int, int]:
    nodes = sb.observe(a11y=True).a11y or ()
    for node in nodes:
        if node.role == "toggle button" and node.name.strip() == name:
            return node.bbox
    raise AssertionError(f"no galculator button {name!r} in the a11y tree")


def fresh_frame(sb: XvfbSandbox) -> Image.Image:
    """A frame captured anew by the guest (not "unchanged since the last one" by damage)."""
    sb._last_image = None  # the next observe asks for the whole frame
    return sb.observe().screenshot


def overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_damage_reported_for_a_button_click_and_empty_for_a_click_on_nothing(sb: XvfbSandbox) -> None:
    sb.reset("galculator")
    seven = button(sb, "7")
    x, y, w, h = seven
    obs = sb.step(Click(x + w // 2, y + h // 2))
    assert sb.settle_mode == "damage"
    assert obs.changed
    assert obs.damage, "a click on a calculator button draws something"
    assert any(overlaps(r, seven) for r in obs.damage), (obs.damage, seven)
    width, height = sb.screen_size
    assert all(
        rx >= 0 and ry >= 0 and rx + rw <= width and ry + rh <= height for rx, ry, rw, rh in obs.damage
    )
    assert len(obs.damage) <= 32

    sb.step(Click(5, height - 5))  # the bare desktop: the window loses focus and redraws once
    before = sb.observe()
    quiet = sb.step(Click(5, height - 5))
    assert not quiet.changed
    assert quiet.damage == ()
    assert quiet.screenshot.tobytes() == before.screenshot.tobytes()


def test_settled_frame_after_typing_equals_a_frame_taken_later(sb: XvfbSandbox) -> None:
    sb.reset("mousepad")
    for text in ("hello settle", " and more text", "\nline two"):
        settled = sb.step(TypeText(text))
        assert settled.changed and settled.damage
        time.sleep(1.0)
        later = fresh_frame(sb)
        assert settled.screenshot.tobytes() == later.tobytes(), f"settled too early after {text!r}"


def test_polling_fallback_when_damage_is_turned_off(sb: XvfbSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sb.reset("galculator")
    x, y, w, h = button(sb, "8")
    monkeypatch.setenv("CUA_SETTLE", "poll")
    obs = sb.step(Click(x + w // 2, y + h // 2))
    assert sb.settle_mode == "poll"
    assert obs.changed
    assert obs.damage == ()  # polling knows no areas
    time.sleep(1.0)
    # Above the button: its tooltip shows below it once the pointer has rested 500 ms.
    above = (0, 0, sb.screen_size[0], y)
    assert obs.screenshot.crop(above).tobytes() == fresh_frame(sb).crop(above).tobytes()
    height = sb.screen_size[1]
    sb.step(Click(5, height - 5))
    quiet = sb.step(Click(5, height - 5))
    assert sb.settle_mode == "poll"
    assert not quiet.changed
    monkeypatch.delenv("CUA_SETTLE")
    assert sb.step(Click(5, height - 5)).changed is False
    assert sb.settle_mode == "damage"


def test_profiles_carry_settle_windows() -> None:
    assert find_profile("gnumeric").settle.quiet_ms > SettleWindows().quiet_ms
    assert find_profile("mousepad").settle == SettleWindows()
    assert find_profile("xterm").settle.idle_ms < SettleWindows().idle_ms
    prof = parse_profile(
        {
            "name": "x",
            "command": ["true"],
            "ready": {"title": "x"},
            "settle": {"quiet_ms": 120, "idle_ms": 40},
        }
    )
    assert prof.settle == SettleWindows(quiet_ms=120.0, idle_ms=40.0)
    with pytest.raises(ProfileError, match="settle"):
        parse_profile({"name": "x", "command": ["true"], "ready": {"title": "x"}, "settle": {"quiet": 1}})
    with pytest.raises(ProfileError, match=r"settle\.idle_ms"):
        parse_profile(
            {"name": "x", "command": ["true"], "ready": {"title": "x"}, "settle": {"idle_ms": "fast"}}
        )
