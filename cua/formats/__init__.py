"""Model output formats: each owns its prompt, its parser and its coordinate convention.

One module per format, all behind :class:`OutputFormat`:

- ``ui-tars-1.5`` (:mod:`.uitars`): ``Thought: ... Action: click(start_box='(x,y)')``, pixels of
  the smart-resized screenshot (factor 28).
- ``qwen2.5-vl`` (:mod:`.qwen25vl`): ``<tool_call>`` JSON for the ``computer_use`` tool, pixels of
  the processor-resized screenshot (factor 28).
- ``qwen3-vl`` (:mod:`.qwen3vl`): the same tool calls on a 0–999 grid (Qwen3-VL, EvoCUA).
- ``pyautogui`` and ``pyautogui-relative`` (:mod:`.pyautogui_code`): a python block of pyautogui
  calls plus WAIT / DONE / FAIL (OSWorld, OpenCUA), on screen pixels or fractions of the screen.

Parsers raise only :class:`ParseError` subclasses (see :mod:`.errors`), each with ``feedback`` for
the model. :mod:`.geometry` holds ``smart_resize`` and the coordinate mapping they share.
"""

from __future__ import annotations

from cua.formats.errors import (
    BadArgument,
    CoordinateOutOfRange,
    MalformedAction,
    NoAction,
    ParseError,
    RenderError,
    UnknownAction,
    UnknownFormat,
    UnsupportedAction,
)
from cua.formats.geometry import CoordinateSpace, smart_resize
from cua.formats.protocol import OutputFormat, ParsedOutput
from cua.formats.pyautogui_code import PYAUTOGUI, PYAUTOGUI_RELATIVE, PyAutoGUIFormat
from cua.formats.qwen3vl import QWEN3_VL, Qwen3VLFormat
from cua.formats.qwen25vl import QWEN25_VL, Qwen25VLFormat
from cua.formats.uitars import UI_TARS, UITarsFormat

#: The built-in formats by name.
FORMATS: dict[str, OutputFormat] = {
    f.name: f for f in (UI_TARS, QWEN25_VL, QWEN3_VL, PYAUTOGUI, PYAUTOGUI_RELATIVE)
}


def get_format(name: str) -> OutputFormat:
    """Return the built-in format called ``name``; UnknownFormat (a ValueError) naming the choices if none."""
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormat(f"unknown output format {name!r}; choose one of {', '.join(FORMATS)}") from None


__all__ = [
    "FORMATS",
    "PYAUTOGUI",
    "PYAUTOGUI_RELATIVE",
    "QWEN3_VL",
    "QWEN25_VL",
    "UI_TARS",
    "BadArgument",
    "CoordinateOutOfRange",
    "CoordinateSpace",
    "MalformedAction",
    "NoAction",
    "OutputFormat",
    "ParseError",
    "ParsedOutput",
    "PyAutoGUIFormat",
    "Qwen3VLFormat",
    "Qwen25VLFormat",
    "RenderError",
    "UITarsFormat",
    "UnknownAction",
    "UnsupportedAction",
    "get_format",
    "smart_resize",
]
