"""The chat messages a policy sends to its model, built once for every backend.

Both the local transformers backend and the OpenAI-compatible one send the same neutral
messages: ``{"role": ..., "content": [{"type": "text", "text": ...}, {"type": "image", "image":
PIL.Image}]}``. This module builds them from a :class:`~cua.policy.PolicyInput` and an output
format, and converts them to and from the OpenAI wire form (images as ``data:`` URLs), so the
local model, a remote server and this project's own server all see the same prompt.

Layout of one prompt::

    system     the format's prompt: action space, coordinate convention, the task
    user       retrieved experience (memory) with its key screens, if any, each after its caption,
               then earlier steps as text (screenshots not shown)
    user       screenshot of step i          ┐ for the last ``history_screenshots`` steps
    assistant  what the policy emitted then  │
    user       feedback on it, if any        ┘
    user       feedback on the previous output, the accessibility tree if given, the screenshot

Consecutive messages of one role are merged, so roles alternate (some servers insist on it).

Screenshots are resized here to the size the format says the model sees
(``OutputFormat.model_image_size``), so the coordinate frame the parser assumes is the one the
model saw, whatever backend or server does the rest; the Qwen processors leave an image that is
already at its smart-resized size untouched.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

from PIL import Image

from cua.errors import CuaError
from cua.formats import OutputFormat, get_format
from cua.policy import PolicyInput

Role = Literal["system", "user", "assistant"]


class TextPart(TypedDict):
    """A piece of text in a message."""

    type: Literal["text"]
    text: str


class ImagePart(TypedDict):
    """An image in a message, already at the size the model sees."""

    type: Literal["image"]
    image: Image.Image


Part = TextPart | ImagePart


class Message(TypedDict):
    """One chat message: a role and its parts, in order."""

    role: Role
    content: list[Part]


class MessageError(CuaError, ValueError):
    """Messages in the OpenAI wire form that cannot be turned into neutral messages.

    Also a ValueError, which is what callers caught before it joined the tree (``cua.errors``).
    """


def text(value: str) -> TextPart:
    """Return a text part."""
    return {"type": "text", "text": value}


def image(value: Image.Image) -> ImagePart:
    """Return an image part."""
    return {"type": "image", "image": value}


def resolve_format(name: str) -> OutputFormat:
    """Return the built-in output format called ``name`` (UnknownFormat, a ValueError, naming the choices)."""
    return get_format(name)


def bind_format(
    fmt: OutputFormat,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    factor: int | None = None,
) -> OutputFormat:
    """Return ``fmt`` with its resize settings replaced by the given ones (where it has them).

    A format that resizes screenshots (UI-TARS, Qwen) carries ``factor``, ``min_pixels`` and
    ``max_pixels``; a backend binds them to what its processor really does so that the size the
    parser assumes is the size the model saw. Formats without those fields come back unchanged.
    """
    if not dataclasses.is_dataclass(fmt) or isinstance(fmt, type):
        return fmt
    names = {f.name for f in dataclasses.fields(fmt)}
    wanted = {"min_pixels": min_pixels, "max_pixels": max_pixels, "factor": factor}
    changes = {k: v for k, v in wanted.items() if v is not None and k in names}
    return dataclasses.replace(fmt, **changes) if changes else fmt


def resize_settings(fmt: OutputFormat) -> dict[str, int]:
    """Return the format's pinned ``factor``/``min_pixels``/``max_pixels`` (empty if it has none)."""
    out: dict[str, int] = {}
    for key in ("factor", "min_pixels", "max_pixels"):
        value = getattr(fmt, key, None)
        if isinstance(value, int):
            out[key] = value
    return out


def model_view(screenshot: Image.Image, fmt: OutputFormat) -> Image.Image:
    """Return ``screenshot`` as RGB at the size the format says the model sees it."""
    rgb = screenshot if screenshot.mode == "RGB" else screenshot.convert("RGB")
    size = fmt.model_image_size(rgb.size)
    return rgb if size == rgb.size else rgb.resize(size, Image.Resampling.BICUBIC)


