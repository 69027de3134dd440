"""OCR of sandbox screens: recall on a real xterm, incremental updates, the cache, every backend."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from sandbox import XvfbSandbox
from sandbox.actions import TypeText
from sandbox.base import TextBox
from sandbox.fake import FakeSandbox, FakeScreen
from sandbox.ocr import (
    BAND_ROWS,
    OcrEngine,
    ScreenText,
    band_tops,
    band_window,
    bgr_pixels,
    default_engine,
    ink_columns,
    ocr_available,
    repair_spaces,
)

pytestmark = pytest.mark.skipif(not ocr_available(), reason="the `ocr` extra is not installed")

ROOT = Path(__file__).resolve().parents[2]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
LINES = [
    "harbor velvet quartz meadow lantern cobalt",
    "saffron thistle ember glacier copper window",
    "river garden silver pocket marble candle",
    "rocket forest violet planet shadow bridge",
    "umbrella valley walnut zipper anchor basket",
    "cactus dragon feather guitar helmet igloo",
]


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    """The process-wide engine, its models loaded once for the module."""
    eng = default_engine()
    eng.load()
    return eng


def words_of(boxes: tuple[TextBox, ...] | list[TextBox]) -> list[str]:
    return [w for b in boxes for w in b.text.split()]


def recall(expected: list[str], boxes: tuple[TextBox, ...] | list[TextBox]) -> float:
    found = words_of(boxes)
    hits = 0
    for word in (w for line in expected for w in line.split()):
        if word in found:
            found.remove(word)
            hits += 1
    return hits / sum(len(line.split()) for line in expected)


def drawn(lines: list[str], size: tuple[int, int] = (640, 400)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 18)
    for i, line in enumerate(lines):
        draw.text((20, 20 + 30 * i), line, fill="black", font=font)
    return image


# -- pure parts ---------------------------------------------------------------------------------
def test_a_band_reads_only_the_columns_with_something_on_them() -> None:
    blank = Image.new("RGB", (1280, 800), "white")
    window = band_window(bgr_pixels(blank), 64)  # type: ignore[arg-type]
    assert window.shape == (BAND_ROWS + 32, 1280, 3) and ink_columns(window) == (0, 0)
    marked = blank.copy()
    ImageDraw.Draw(marked).rectangle((600, 70, 650, 80), fill="black")
    left, right = ink_columns(band_window(bgr_pixels(marked), 64))  # type: ignore[arg-type]
    assert left <= 600 - 16 and right >= 651 + 16 and (right - left) % 32 == 0 and right - left <= 160
    # the edges of the screen repeat: the first band reads 16 rows above the screen
    assert band_window(bgr_pixels(marked), 0).shape[0] == BAND_ROWS + 32  # type: ignore[arg-type]
    assert list(band_tops(800)) == list(range(0, 800, BAND_ROWS))


def test_spaces_dropped_by_the_recogniser_are_put_back() -> None:
    image = drawn(["alpha bravo charlie"], (400, 60))
    gray = __import__("numpy").asarray(image.convert("L"), dtype="int16")
    crop = gray[18:46, 18:260]
    assert repair_spaces("alphabravo charlie", crop) == "alpha bravo charlie"
    assert repair_spaces("alpha bravo charlie", crop) == "alpha bravo charlie"
    assert repair_spaces("x", crop) == "x"


# -- the engine on drawn and real screens -------------------------------------------------------
def test_a_drawn_screen_is_read_with_its_boxes(engine: OcrEngine) -> None:
    boxes = engine.read(drawn(LINES))
    assert recall(LINES, boxes) >= 0.95, [b.text for b in boxes]
    first = next(b for b in boxes if "harbor" in b.text)
    x, y, _, h = first.bbox
    assert 10 <= x <= 30 and 10 <= y <= 30 and h < 40 and 0.5 <= first.score <= 1.0


def test_the_cache_answers_a_screenshot_seen_before(engine: OcrEngine) -> None:
    text = ScreenText(engine)
    image = drawn(LINES)
    first = text.read(image)
    assert text.last_read["how"] == "full"
    again = text.read(image.copy())  # same pixels, another object
    assert again is first and text.last_read["how"] == "cache"


def test_the_engine_needs_no_network(tmp_path: Path) -> None:
    """Loading the models and reading a screen with every socket refused (offline wheel)."""
    image = tmp_path / "screen.png"
    drawn(LINES[:2]).save(image)
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network access attempted')\n"
        "socket.socket.connect = refuse\nsocket.socket.connect_ex = refuse\n"
        "socket.create_connection = refuse\nsocket.getaddrinfo = refuse\n"
        "from PIL import Image\nfrom sandbox.ocr import OcrEngine\n"
        f"print('|'.join(b.text for b in OcrEngine().read(Image.open({str(image)!r}))))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_proxy") and not k.endswith("_PROXY")}
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "harbor" in res.stdout and "thistle" in res.stdout


def test_observe_ocr_on_the_fake_sandbox(engine: OcrEngine) -> None:
    screens = {"start": FakeScreen(drawn(LINES, (1280, 800)), "Words")}
    with FakeSandbox(screens) as fake:
        fake.reset("words")
        assert fake.observe().text == ()
        obs = fake.observe(ocr=True)
        assert recall(LINES, obs.text) >= 0.95
        assert obs.timings["ocr"] > 0 and obs.a11y is None
        assert fake.observe(ocr=True).text is obs.text  # the same screenshot: from the cache


# -- a real xterm -------------------------------------------------------------------------------
@pytest.mark.x11
def test_xterm_text_is_read_then_updated_incrementally(sb: XvfbSandbox, engine: OcrEngine) -> None:
    sb.reset("xterm")
    sb.write_file("known.txt", ("\n".join(LINES) + "\n").encode())
    sb.step(TypeText("clear; cat known.txt\n"))
    time.sleep(0.2)
    obs = sb.observe(ocr=True)
    assert obs.text and recall(LINES, obs.text) >= 0.95, [b.text for b in obs.text]
    assert sb.observe(ocr=True).text is obs.text  # nothing changed: the cache

    step = sb.step(TypeText("echo walnut 4096 meadow\n"))
    assert step.text == ()  # a step reads no text unless asked
    time.sleep(0.2)
    text = ScreenText(engine)
    text.read(obs.screenshot)
    later = sb.observe()
    incremental = text.read(later.screenshot)
    assert text.last_read["how"] == "incremental"
    assert text.last_read["bands"] <= 4  # only the bands around the new lines, of 13
    full = engine.read(later.screenshot)
    assert list(incremental) == full
    new = [b.text for b in incremental if b.bbox[1] > max(b.bbox[1] for b in obs.text if "cactus" in b.text)]
    assert any("walnut 4096 meadow" in t for t in new), new
    # the sandbox's own reader, which read other frames before, reads the same
    again = sb.observe(ocr=True)
    assert again.text == text.read(again.screenshot)


def test_reading_again_only_what_changed_gives_exactly_a_full_pass(engine: OcrEngine) -> None:
    before = drawn(LINES, (1280, 800))
    after = drawn([*LINES, "kettle ladder magnet"], (1280, 800))
    text = ScreenText(engine)
    text.read(before)
    assert text.last_read["how"] == "full"
    boxes = text.read(after)
    assert text.last_read["how"] == "incremental"
    # the new line (rows 170-190) lies in the windows of two bands; nothing else is read
    assert text.last_read["bands"] <= 3
    assert all(y <= 190 and y + h >= 170 for _, y, _, h in text.last_read["regions"])
    assert list(boxes) == engine.read(after)  # the same boxes and texts, not merely alike
    assert "kettle ladder magnet" in [b.text for b in boxes]
    # what lies clear of the change is read the same on both frames
    far = [b for b in engine.read(before) if b.bbox[1] + b.bbox[3] < 170 - 32]
    assert far and far == [b for b in boxes if b.bbox[1] + b.bbox[3] < 170 - 32]


def test_a_line_across_two_bands_is_read_once_and_whole(engine: OcrEngine) -> None:
    """Wherever a line falls against a band border, it is read once, whole (both bands see it)."""
    for face, size, every in ((FONT, 13, 1), (FONT.replace("SansMono", "Sans"), 24, 2)):
        font = ImageFont.truetype(face, size)
        for top in range(BAND_ROWS - 2 * size, BAND_ROWS + 8, every):
            image = Image.new("RGB", (1280, 800), "white")
            ImageDraw.Draw(image).text((40, top), "marble pepper", fill="black", font=font)
            boxes = engine.read(image)
            assert [b.text for b in boxes] == ["marble pepper"], (size, top, boxes)
            assert ScreenText(engine).read(image) == tuple(boxes)
