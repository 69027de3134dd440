"""The shared prompt builder: layout, the screenshot window, resizing, and the OpenAI wire form."""

from __future__ import annotations

import base64
import io
import itertools

import pytest
from PIL import Image

from cua.formats import get_format
from cua.models.messages import (
    MessageError,
    bind_format,
    build_messages,
    from_openai,
    image_from_data_url,
    images_of,
    resize_settings,
    to_openai,
)
from cua.policy import HistoryItem, PolicyInput

SCREEN = (1280, 800)
TINY_UITARS = bind_format(get_format("ui-tars-1.5"), min_pixels=3136, max_pixels=18816)


def shot(color: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", SCREEN, color)


def step_input(history: int, *, feedback: str | None = None, memory: str | None = None) -> PolicyInput:
    items = [
        HistoryItem(output=f"out {i}", screenshot=shot((i, 0, 0)), feedback=f"fb {i}" if i == 1 else None)
        for i in range(history)
    ]
    return PolicyInput(
        "Click OK.", shot((0, 0, 255)), SCREEN, history=items, feedback=feedback, memory=memory
    )


def all_text(messages: list) -> str:  # type: ignore[type-arg]
    return "".join(p["text"] for m in messages for p in m["content"] if p["type"] == "text")


def test_system_prompt_first_then_the_current_screenshot_last() -> None:
    messages = build_messages(step_input(0), TINY_UITARS, history_screenshots=2)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Click OK." in messages[0]["content"][0]["text"]  # type: ignore[typeddict-item]
    last = messages[-1]["content"][-1]
    assert last["type"] == "image"
    # Resized to what the format says the model sees (168x84 with these pins), so coordinates agree.
    assert last["image"].size == TINY_UITARS.model_image_size(SCREEN) == (168, 84)


@pytest.mark.parametrize(("history", "k", "images"), [(0, 2, 1), (1, 2, 2), (5, 2, 3), (5, 0, 1), (3, 5, 4)])
def test_window_shows_k_earlier_screenshots_and_older_steps_as_text(
    history: int, k: int, images: int
) -> None:
    messages = build_messages(step_input(history), TINY_UITARS, history_screenshots=k)
    assert len(images_of(messages)) == images
    roles = [m["role"] for m in messages]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles  # roles alternate
    text = all_text(messages)
    for i in range(history):
        assert f"out {i}" in text  # every step's output is there, as text or as an assistant turn
    hidden = max(0, history - k)
    if hidden:
        assert "Earlier steps (screenshots not shown)" in text
        assert f"Step {hidden}: out {hidden - 1}" in text
    else:
        assert "Earlier steps" not in text


def test_feedback_memory_and_a11y_appear_once() -> None:
    inp = step_input(2, feedback="fb 1", memory="Last time the OK button was blue.")
    messages = build_messages(inp, TINY_UITARS, history_screenshots=2)
    text = all_text(messages)
    assert text.count("fb 1") == 1  # the last history item's feedback is not repeated
    assert "Experience from similar tasks:\nLast time the OK button was blue." in text
    inp = PolicyInput("t", shot((1, 1, 1)), SCREEN, feedback="Bad syntax.", a11y_text="push button OK")
    text = all_text(build_messages(inp, TINY_UITARS))
    assert "Feedback: Bad syntax." in text and "Accessibility tree:\npush button OK" in text


def test_remembered_screens_follow_the_memory_text_with_their_captions_and_are_small() -> None:
    remembered = Image.new("RGB", (1280, 800), (9, 9, 9))
    inp = PolicyInput("t", shot((1, 1, 1)), SCREEN, memory="1) click on push button 'OK'",
                      memory_images=[("Remembered screen before step 1", remembered)])  # fmt: skip
    messages = build_messages(inp, TINY_UITARS)
    parts = [p for m in messages[1:] for p in m["content"]]
    kinds = [p["type"] for p in parts]
    assert kinds == ["text", "text", "image", "image"]  # memory, caption, its screen, the current screen
    assert parts[1]["text"].startswith("Remembered screen before step 1:")  # type: ignore[typeddict-item]
    assert parts[2]["image"].size == (640, 400)  # type: ignore[typeddict-item]
    assert images_of(messages)[-1].size == TINY_UITARS.model_image_size(SCREEN)  # still the last image


def test_history_item_without_screenshot_is_text_only() -> None:
    inp = PolicyInput("t", shot((1, 1, 1)), SCREEN, history=[HistoryItem("out 0", None)])
    messages = build_messages(inp, TINY_UITARS, history_screenshots=2)
    assert len(images_of(messages)) == 1
    assert "Step 1 (screenshot not shown)" in all_text(messages)


def test_formats_without_resizing_keep_the_screenshot_size() -> None:
    messages = build_messages(step_input(0), get_format("pyautogui"))
    assert images_of(messages)[0].size == SCREEN
    assert resize_settings(get_format("pyautogui")) == {}
    assert resize_settings(TINY_UITARS) == {"factor": 28, "min_pixels": 3136, "max_pixels": 18816}


def test_openai_round_trip_keeps_text_and_pixels() -> None:
    messages = build_messages(step_input(3), TINY_UITARS, history_screenshots=2)
    wire = to_openai(messages)
    assert isinstance(wire[0]["content"], str)  # text-only messages travel as strings
    parts = [p for m in wire if isinstance(m["content"], list) for p in m["content"]]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert len(urls) == 3 and all(u.startswith("data:image/png;base64,") for u in urls)
    back = from_openai(wire)
    assert all_text(back) == all_text(messages)
    for a, b in zip(images_of(back), images_of(messages), strict=True):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ([], "non-empty list"),
        ([{"role": "tool", "content": "x"}], "role"),
        ([{"role": "user", "content": 3}], "string or a list"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}],
            "data URL",
        ),
        ([{"role": "user", "content": [{"type": "audio"}]}], "text part or an image_url"),
    ],
)
def test_from_openai_refuses_what_it_cannot_use(data: object, needle: str) -> None:
    with pytest.raises(MessageError, match=needle):
        from_openai(data)


def test_data_url_decoding_refuses_garbage_and_converts_to_rgb() -> None:
    with pytest.raises(MessageError, match="does not decode"):
        image_from_data_url("data:image/png;base64," + base64.b64encode(b"not a png").decode())
    buf = io.BytesIO()
    Image.new("RGBA", (4, 4), (1, 2, 3, 4)).save(buf, format="PNG")
    img = image_from_data_url("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
    assert img.mode == "RGB" and img.size == (4, 4)