#: Remembered screens are shown at most this wide: they illustrate, and coordinates on them
#: are never parsed, so they need not cost a full screenshot's tokens.
MEMORY_IMAGE_WIDTH = 640


def memory_view(shot: Image.Image) -> Image.Image:
    """Return a remembered screen as shown in the prompt: RGB, at most ``MEMORY_IMAGE_WIDTH`` wide."""
    rgb = shot.convert("RGB")
    if rgb.width <= MEMORY_IMAGE_WIDTH:
        return rgb
    height = max(1, round(rgb.height * MEMORY_IMAGE_WIDTH / rgb.width))
    return rgb.resize((MEMORY_IMAGE_WIDTH, height), Image.Resampling.BICUBIC)


def _step_text(index: int, output: str, feedback: str | None) -> str:
    line = f"Step {index}: {output.strip()}"
    if feedback:
        line += f"\n  Feedback: {feedback.strip()}"
    return line


def build_messages(inp: PolicyInput, fmt: OutputFormat, *, history_screenshots: int = 2) -> list[Message]:
    """Return the prompt for one step (see the module docstring for the layout).

    ``history_screenshots`` is how many *earlier* screenshots are shown as images besides the
    current one; earlier steps, and steps whose ``HistoryItem.screenshot`` is None, appear as text.
    ``inp.feedback`` is left out when it repeats the last history item's feedback.
    """
    if history_screenshots < 0:
        raise ValueError(f"history_screenshots must be >= 0, got {history_screenshots}")
    image_size = inp.screenshot.size
    system = fmt.system_prompt(inp.instruction, inp.screen_size, image_size)
    messages: list[Message] = [{"role": "system", "content": [text(system)]}]
    history = list(inp.history)
    first_shown = max(0, len(history) - history_screenshots)
    intro: list[Part] = []
    if inp.memory:
        intro.append(text(f"Experience from similar tasks:\n{inp.memory.strip()}\n"))
    for caption, shot in inp.memory_images:
        intro += [text(f"{caption.strip()}:\n"), image(memory_view(shot))]
    older = [_step_text(i + 1, item.output, item.feedback) for i, item in enumerate(history[:first_shown])]
    if older:
        intro.append(text("Earlier steps (screenshots not shown):\n" + "\n".join(older) + "\n"))
    if intro:
        messages.append({"role": "user", "content": intro})
    for i, item in enumerate(history[first_shown:], start=first_shown):
        if item.screenshot is None:
            messages.append({"role": "user", "content": [text(f"Step {i + 1} (screenshot not shown).\n")]})
        else:
            messages.append({"role": "user", "content": [image(model_view(item.screenshot, fmt))]})
        messages.append({"role": "assistant", "content": [text(item.output)]})
        if item.feedback:
            messages.append({"role": "user", "content": [text(f"Feedback: {item.feedback.strip()}\n")]})
    last: list[Part] = []
    repeated = bool(history) and history[-1].feedback == inp.feedback
    if inp.feedback and not repeated:
        last.append(text(f"Feedback: {inp.feedback.strip()}\n"))
    if inp.a11y_text:
        last.append(text(f"Accessibility tree:\n{inp.a11y_text.strip()}\n"))
    last.append(image(model_view(inp.screenshot, fmt)))
    messages.append({"role": "user", "content": last})
    return merge_roles(messages)


def merge_roles(messages: Sequence[Message]) -> list[Message]:
    """Return ``messages`` with consecutive messages of the same role joined into one."""
    out: list[Message] = []
    for m in messages:
        if out and out[-1]["role"] == m["role"]:
            out[-1] = {"role": m["role"], "content": [*out[-1]["content"], *m["content"]]}
        else:
            out.append({"role": m["role"], "content": list(m["content"])})
    return out


def images_of(messages: Sequence[Message]) -> list[Image.Image]:
    """Return the images of ``messages`` in prompt order."""
    return [p["image"] for m in messages for p in m["content"] if p["type"] == "image"]


