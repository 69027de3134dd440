"""A sandbox screen shown in a widget: the live view, and a recorded step's screenshot.

It paints a ``QImage`` scaled to fit (aspect kept) and draws marks on it (where the next or the
recorded action points). In take-over mode the person's mouse and keyboard in the widget become
``cua.actions`` actions in screen coordinates, emitted as ``personAction`` for the caller to
hand to ``AgentControl.person_step`` (the agent's loop runs and records them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from cua import actions as act


@dataclass(frozen=True)
class Mark:
    """A point on the screen (screen pixels) to draw, with a short label."""

    x: int
    y: int
    label: str
    to: tuple[int, int] | None = None
    """The end of a drag."""


def pil_to_qimage(image: Image.Image) -> QImage:
    """Return a QImage copy of a Pillow image (safe to make on any thread)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    data = rgb.tobytes()
    w, h = rgb.size
    return QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def marks_of(actions: Sequence[act.Action]) -> list[Mark]:
    """Return the marks of the actions that point somewhere (clicks, moves, drags, scrolls)."""
    marks: list[Mark] = []
    for a in actions:
        if isinstance(a, act.Drag):
            marks.append(Mark(a.x, a.y, "drag", (a.to_x, a.to_y)))
        elif isinstance(a, act.Click):
            marks.append(Mark(a.x, a.y, f"{a.button} x{a.count}" if a.count > 1 else a.button))
        elif isinstance(a, act.Move | act.Scroll):
            marks.append(Mark(a.x, a.y, a.type))
    return marks


def marks_of_json(action: Mapping[str, Any] | None) -> list[Mark]:
    """Return the marks of a recorded step's action JSON (unreadable actions give none)."""
    try:
        return marks_of(act.recorded_actions(action))
    except act.ActionError:
        return []


_QT_KEYS: dict[int, str] = {
    Qt.Key.Key_Return: "enter",
    Qt.Key.Key_Enter: "enter",
    Qt.Key.Key_Tab: "tab",
    Qt.Key.Key_Backspace: "backspace",
    Qt.Key.Key_Delete: "delete",
    Qt.Key.Key_Escape: "escape",
    Qt.Key.Key_Home: "home",
    Qt.Key.Key_End: "end",
    Qt.Key.Key_PageUp: "pageup",
    Qt.Key.Key_PageDown: "pagedown",
    Qt.Key.Key_Up: "up",
    Qt.Key.Key_Down: "down",
    Qt.Key.Key_Left: "left",
    Qt.Key.Key_Right: "right",
    Qt.Key.Key_Insert: "insert",
    Qt.Key.Key_Space: "space",
    **{getattr(Qt.Key, f"Key_F{i}"): f"f{i}" for i in range(1, 13)},
}
_MODIFIER_KEYS = {Qt.Key.Key_Control, Qt.Key.Key_Shift, Qt.Key.Key_Alt, Qt.Key.Key_Meta, Qt.Key.Key_AltGr}


def key_action(key: int, text: str, modifiers: Qt.KeyboardModifier) -> act.Action | None:
    """Return the action of one key press in the view (None for a bare modifier or an unknown key)."""
    if key in _MODIFIER_KEYS:
        return None
    held = [
        name
        for flag, name in (
            (Qt.KeyboardModifier.ControlModifier, "ctrl"),
            (Qt.KeyboardModifier.AltModifier, "alt"),
            (Qt.KeyboardModifier.MetaModifier, "super"),
        )
        if modifiers & flag
    ]
    named = _QT_KEYS.get(key)
    if held:
        base = named or (chr(key).lower() if 32 < key < 127 else None)
        if base is None:
            return None
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            held.append("shift")
        return act.Hotkey((*held, base))
    if named is not None and named != "space":
        return act.Key(named)
    if text and text.isprintable():
        return act.TypeText(text)
    return None


