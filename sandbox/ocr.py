"""Text read off screenshots, for screens that expose no accessibility tree (terminals, canvases).

The engine is RapidOCR (``rapidocr-onnxruntime``, the ``ocr`` extra): its wheel carries the
PP-OCRv4 detection and recognition models as ``.onnx`` files, so it works offline; it is loaded
on first use, once per process, and shared by every sandbox (calls are serialised).

Importing this module needs only Pillow (every backend imports it); numpy and the engine are
imported when text is first read.

A full pass over a 1280x800 screen full of text costs about four seconds of CPU (two cores), most
of it recognising the lines, or half that with lines scaled to REC_HEIGHT 32 px instead of the
model's 48; after an action little of the screen changes. :class:`ScreenText`
therefore keeps the last frame it read and its boxes, and for a new frame re-reads only the
changed areas, each widened by a margin and grown over the old boxes it touches, which are
replaced by what the area reads. Results are cached by screenshot hash, so observing an
unchanged screen again costs a hash.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PIL import Image

from sandbox import errors
from sandbox.base import Observation, TextBox

if TYPE_CHECKING:
    import numpy as np

Rect = tuple[int, int, int, int]
"""(x, y, width, height) in screen pixels."""

#: Pixels added around a changed area, (horizontal, vertical): enough to take in the rest of a
#: word or the neighbouring character cells, so the detector sees a line as a full pass would.
MARGIN = (32, 6)
#: Above this share of the screen changed, one full pass is cheaper than several crops.
FULL_PASS_SHARE = 0.5
#: Side of the tiles the frame difference is computed on.
TILE = 8
#: Screenshots whose boxes are kept (by hash).
CACHE_SIZE = 64
#: What importing OpenCV sets in the environment for its bundled Qt.
_QT_VARS = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")
#: Boxes the recogniser scores below this are dropped (RapidOCR's default).
MIN_SCORE = 0.5
#: Height (pixels) lines are scaled to for recognition. The PP-OCRv4 recogniser was trained at
#: 48; screen text is 10-16 px tall, and at 32 it reads terminal screens as well or better
#: (scripts/bench_ocr.py: word recall 1.0 against 0.85 before space repair) for under half the
#: CPU, recognition being most of a full pass.
REC_HEIGHT = 32


def ocr_available() -> bool:
    """Return whether the OCR engine can be imported (the ``ocr`` extra is installed)."""
    return importlib.util.find_spec("rapidocr_onnxruntime") is not None


class OcrEngine:
    """The OCR models, loaded on first use; ``read`` returns text boxes in screen pixels."""

    def __init__(self, threads: int | None = None, rec_height: int = REC_HEIGHT) -> None:
        """Prepare an engine; ``threads`` caps onnxruntime's threads per model (default: all cores).

        ``rec_height`` is the height lines are scaled to for recognition (REC_HEIGHT).
        """
        self._threads = threads
        self._rec_height = rec_height
        self._engine: Any = None
        self._lock = threading.Lock()
        self.load_ms: float | None = None
        """How long loading the models took (None until the first read)."""

    def _load(self) -> Any:
        if self._engine is None:
            t0 = time.monotonic()
            # opencv-python (pulled by the engine) points Qt's plugin and font paths at its own
            # bundled Qt on import, which would break a Qt app (ui/) in this process: undo that.
            saved = {k: os.environ.get(k) for k in _QT_VARS}
            try:
                from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped]
            except ImportError as exc:
                raise errors.SandboxUnavailable(
                    f"OCR needs the `ocr` extra ({exc}); install it with "
                    "`.venv/bin/pip install -e '.[ocr]'` (scripts/setup_python.sh does)"
                ) from exc
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            options: dict[str, Any] = {
                # Never upscale a crop to 736 px (the default 'min' limit): read it at its size.
                "det_limit_type": "max",
                "det_limit_side_len": 2000,
                "use_cls": False,  # screen text is never upside down
                "rec_img_shape": [3, self._rec_height, 320],
            }
            if self._threads is not None:
                options["intra_op_num_threads"] = self._threads
                options["inter_op_num_threads"] = 1
            self._engine = RapidOCR(**options)
            self.load_ms = (time.monotonic() - t0) * 1000
        return self._engine

    def read(self, image: Image.Image, region: Rect | None = None) -> list[TextBox]:
        """Return the text boxes of ``image`` (or of ``region`` of it), top to bottom, left to right."""
        ox, oy = 0, 0
        if region is not None:
            ox, oy, w, h = region
            image = image.crop((ox, oy, ox + w, oy + h))
        if image.width < 4 or image.height < 4:
            return []
        import numpy as np  # with the engine: numpy comes with the `ocr` extra

        pixels = np.asarray(image.convert("RGB"))[:, :, ::-1]  # the engine takes BGR like OpenCV
        with self._lock:
            engine = self._load()
            result, _ = engine(np.ascontiguousarray(pixels), use_cls=False)
        gray = np.asarray(image.convert("L"), dtype=np.int16)
        boxes = []
        for points, text, score in result or ():
            if float(score) < MIN_SCORE or not str(text).strip():
                continue
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            x0, y0 = max(int(min(xs)), 0), max(int(min(ys)), 0)
            x1, y1 = min(round(max(xs)), image.width), min(round(max(ys)), image.height)
            if x1 > x0 and y1 > y0:
                said = repair_spaces(str(text), gray[y0:y1, x0:x1])
                boxes.append(TextBox(said, (x0 + ox, y0 + oy, x1 - x0, y1 - y0), round(float(score), 4)))
        return sort_boxes(boxes)


def repair_spaces(text: str, crop: np.ndarray[Any, np.dtype[np.int16]]) -> str:
    """Put back the spaces the recogniser dropped between words (it often does on terminals).

    The box's ink, column by column, splits into runs separated by gaps wider than most of a
    character; when there are more runs than words, the letters are dealt to the runs in
    proportion to their widths. Only a split of monospaced text is used (every run a whole
    number of character cells, every gap about one cell, every letter accounted for); anything
    doubtful, proportional fonts included, is left as read.
    """
    import numpy as np

    letters = text.replace(" ", "")
    if len(letters) < 2 or crop.size == 0:
        return text
    ink = np.any(np.abs(crop - np.median(crop)) > 48, axis=0)
    columns = np.flatnonzero(ink)
    if columns.size == 0:
        return text
    pitch = (columns[-1] - columns[0] + 1) / len(text)
    runs: list[tuple[int, int]] = []
    start = prev = int(columns[0])
    for c in [*map(int, columns[1:]), -1]:
        if c == -1 or c - prev - 1 >= 0.6 * pitch:
            runs.append((start, prev + 1))
            start = c
        prev = c
    if len(runs) <= len(text.split()):
        return text
    span = runs[-1][1] - runs[0][0]
    widths = [b - a for a, b in runs]
    gaps = [runs[i + 1][0] - runs[i][1] for i in range(len(runs) - 1)]
    # letters occupy the span less the word gaps; each gap is about one character cell
    cell = (span - sum(gaps)) / len(letters) if letters else 0.0
    if cell <= 0:
        return text
    counts = [max(round(w / cell), 1) for w in widths]
    if sum(counts) != len(letters):
        return text
    # monospaced only: every run a whole number of cells, every gap about one cell
    if any(abs(w / cell - n) > 0.3 for w, n in zip(widths, counts, strict=True)):
        return text
    if any(not 0.5 <= g / cell <= 1.6 for g in gaps):
        return text
    # the spaces the recogniser did read must fall between runs too
    read_ends = set(np.cumsum([len(w) for w in text.split()]).tolist())
    if not read_ends <= set(np.cumsum(counts).tolist()):
        return text
    words, at = [], 0
    for n in counts:
        words.append(letters[at : at + n])
        at += n
    return " ".join(words)


_DEFAULT: OcrEngine | None = None
_DEFAULT_LOCK = threading.Lock()


def default_engine() -> OcrEngine:
    """Return the process-wide engine (its models load on the first read)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = OcrEngine()
        return _DEFAULT


