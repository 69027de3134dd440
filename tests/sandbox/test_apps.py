"""Every built-in application profile starts in an XvfbSandbox, shows its window, and exposes an
accessibility tree with real widgets in it (where the profile says it has one).

One sandbox serves the whole module: each test's ``reset`` switches the application, which is
also what an agent does. The profiles tested are the files shipped in ``sandbox/profiles``
(loaded from there, so a user's profile of the same name cannot change what is tested).
"""

from __future__ import annotations

import time

import pytest
from PIL import Image

from sandbox import A11yNode, Observation, XvfbSandbox
from sandbox.profile import BUILTIN_DIR, load_profile

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]

SLOW = frozenset({"libreoffice-calc", "chromium"})
#: Roles of things a user operates; each application's tree must contain at least one.
WIDGET_ROLES = frozenset({
    "push button", "toggle button", "check box", "radio button", "combo box", "spin button",
    "menu", "menu item", "menu bar", "text", "entry", "password text", "table cell",
    "page tab", "link", "slider", "list item", "tree item",
})  # fmt: skip
#: Roles that mean a dialog is up (first-start wizard, tip of the day, crash recovery, ...).
DIALOG_ROLES = frozenset({"dialog", "alert", "file chooser"})
#: A painted window has antialiased text and icons: hundreds of colours. A window that is
#: mapped but not yet drawn, over the desktop background, has two or three.
MIN_COLOURS = 16
#: Bounded waits: an application may map its window before it paints it (Chromium) or before
#: its accessibility bridge has registered; we poll, never sleep blindly.
PAINT_DEADLINE_S = 10.0
A11Y_DEADLINE_S = 15.0
TEMPLATE_LIMIT_BYTES = 200_000


def builtin_profiles() -> list[object]:
    names = sorted(path.stem for path in BUILTIN_DIR.glob("*.toml"))
    return [pytest.param(name, id=name, marks=[pytest.mark.slow] if name in SLOW else []) for name in names]


def colours(image: Image.Image) -> int:
    """Return how many distinct colours the image has (capped at 65536)."""
    found = image.getcolors(maxcolors=1 << 16)
    return len(found) if found is not None else 1 << 16


def wait_painted(sb: XvfbSandbox, obs: Observation) -> Observation:
    deadline = time.monotonic() + PAINT_DEADLINE_S
    while colours(obs.screenshot) < MIN_COLOURS and time.monotonic() < deadline:
        time.sleep(0.05)
        obs = sb.observe()
    return obs


def wait_widgets(sb: XvfbSandbox) -> tuple[A11yNode, ...]:
    deadline = time.monotonic() + A11Y_DEADLINE_S
    while True:
        tree = sb.observe(a11y=True).a11y or ()
        if any(node.role in WIDGET_ROLES for node in tree) or time.monotonic() > deadline:
            return tree
        time.sleep(0.1)


def client_windows(sb: XvfbSandbox) -> list[str]:
    """Return the ids of the windows the window manager manages (dialogs and splashes included)."""
    result = sb.exec(["xprop", "-root", "_NET_CLIENT_LIST"])
    assert result.ok, result.stderr
    return [word.strip(",") for word in result.text.split() if word.startswith("0x")]


@pytest.mark.parametrize("name", builtin_profiles())
def test_profile_starts_shows_its_window_and_exposes_widgets(sb: XvfbSandbox, name: str) -> None:
    profile = load_profile(BUILTIN_DIR / f"{name}.toml")
    obs = sb.reset(profile)
    print(f"{name}: reset timings {sb.last_reset_timings}")  # shown with -s or on failure
    assert obs.app_running, f"{name} is not running after reset"
    assert obs.window_title is not None, f"{name}: no focused window title after reset"
    assert colours(obs.screenshot) > 1, f"{name}: reset returned a single-colour screen"

    painted = wait_painted(sb, obs)
    assert colours(painted.screenshot) >= MIN_COLOURS, (
        f"{name}: the screen still has only {colours(painted.screenshot)} colours "
        f"{PAINT_DEADLINE_S} s after the window appeared: the application did not draw itself"
    )
    windows = client_windows(sb)
    assert len(windows) == 1, f"{name}: expected only the application's window, found {windows}"

    if not profile.expect_a11y_tree:
        return
    tree = wait_widgets(sb)
    print(f"{name}: {len(tree)} accessibility nodes")
    roles = sorted({node.role for node in tree})
    assert tree, f"{name}: empty accessibility tree after {A11Y_DEADLINE_S} s"
    assert WIDGET_ROLES & set(roles), f"{name}: no widget in the accessibility tree, only roles {roles}"
    assert not DIALOG_ROLES & set(roles), (
        f"{name}: a dialog is open: {[n for n in tree if n.role in DIALOG_ROLES]}"
    )


def test_home_templates_stay_small() -> None:
    for template in sorted((BUILTIN_DIR / "templates").iterdir()):
        size = sum(path.stat().st_size for path in template.rglob("*") if path.is_file())
        assert size < TEMPLATE_LIMIT_BYTES, f"home template {template.name} is {size} bytes"
