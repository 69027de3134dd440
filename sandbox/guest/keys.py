"""Canonical key names, the aliases the host accepts for them, their pyautogui and X keysym names.

Standard library only: the guest agent imports this file inside the sandbox, the host imports it
as ``sandbox.guest.keys``. The guest accepts only canonical names; the host maps aliases first.
"""

from __future__ import annotations

import string

_NAMED = (
    "enter", "tab", "space", "backspace", "delete", "insert", "escape",
    "home", "end", "pageup", "pagedown", "up", "down", "left", "right",
    "ctrl", "shift", "alt", "super", "capslock", "numlock", "scrolllock",
    "printscreen", "pause", "menu",
)  # fmt: skip
_PUNCTUATION = "`-=[]\\;',./!@#$%^&*()_+{}|:\"<>?~"

#: Every key name the guest accepts.
CANONICAL_KEYS: frozenset[str] = frozenset(
    (
        *_NAMED,
        *(f"f{i}" for i in range(1, 25)),
        *string.ascii_lowercase,
        *string.digits,
        *_PUNCTUATION,
    )
)

#: Modifier keys, which a hotkey holds while it presses the last key.
MODIFIERS: frozenset[str] = frozenset({"ctrl", "shift", "alt", "super"})

#: Other spellings (lower-cased) that models and people use, mapped to canonical names.
ALIASES: dict[str, str] = {
    "return": "enter", "kp_enter": "enter", "newline": "enter",
    "esc": "escape",
    "control": "ctrl", "ctl": "ctrl", "ctrlleft": "ctrl", "ctrlright": "ctrl",
    "control_l": "ctrl", "control_r": "ctrl", "lctrl": "ctrl", "rctrl": "ctrl",
    "shiftleft": "shift", "shiftright": "shift", "shift_l": "shift", "shift_r": "shift",
    "altleft": "alt", "altright": "alt", "alt_l": "alt", "alt_r": "alt", "option": "alt",
    "win": "super", "winleft": "super", "winright": "super", "windows": "super",
    "cmd": "super", "command": "super", "meta": "super", "super_l": "super", "super_r": "super",
    "del": "delete", "ins": "insert",
    "pgup": "pageup", "page_up": "pageup", "prior": "pageup",
    "pgdn": "pagedown", "page_down": "pagedown", "next": "pagedown",
    "arrowup": "up", "arrowdown": "down", "arrowleft": "left", "arrowright": "right",
    "up_arrow": "up", "down_arrow": "down", "left_arrow": "left", "right_arrow": "right",
    "bksp": "backspace", "back_space": "backspace",
    "spacebar": "space", " ": "space",
    "caps_lock": "capslock", "num_lock": "numlock", "scroll_lock": "scrolllock",
    "print": "printscreen", "prtsc": "printscreen", "prtscr": "printscreen",
    "apps": "menu", "contextmenu": "menu",
    "plus": "+", "minus": "-", "comma": ",", "period": ".", "slash": "/", "backslash": "\\",
    "semicolon": ";", "apostrophe": "'", "quote": "'", "grave": "`", "equal": "=",
    "bracketleft": "[", "bracketright": "]",
}  # fmt: skip

#: Canonical names whose pyautogui name differs; every other canonical name is its own.
PYAUTOGUI_NAMES: dict[str, str] = {"escape": "esc", "super": "winleft", "menu": "apps"}

#: X keysym names of the canonical names longer than one character (a one-character name is
#: its own keysym: Latin-1 keysyms are the code points).
KEYSYM_NAMES: dict[str, str] = {
    "enter": "Return", "tab": "Tab", "space": "space", "backspace": "BackSpace",
    "delete": "Delete", "insert": "Insert", "escape": "Escape", "home": "Home", "end": "End",
    "pageup": "Page_Up", "pagedown": "Page_Down",
    "up": "Up", "down": "Down", "left": "Left", "right": "Right",
    "ctrl": "Control_L", "shift": "Shift_L", "alt": "Alt_L", "super": "Super_L",
    "capslock": "Caps_Lock", "numlock": "Num_Lock", "scrolllock": "Scroll_Lock",
    "printscreen": "Print", "pause": "Pause", "menu": "Menu",
    **{f"f{i}": f"F{i}" for i in range(1, 25)},
}  # fmt: skip


def canonical_key(name: str) -> str | None:
    """Return the canonical name for ``name`` (canonical or alias, any case), or None."""
    if name in CANONICAL_KEYS:
        return name
    low = name.lower()
    if low in CANONICAL_KEYS:
        return low
    return ALIASES.get(low)