def sort_boxes(boxes: Iterable[TextBox]) -> list[TextBox]:
    """Return boxes in reading order: by line (centre height, 8 px bands), then left to right."""
    return sorted(boxes, key=lambda b: ((b.bbox[1] + b.bbox[3] // 2) // 8, b.bbox[0], b.bbox[1]))


def image_hash(image: Image.Image) -> str:
    """Return a digest of the screenshot's pixels and size (the cache key)."""
    digest = hashlib.blake2b(image.tobytes(), digest_size=16)
    digest.update(f"{image.mode}{image.size}".encode())
    return digest.hexdigest()


# -- areas --------------------------------------------------------------------------------------
def _intersects(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _union(a: Rect, b: Rect) -> Rect:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return x0, y0, x1 - x0, y1 - y0


def _clip(rect: Rect, size: tuple[int, int]) -> Rect:
    x0, y0 = max(rect[0], 0), max(rect[1], 0)
    x1, y1 = min(rect[0] + rect[2], size[0]), min(rect[1] + rect[3], size[1])
    return x0, y0, max(x1 - x0, 0), max(y1 - y0, 0)


def merge_rects(rects: Iterable[Rect]) -> list[Rect]:
    """Return the rectangles with every overlapping pair replaced by their bounding box."""
    out: list[Rect] = []
    for rect in rects:
        if rect[2] <= 0 or rect[3] <= 0:
            continue
        merged = True
        while merged:
            merged = False
            for i, other in enumerate(out):
                if _intersects(rect, other):
                    rect = _union(rect, out.pop(i))
                    merged = True
                    break
        out.append(rect)
    return out


def changed_regions(before: Image.Image, after: Image.Image, tile: int = TILE) -> list[Rect]:
    """Return the areas where two screenshots of the same size differ (whole tiles, merged).

    The exact complement of the X server's damage: drawing identical pixels again is no change,
    and what an application drew after a step had settled is.
    """
    if before.size != after.size:
        raise ValueError(f"screenshots of different sizes: {before.size} and {after.size}")
    import numpy as np

    a = np.asarray(before.convert("RGB"))
    b = np.asarray(after.convert("RGB"))
    diff = (a != b).any(axis=2)
    h, w = diff.shape
    rows, cols = -(-h // tile), -(-w // tile)
    padded = np.zeros((rows * tile, cols * tile), dtype=bool)
    padded[:h, :w] = diff
    tiles: np.ndarray[Any, np.dtype[np.bool_]] = np.any(padded.reshape(rows, tile, cols, tile), axis=(1, 3))
    rects: list[Rect] = []
    for r in np.flatnonzero(np.any(tiles, axis=1)):
        row = np.flatnonzero(tiles[r])
        # one rectangle per run of changed tiles in the row; neighbours join through merge_rects
        start = prev = int(row[0])
        for c in [*map(int, row[1:]), -2]:
            if c != prev + 1:
                rects.append(_clip((start * tile, int(r) * tile, (prev - start + 1) * tile, tile), (w, h)))
                start = c
            prev = c
    return merge_rects(_grow(rects, (1, 1), (w, h)))


def _grow(rects: Iterable[Rect], margin: tuple[int, int], size: tuple[int, int]) -> list[Rect]:
    mx, my = margin
    return [_clip((x - mx, y - my, w + 2 * mx, h + 2 * my), size) for x, y, w, h in rects]


def _touches(box: Rect, area: Rect) -> bool:
    """Whether a text box lies in ``area``: overlapping it, over at least half the box's height.

    (Boxes of neighbouring lines overlap a few pixels; that is not touching.)
    """
    if not _intersects(box, area):
        return False
    overlap = min(box[1] + box[3], area[1] + area[3]) - max(box[1], area[1])
    return overlap * 2 >= box[3]


def reread_regions(
    previous: Sequence[TextBox],
    damage: Iterable[Rect],
    size: tuple[int, int],
    margin: tuple[int, int] = MARGIN,
) -> tuple[list[Rect], list[TextBox]]:
    """Return (the areas to read again, merged; the old boxes they replace).

    An area is the damage widened by ``margin`` and grown over the old boxes that lie in it, so
    that no line is cut in two; those boxes are replaced by what the area reads.
    """
    cores = merge_rects(_grow(damage, margin, size))
    replaced = [b for b in previous if any(_touches(b.bbox, c) for c in cores)]
    regions = merge_rects(
        _clip(_union_all([c, *(b.bbox for b in replaced if _touches(b.bbox, c))]), size) for c in cores
    )
    return regions, replaced


def _union_all(rects: Sequence[Rect]) -> Rect:
    out = rects[0]
    for rect in rects[1:]:
        out = _union(out, rect)
    return out


def _inside(point: tuple[int, int], rect: Rect) -> bool:
    return rect[0] <= point[0] < rect[0] + rect[2] and rect[1] <= point[1] < rect[1] + rect[3]


def update_boxes(
    engine: OcrEngine,
    image: Image.Image,
    previous: Sequence[TextBox],
    damage: Iterable[Rect],
    margin: tuple[int, int] = MARGIN,
) -> tuple[list[TextBox], list[Rect]]:
    """Return the boxes of ``image`` from those of the frame before and the areas drawn since.

    The old boxes outside the re-read areas are kept; the areas are read again and their boxes
    take the place of those they replace (a box read there whose centre lies in a kept box is a
    sliver of a neighbouring line, and dropped). Returns (boxes, the areas read); one area
    covering the whole screen when so much changed that a full pass was cheaper.
    """
    w, h = image.size
    regions, replaced = reread_regions(previous, damage, image.size, margin)
    if not regions:
        return list(previous), []
    if sum(r[2] * r[3] for r in regions) > FULL_PASS_SHARE * w * h:
        return engine.read(image), [(0, 0, w, h)]
    gone = set(map(id, replaced))
    kept = [b for b in previous if id(b) not in gone]
    found = [
        box
        for region in regions
        for box in engine.read(image, region)
        if not any(_inside(box.center(), k.bbox) for k in kept)
    ]
    return sort_boxes([*kept, *found]), regions


def box_f1(
    found: Sequence[TextBox], truth: Sequence[TextBox], min_iou: float = 0.5, min_ratio: float = 1.0
) -> float:
    """Return the F1 of ``found`` against ``truth``.

    A match is a box at IoU >= ``min_iou`` with the same text, or (``min_ratio`` < 1) a text at
    least that alike once spaces are left out: the recogniser reads a line a little differently
    when its box moves by a pixel, and that is noise, not a different text.
    """
    if not found and not truth:
        return 1.0
    unused = list(truth)
    hits = 0
    for box in found:
        for i, other in enumerate(unused):
            if _iou(box.bbox, other.bbox) >= min_iou and _alike(box.text, other.text, min_ratio):
                hits += 1
                unused.pop(i)
                break
    if hits == 0:
        return 0.0
    precision, recall = hits / len(found), hits / len(truth)
    return 2 * precision * recall / (precision + recall)


def _alike(a: str, b: str, min_ratio: float) -> bool:
    if a == b:
        return True
    if min_ratio >= 1.0:
        return False
    a, b = a.replace(" ", ""), b.replace(" ", "")
    return a == b or difflib.SequenceMatcher(None, a, b).ratio() >= min_ratio


def _iou(a: Rect, b: Rect) -> float:
    if not _intersects(a, b):
        return 0.0
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


# -- one screen over time -----------------------------------------------------------------------
class ScreenText:
    """The text of one sandbox's screen: a cache by screenshot hash and the last frame read.

    ``read`` returns the boxes of a screenshot: from the cache when this screenshot was read
    before, else incrementally from the last frame (only the changed areas are read again), else
    by a full pass. Thread-safe; one per sandbox.
    """

    def __init__(
        self, engine: OcrEngine | None = None, cache_size: int = CACHE_SIZE, margin: tuple[int, int] = MARGIN
    ) -> None:
        """Use ``engine`` (default: the process-wide one) and keep ``cache_size`` screenshots' boxes.

        ``margin``: pixels added around each changed area before it is read again.
        """
        self._engine = engine
        self.margin = margin
        self._cache: OrderedDict[str, tuple[TextBox, ...]] = OrderedDict()
        self._cache_size = cache_size
        self._last: tuple[Image.Image, tuple[TextBox, ...]] | None = None
        self._lock = threading.Lock()
        self.last_read: dict[str, Any] = {}
        """How the last ``read`` went: 'how' ('cache', 'incremental' or 'full'), 'regions', 'ms'."""

    @property
    def engine(self) -> OcrEngine:
        """Return the engine in use."""
        if self._engine is None:
            self._engine = default_engine()
        return self._engine

    def read(self, image: Image.Image, damage: Sequence[Rect] | None = None) -> tuple[TextBox, ...]:
        """Return the text boxes of ``image``.

        ``damage``: the areas drawn since the last frame read, when the caller knows them
        exactly; by default they are found by comparing the two frames, which also catches what
        was drawn after a step had settled.
        """
        t0 = time.monotonic()
        key = image_hash(image)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self._last = (image, cached)
                self.last_read = {"how": "cache", "regions": [], "ms": (time.monotonic() - t0) * 1000}
                return cached
            last = self._last
            if last is not None and last[0].size == image.size:
                areas = list(damage) if damage is not None else changed_regions(last[0], image)
                found, regions = update_boxes(self.engine, image, last[1], areas, self.margin)
                how = "full" if regions == [(0, 0, *image.size)] else "incremental"
            else:
                found, regions, how = self.engine.read(image), [(0, 0, *image.size)], "full"
            boxes = tuple(found)
            self._cache[key] = boxes
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            self._last = (image, boxes)
            self.last_read = {"how": how, "regions": regions, "ms": (time.monotonic() - t0) * 1000}
            return boxes

    def forget(self) -> None:
        """Drop the cache and the last frame (e.g. when the screen size changes)."""
        with self._lock:
            self._cache.clear()
            self._last = None


def with_text(screen: ScreenText, obs: Observation, timings: dict[str, float]) -> Observation:
    """Return ``obs`` carrying the text boxes of its screenshot; adds 'ocr' (ms) to ``timings``."""
    t0 = time.monotonic()
    boxes = screen.read(obs.screenshot)
    timings["ocr"] = (time.monotonic() - t0) * 1000
    return replace(obs, text=boxes)
