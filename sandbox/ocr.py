"""Text read off screenshots, for screens that expose no accessibility tree (terminals, canvases).

The engine is RapidOCR (``rapidocr-onnxruntime``, the ``ocr`` extra): its wheel carries the
PP-OCRv4 detection and recognition models as ``.onnx`` files, so it works offline; it is loaded
on first use, once per process, and shared by every sandbox (calls are serialised).

Importing this module needs only Pillow (every backend imports it); numpy and the engine are
imported when text is first read.

What is read where is a function of the pixels nearby only, so that reading again only what
changed gives exactly what a full pass gives. A full pass over the whole frame is not: the
detector's squeeze-and-excitation blocks pool the whole image, so a change in one corner moved
boxes by a pixel and changed their text elsewhere (a full pass agreed with itself on the
unchanged parts of two frames at F1 0.81), and the recogniser padded each line to the widest of
the batch it happened to share. So the screen is read in horizontal bands: band k *owns* the
rows ``[k*BAND_ROWS, (k+1)*BAND_ROWS)`` and is read with BAND_MARGIN rows of context above and
below; it keeps the lines whose centre it owns; each line is recognised alone. A band's result
depends on its own pixels only, and :class:`ScreenText` keeps it by their hash: after an action
only the bands whose pixels changed are read again (the exact complement of the X server's
damage), and an unchanged screen costs a hash.

A full pass over a 1280x800 screen full of text costs about 1.5 s of CPU (two cores), most of
it recognising the lines, at REC_HEIGHT 32 px instead of the model's 48.
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

#: Rows a band owns: it keeps the lines whose centre lies in them.
BAND_ROWS = 64
#: Rows of context read above and below what a band owns. A line up to twice this tall, centred
#: anywhere in the band's own rows, lies wholly in what the band reads (screen text is 10-20 px).
BAND_MARGIN = 16
#: Rows past its own that a band keeps a line centred in: two bands may see a line on their
#: border a pixel apart, each centred in the other's rows; both keep it and join_bands keeps one.
BAND_SLACK = 3
#: Bands' results kept (by the hash of their pixels): a few dozen screens' worth.
BAND_CACHE_SIZE = 1024
#: Lines' recognitions kept (by the hash of the line's pixels).
LINE_CACHE_SIZE = 4096
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

    def load(self) -> None:
        """Load the models now (otherwise the first read that finds something to read does)."""
        with self._lock:
            self._load()

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
                # one line at a time: in a batch each line is padded to the widest, and what a
                # line reads then depends on the lines beside it
                "rec_batch_num": 1,
            }
            if self._threads is not None:
                options["intra_op_num_threads"] = self._threads
                options["inter_op_num_threads"] = 1
            self._engine = RapidOCR(**options)
            self.load_ms = (time.monotonic() - t0) * 1000
        return self._engine

    def read(self, image: Image.Image) -> list[TextBox]:
        """Return the text boxes of ``image``, top to bottom, left to right: every band read afresh."""
        frame = bgr_pixels(image)
        if frame is None:
            return []
        return join_bands(
            place_band(self.read_window(band_window(frame, top)), top, frame.shape)
            for top in band_tops(frame.shape[0])
        )

    def read_window(self, window: np.ndarray, lines: LineCache | None = None) -> list[TextBox]:
        """Return the lines a band owns, in the coordinates of its ``window`` (see band_window).

        A line is the band's when its centre lies in the rows the band owns (past BAND_MARGIN),
        or within BAND_SLACK rows of them (see join_bands).
        Each line is recognised alone (not padded to the width of others), and ``lines``, when
        given, keeps recognitions by the line's pixels.
        """
        import numpy as np

        left, right = ink_columns(window)
        if right <= left:
            return []
        with self._lock:
            engine = self._load()
            found, _ = engine.text_det(np.ascontiguousarray(window[:, left:right]))
            if found is None or len(found) == 0:
                return []
            found = found + np.array([left, 0], dtype=found.dtype)
            owned = [
                points
                for points in found
                if BAND_MARGIN - BAND_SLACK
                <= float(np.mean(points[:, 1]))
                < BAND_MARGIN + BAND_ROWS + BAND_SLACK
            ]
            crops = engine.get_crop_img_list(window, owned) if owned else []
            keys = [_line_key(crop) for crop in crops]
            said: dict[str, tuple[str, float]] = {}
            todo = [i for i, key in enumerate(keys) if lines is None or key not in lines]
            if todo:
                results, _ = engine.text_rec([crops[i] for i in todo])
                said.update(
                    (keys[i], (str(text), float(score)))
                    for i, (text, score) in zip(todo, results, strict=True)
                )
        if lines is not None:
            fresh = dict(said)
            said.update((key, lines.get(key)) for key in keys if key not in fresh)
            for key, value in fresh.items():
                lines.put(key, value)
        gray = None
        boxes = []
        for points, key in zip(owned, keys, strict=True):
            text, score = said[key]
            if score < MIN_SCORE or not text.strip():
                continue
            xs, ys = points[:, 0], points[:, 1]
            x0, y0 = max(int(xs.min()), 0), max(int(ys.min()), 0)
            x1, y1 = (
                min(round(float(xs.max())), window.shape[1]),
                min(round(float(ys.max())), window.shape[0]),
            )
            if x1 > x0 and y1 > y0:
                if gray is None:
                    gray = (window[:, :, :3] @ np.array([0.114, 0.587, 0.299])).astype(np.int16)
                said_text = repair_spaces(text, gray[y0:y1, x0:x1])
                boxes.append(TextBox(said_text, (x0, y0, x1 - x0, y1 - y0), round(score, 4)))
        return boxes


class LineCache:
    """Recognised lines by the hash of their pixels, the least recently used dropped past ``size``."""

    def __init__(self, size: int = LINE_CACHE_SIZE) -> None:
        """Keep at most ``size`` lines."""
        self._size = size
        self._items: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str) -> tuple[str, float]:
        """Return the (text, score) kept for ``key`` (which must be there)."""
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: str, value: tuple[str, float]) -> None:
        """Keep ``value`` for ``key``."""
        self._items[key] = value
        while len(self._items) > self._size:
            self._items.popitem(last=False)


def _line_key(crop: np.ndarray) -> str:
    digest = hashlib.blake2b(crop.tobytes(), digest_size=16)
    digest.update(str(crop.shape).encode())
    return digest.hexdigest()


# -- bands --------------------------------------------------------------------------------------
def bgr_pixels(image: Image.Image) -> np.ndarray | None:
    """Return the screenshot as a BGR array (the engine's order), or None when too small to read."""
    if image.width < 4 or image.height < 4:
        return None
    import numpy as np

    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def band_tops(height: int) -> range:
    """Return the first row each band owns, for a screen ``height`` rows tall."""
    return range(0, height, BAND_ROWS)


def band_window(frame: np.ndarray, top: int) -> np.ndarray:
    """Return what the band owning rows from ``top`` reads: BAND_MARGIN rows more above and below.

    Rows past the screen's edges repeat its edge, and the width is padded the same way to a
    multiple of 32 (the detector's stride), so that every band is read at one size, unscaled.
    """
    import numpy as np

    height, width = frame.shape[:2]
    y0, y1 = top - BAND_MARGIN, top + BAND_ROWS + BAND_MARGIN
    pad_top, pad_bottom = max(-y0, 0), max(y1 - height, 0)
    pad_right = -width % 32
    window = frame[max(y0, 0) : min(y1, height)]
    if pad_top or pad_bottom or pad_right:
        window = np.pad(window, ((pad_top, pad_bottom), (0, pad_right), (0, 0)), mode="edge")
    return np.ascontiguousarray(window)


def ink_columns(window: np.ndarray) -> tuple[int, int]:
    """Return the columns [left, right) of a band's window worth reading for text.

    Those from the first to the last column with a pixel unlike the window's top-left corner
    (the background, mostly), widened by BAND_MARGIN on each side for context and to a multiple
    of 32 (the detector's stride). The detector's cost is proportional to what it reads, and
    screens are mostly background beside their text; the columns depend on the window's pixels
    only, so a band still reads the same wherever and whenever it is read.
    """
    import numpy as np

    width = window.shape[1]
    ink = np.flatnonzero(np.any(window != window[0, 0], axis=(0, 2)))
    if ink.size == 0:
        return 0, 0
    left = max(int(ink[0]) - BAND_MARGIN, 0)
    right = min(int(ink[-1]) + 1 + BAND_MARGIN, width)
    right = min(left + -(-(right - left) // 32) * 32, width)
    left = max(right - -(-(right - left) // 32) * 32, 0)
    return left, right


def join_bands(bands: Iterable[Sequence[TextBox]]) -> list[TextBox]:
    """Return the boxes of consecutive bands (screen pixels) as one list in reading order.

    A line on the border of two bands is kept by both (BAND_SLACK); of two boxes from adjacent
    bands over the same text (overlapping over half the lower one's height), the one centred
    nearer the middle of its band stays, the one read nearer its window's edge goes.
    """
    placed = [(k, box) for k, boxes in enumerate(bands) for box in boxes]

    def off_middle(item: tuple[int, TextBox]) -> tuple[float, int]:
        k, box = item
        return abs(box.bbox[1] + box.bbox[3] / 2 - (k + 0.5) * BAND_ROWS), k

    kept: list[tuple[int, TextBox]] = []
    for k, box in sorted(placed, key=off_middle):
        if not any(abs(j - k) == 1 and _same_line(box.bbox, other.bbox) for j, other in kept):
            kept.append((k, box))
    return sort_boxes(box for _, box in kept)


def _same_line(a: Rect, b: Rect) -> bool:
    if not _intersects(a, b):
        return False
    overlap = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return overlap * 2 >= min(a[3], b[3])


def place_band(boxes: Iterable[TextBox], top: int, shape: tuple[int, ...]) -> list[TextBox]:
    """Return a band's boxes (window coordinates) in screen pixels, cut to the screen."""
    height, width = shape[:2]
    placed = []
    for box in boxes:
        x, y, w, h = box.bbox
        y += top - BAND_MARGIN
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, width), min(y + h, height)
        if x1 > x0 and y1 > y0:
            placed.append(replace(box, bbox=(x0, y0, x1 - x0, y1 - y0)))
    return placed


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


# -- comparing readings ---------------------------------------------------------------------------
def _intersects(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


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
    """The text of one sandbox's screen: caches by screenshot, by band and by line.

    ``read`` returns the boxes of a screenshot: from the cache when this screenshot was read
    before, else band by band, reading again only the bands whose pixels were not read before
    (after an action, those where the screen changed). The result is the same as a full pass's
    (OcrEngine.read) by construction. Thread-safe; one per sandbox.
    """

    def __init__(
        self,
        engine: OcrEngine | None = None,
        cache_size: int = CACHE_SIZE,
        band_cache_size: int = BAND_CACHE_SIZE,
        line_cache_size: int = LINE_CACHE_SIZE,
    ) -> None:
        """Use ``engine`` (default: the process-wide one).

        The sizes bound how many screenshots', bands' and lines' readings are kept.
        """
        self._engine = engine
        self._cache: OrderedDict[str, tuple[TextBox, ...]] = OrderedDict()
        self._cache_size = cache_size
        self._bands: OrderedDict[str, tuple[TextBox, ...]] = OrderedDict()
        self._band_cache_size = band_cache_size
        self._lines = LineCache(line_cache_size)
        self._seen = False  # whether a screenshot was read since the start (or forget)
        self._lock = threading.Lock()
        self.last_read: dict[str, Any] = {}
        """How the last ``read`` went: 'how' ('cache', 'incremental' or 'full'), 'regions' (the
        screen areas read again), 'bands' (how many of them), 'ms'."""

    @property
    def engine(self) -> OcrEngine:
        """Return the engine in use."""
        if self._engine is None:
            self._engine = default_engine()
        return self._engine

    def read(self, image: Image.Image) -> tuple[TextBox, ...]:
        """Return the text boxes of ``image``."""
        t0 = time.monotonic()
        key = image_hash(image)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.last_read = {
                    "how": "cache",
                    "regions": [],
                    "bands": 0,
                    "ms": (time.monotonic() - t0) * 1000,
                }
                return cached
            frame = bgr_pixels(image)
            found: list[list[TextBox]] = []
            regions: list[Rect] = []
            tops = band_tops(frame.shape[0]) if frame is not None else range(0)
            for top in tops:
                assert frame is not None
                window = band_window(frame, top)
                band_key = _line_key(window)
                local = self._bands.get(band_key)
                if local is None:
                    local = tuple(self.engine.read_window(window, self._lines))
                    self._bands[band_key] = local
                    while len(self._bands) > self._band_cache_size:
                        self._bands.popitem(last=False)
                    y0 = max(top - BAND_MARGIN, 0)
                    regions.append(
                        (0, y0, image.width, min(top + BAND_ROWS + BAND_MARGIN, image.height) - y0)
                    )
                else:
                    self._bands.move_to_end(band_key)
                found.append(place_band(local, top, frame.shape))
            boxes = tuple(join_bands(found))
            self._cache[key] = boxes
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            how = "incremental" if self._seen else "full"
            self._seen = True
            self.last_read = {
                "how": how,
                "regions": regions,
                "bands": len(regions),
                "ms": (time.monotonic() - t0) * 1000,
            }
            return boxes

    def forget(self) -> None:
        """Drop every cache."""
        with self._lock:
            self._cache.clear()
            self._bands.clear()
            self._lines = LineCache(self._lines._size)
            self._seen = False


def with_text(screen: ScreenText, obs: Observation, timings: dict[str, float]) -> Observation:
    """Return ``obs`` carrying the text boxes of its screenshot; adds 'ocr' (ms) to ``timings``."""
    t0 = time.monotonic()
    boxes = screen.read(obs.screenshot)
    timings["ocr"] = (time.monotonic() - t0) * 1000
    return replace(obs, text=boxes)