def template_view(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Return ``messages`` for a processor's chat template: images become bare placeholders.

    The images themselves go to the processor separately, in :func:`images_of` order.
    """
    out: list[dict[str, Any]] = []
    for m in messages:
        parts: list[dict[str, Any]] = [
            {"type": "image"} if p["type"] == "image" else {"type": "text", "text": p["text"]}
            for p in m["content"]
        ]
        out.append({"role": m["role"], "content": parts})
    return out


def image_to_data_url(img: Image.Image) -> str:
    """Return ``img`` as a lossless ``data:image/png;base64,...`` URL."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_from_data_url(url: str) -> Image.Image:
    """Decode a ``data:image/...;base64,...`` URL into an RGB image; MessageError if it is not one."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:image/") or not head.endswith(";base64"):
        raise MessageError(
            f"only base64 data URLs of images are accepted (data:image/png;base64,...), got {url[:40]!r}"
        )
    try:
        raw = base64.b64decode(payload, validate=True)
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (binascii.Error, OSError, Image.DecompressionBombError) as exc:
        raise MessageError(f"the image data URL does not decode to an image: {exc}") from exc
    return img if img.mode == "RGB" else img.convert("RGB")


def to_openai(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Return ``messages`` in the OpenAI chat form: text-only content as one string, images as data URLs."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if all(p["type"] == "text" for p in m["content"]):
            out.append({"role": m["role"], "content": "".join(_texts(m["content"]))})
            continue
        parts: list[dict[str, Any]] = []
        for p in m["content"]:
            if p["type"] == "image":
                parts.append({"type": "image_url", "image_url": {"url": image_to_data_url(p["image"])}})
            else:
                parts.append({"type": "text", "text": p["text"]})
        out.append({"role": m["role"], "content": parts})
    return out


def _texts(parts: Sequence[Part]) -> list[str]:
    return [p["text"] for p in parts if p["type"] == "text"]


def from_openai(data: object) -> list[Message]:
    """Parse OpenAI chat ``messages`` (text and data-URL image parts) into neutral messages.

    Raises MessageError, naming the offending message, for anything else (remote image URLs are
    refused: a server here never fetches from the network).
    """
    if not isinstance(data, list) or not data:
        raise MessageError("'messages' must be a non-empty list")
    out: list[Message] = []
    for n, m in enumerate(data):
        if not isinstance(m, Mapping):
            raise MessageError(f"messages[{n}] must be an object")
        role = m.get("role")
        if role not in ("system", "user", "assistant"):
            raise MessageError(f"messages[{n}].role must be system, user or assistant, got {role!r}")
        content = m.get("content")
        parts: list[Part] = []
        if isinstance(content, str):
            parts.append(text(content))
        elif isinstance(content, list):
            for k, p in enumerate(content):
                parts.append(_part_from_openai(p, f"messages[{n}].content[{k}]"))
        else:
            raise MessageError(f"messages[{n}].content must be a string or a list of parts")
        out.append({"role": role, "content": parts})
    return out


def _part_from_openai(p: object, where: str) -> Part:
    if not isinstance(p, Mapping):
        raise MessageError(f"{where} must be an object")
    kind = p.get("type")
    if kind == "text" and isinstance(p.get("text"), str):
        return text(p["text"])
    if kind == "image_url":
        ref = p.get("image_url")
        url = ref.get("url") if isinstance(ref, Mapping) else ref
        if not isinstance(url, str):
            raise MessageError(f"{where}.image_url must hold a 'url' string")
        try:
            return image(image_from_data_url(url))
        except MessageError as exc:
            raise MessageError(f"{where}: {exc}") from None
    raise MessageError(f"{where} must be a text part or an image_url part, got type {kind!r}")


__all__ = [
    "ImagePart",
    "Message",
    "MessageError",
    "Part",
    "TextPart",
    "bind_format",
    "build_messages",
    "from_openai",
    "image",
    "image_from_data_url",
    "image_to_data_url",
    "images_of",
    "merge_roles",
    "model_view",
    "resize_settings",
    "resolve_format",
    "template_view",
    "text",
    "to_openai",
]