class ScreenView(QWidget):
    """Paints a screen image with marks; in take-over mode turns input into actions (``personAction``)."""

    personAction = Signal(object)  # noqa: N815 (Qt's naming)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._marks: list[Mark] = []
        self._placeholder = "no screen yet"
        self.frames_shown = 0
        """How many images were shown (the live view's frame counter)."""
        self._takeover = False
        self.setMinimumSize(320, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # -- content ------------------------------------------------------------------------------
    def set_image(self, image: QImage | None, marks: Sequence[Mark] | None = None) -> None:
        """Show ``image`` (None: the placeholder text) and, if given, replace the marks."""
        self._image = image
        if marks is not None:
            self._marks = list(marks)
        if image is not None:
            self.frames_shown += 1
        self.update()

    def set_marks(self, marks: Sequence[Mark]) -> None:
        """Replace the marks drawn over the image."""
        self._marks = list(marks)
        self.update()

    def set_placeholder(self, text: str) -> None:
        """Set the text shown while there is no image."""
        self._placeholder = text
        self.update()

    @property
    def image(self) -> QImage | None:
        """Return the image shown (None before the first)."""
        return self._image

    @property
    def marks(self) -> list[Mark]:
        """Return the marks drawn."""
        return list(self._marks)

    def set_takeover(self, on: bool) -> None:
        """Turn take-over mode on (input goes to the sandbox) or off."""
        self._takeover = on
        self.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)
        if on:
            self.setFocus()
        self.update()

    # -- geometry -----------------------------------------------------------------------------
    def _target(self) -> QRectF:
        if self._image is None:
            return QRectF(self.rect())
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def to_screen(self, pos: QPointF) -> tuple[int, int] | None:
        """Return the screen pixel under widget position ``pos`` (None outside the image)."""
        if self._image is None:
            return None
        t = self._target()
        if not t.contains(pos):
            return None
        x = int((pos.x() - t.x()) * self._image.width() / t.width())
        y = int((pos.y() - t.y()) * self._image.height() / t.height())
        return min(x, self._image.width() - 1), min(y, self._image.height() - 1)

    def to_widget(self, x: float, y: float) -> QPointF:
        """Return the widget position of screen pixel (x, y)."""
        t = self._target()
        assert self._image is not None
        return QPointF(
            t.x() + x * t.width() / self._image.width(), t.y() + y * t.height() / self._image.height()
        )

    # -- painting -----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        """Paint the image scaled to fit, its marks, and a frame in take-over mode."""
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#202124"))
        if self._image is None:
            p.setPen(QColor("#bbbbbb"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            p.end()
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(self._target(), self._image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        for m in self._marks:
            centre = self.to_widget(m.x, m.y)
            p.setPen(QPen(QColor("#ff1744"), 3))
            p.drawEllipse(centre, 12, 12)
            p.drawLine(centre + QPointF(-18, 0), centre + QPointF(18, 0))
            p.drawLine(centre + QPointF(0, -18), centre + QPointF(0, 18))
            if m.to is not None:
                p.drawLine(centre, self.to_widget(*m.to))
            box = p.fontMetrics().boundingRect(m.label).adjusted(-4, -2, 4, 2)
            box.moveTopLeft((centre + QPointF(16, -32)).toPoint())
            p.fillRect(box, QColor(0, 0, 0, 170))
            p.setPen(QColor("#ffffff"))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, m.label)
        if self._takeover:
            p.setPen(QPen(QColor("#ffab00"), 4))
            p.drawRect(self._target().adjusted(2, 2, -2, -2))
        p.end()

    # -- the person's input (take-over) ------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """In take-over mode, a click on the image is a click in the sandbox."""
        self.setFocus()
        point = self.to_screen(event.position()) if self._takeover else None
        if point is None:
            super().mousePressEvent(event)
            return
        button = {Qt.MouseButton.RightButton: "right", Qt.MouseButton.MiddleButton: "middle"}.get(
            event.button(), "left"
        )
        self.personAction.emit(act.Click(point[0], point[1], button))  # type: ignore[arg-type]

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """In take-over mode, a double click is a double click in the sandbox."""
        point = self.to_screen(event.position()) if self._takeover else None
        if point is None:
            super().mouseDoubleClickEvent(event)
            return
        self.personAction.emit(act.Click(point[0], point[1], "left", 2))

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        """In take-over mode, the wheel scrolls the sandbox under the pointer."""
        point = self.to_screen(event.position()) if self._takeover else None
        if point is None:
            super().wheelEvent(event)
            return
        up = event.angleDelta().y() > 0
        self.personAction.emit(act.Scroll(point[0], point[1], "up" if up else "down", 3))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """In take-over mode, keys are typed (text) or pressed (named keys, hotkeys) in the sandbox."""
        action = key_action(event.key(), event.text(), event.modifiers()) if self._takeover else None
        if action is None:
            super().keyPressEvent(event)
            return
        self.personAction.emit(action)


__all__ = ["Mark", "ScreenView", "key_action", "marks_of", "marks_of_json", "pil_to_qimage"]
