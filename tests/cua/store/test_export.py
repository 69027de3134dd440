"""Exports: a Hugging Face dataset in parquet, a plain folder, and one self-contained HTML page."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from cua.store import ExportError, StepRecord, TrajectoryStore, export_dataset, export_folder, export_html
from cua.store.html_page import action_points, action_text
from tests.cua.store.screens import run_info, screen

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

CLICK = {"type": "click", "x": 160, "y": 100, "button": "left", "count": 1}
DRAG = {"type": "drag", "x": 40, "y": 60, "to_x": 280, "to_y": 160}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TrajectoryStore]:
    s = TrajectoryStore(tmp_path / "data", min_free_bytes=0)
    yield s
    s.close()


def record(store: TrajectoryStore) -> tuple[str, str, str]:
    """Record two finished runs (one verified, one not) and one run without steps."""
    good = store.start_run(run_info("press OK <b>now</b>"))
    store.add_step(good, StepRecord(thought="click OK", action=CLICK, timings={"model": 500.0}), screen(0))
    store.add_step(good, StepRecord(thought="drag it <script>alert(1)</script>", action=DRAG), screen(1))
    store.add_step(
        good, StepRecord(thought="scroll", action={"type": "scroll", "x": 10, "y": 10, "dy": 3}), screen(1)
    )
    store.add_step(good, StepRecord(raw_output="garbage", parse_error="no action in output"), screen(2))
    store.finish_run(good, "success", "pressed OK", final_screenshot=screen(3))
    store.add_verdict(good, "validator", False, reasons=["dialog still open"])
    store.add_verdict(good, "person", True, score=1.0, reasons=["it closed, the validator is wrong"])
    bad = store.start_run(run_info("press Cancel", app="other", task_id=None))
    store.add_step(bad, StepRecord(thought="hmm", action={"type": "key", "keys": ["ctrl", "w"]}), screen(4))
    store.finish_run(bad, "failure", "gave up")
    empty = store.start_run(run_info("never started"))
    store.finish_run(empty, "error", "sandbox failed to start")
    return good, bad, empty


NEEDS_DATASETS = "the dataset export needs datasets==5.2.0 (a cua dependency): pip install it"


def test_dataset_has_one_row_per_step_with_images(store: TrajectoryStore, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets", reason=NEEDS_DATASETS)
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    good, bad, empty = record(store)
    out = export_dataset(store, [good, bad, empty, good], tmp_path / "ds")  # duplicates are exported once

    files = sorted((out / "data").glob("*.parquet"))
    assert [f.name for f in files] == ["train-00000-of-00001.parquet"] and (out / "README.md").exists()
    ds = datasets.Dataset(pq.read_table(files[0]))  # features come back from the parquet metadata
    assert isinstance(ds.features["image"], datasets.Image) and len(ds) == 5
    rows = list(ds)
    assert [(r["run_id"], r["step"]) for r in rows] == [(good, i) for i in range(4)] + [(bad, 0)]
    first, last = rows[0], rows[3]
    assert isinstance(first["image"], Image.Image) and first["image"].tobytes() == screen(0).tobytes()
    assert json.loads(first["action"]) == CLICK and json.loads(first["timings"]) == {"model": 500.0}
    assert first["instruction"] == "press OK <b>now</b>" and first["num_steps"] == 4
    assert first["success"] is True and first["verdict_source"] == "person" and first["score"] == 1.0
    assert first["verdict_reasons"] == ["it closed, the validator is wrong"]
    assert first["model"] == "ui-tars-1.5-7b" and json.loads(first["generation"])["max_tokens"] == 256
    assert first["final_image"] is None and not first["is_last"]
    assert last["is_last"] and last["final_image"].tobytes() == screen(3).tobytes()
    assert last["action"] is None and last["parse_error"] == "no action in output"
    assert rows[4]["success"] is None and rows[4]["task_id"] is None and rows[4]["run_status"] == "failure"
    assert first["started_at"].tzinfo is not None
    # The export is a training set in waiting: filter verified successes without any join.
    assert len(ds.filter(lambda r: r["success"] is True and r["action"] is not None)) == 3


def test_dataset_loads_with_load_dataset(store: TrajectoryStore, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets", reason=NEEDS_DATASETS)

    good, _, _ = record(store)
    out = export_dataset(store, [good], tmp_path / "ds")
    ds = datasets.load_dataset(
        "parquet", data_dir=str(out / "data"), split="train", cache_dir=str(tmp_path / "c")
    )
    assert len(ds) == 4 and ds[1]["image"].size == (320, 200)
    with pytest.raises(ExportError, match="is not empty; choose a new or empty folder"):
        export_dataset(store, [good], out)


def test_folder_export_is_plain_json_lines_and_images(store: TrajectoryStore, tmp_path: Path) -> None:
    good, bad, _ = record(store)
    out = export_folder(store, [good, bad], tmp_path / "plain")
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [r["id"] for r in runs] == [good, bad] and len(steps) == 5
    assert runs[0]["verdict"]["source"] == "person" and [v["success"] for v in runs[0]["verdicts"]] == [
        False,
        True,
    ]
    assert runs[0]["provenance"]["endpoint"] == "http://127.0.0.1:8000/v1" and runs[0]["step_count"] == 4
    assert steps[0]["action"] == CLICK and steps[3]["parse_error"] == "no action in output"
    referenced = {s["image"] for s in steps} | {runs[0]["final_image"]}
    assert {f"images/{p.name}" for p in (out / "images").iterdir()} == referenced  # each screen once
    for path in referenced:
        data = (out / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == Path(path).stem


def test_action_points_read_common_shapes() -> None:
    assert action_points(CLICK) == ((160.0, 100.0), None)
    assert action_points(DRAG) == ((40.0, 60.0), (280.0, 160.0))
    assert action_points({"action": "left_click", "coordinate": [5, 6]}) == ((5.0, 6.0), None)
    assert action_points({"type": "key", "keys": ["ctrl", "s"]}) == (None, None)
    assert action_points({"x": True, "y": 1}) == (None, None)
    assert action_points(None) == (None, None)
    assert action_text(CLICK) == "click (160, 100)"
    assert action_text({"type": "click", "x": 1, "y": 2, "button": "right", "count": 2}) == (
        "click (1, 2) button=right count=2"
    )
    assert action_text(DRAG) == "drag (40, 60) → (280, 160)"
    assert action_text({"type": "hotkey", "keys": ["ctrl", "s"]}) == "hotkey keys=ctrl+s"
    assert action_text({"type": "scroll", "x": 3, "y": 4, "direction": "down", "amount": 5}) == (
        "scroll (3, 4) direction=down amount=5"
    )


def test_html_page_is_self_contained_and_escaped(store: TrajectoryStore, tmp_path: Path) -> None:
    good, _, empty = record(store)
    page = export_html(store, good, tmp_path / "run.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page)  # nothing outside the file
    assert len(re.findall(r'<image id="shot-', page)) == 4  # screens 0, 1, 2 and the final one, once each
    assert page.count("data:image/png;base64,") == 4 and page.count('<use href="#shot-') == 5
    assert "<script>" not in page and "drag it &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "press OK &lt;b&gt;now&lt;/b&gt;" in page
    assert 'cx="160.0" cy="100.0"' in page  # the click's circle
    assert 'x2="280.0" y2="160.0"' in page and "marker-end" in page  # the drag's arrow
    assert "no action in output" in page and "it closed, the validator is wrong" in page
    assert page.index("person") < page.index("dialog still open")  # newest verdict first
    assert "No steps were recorded." in export_html(store, empty, tmp_path / "empty.html").read_text()


def is_mark(pixel: object) -> bool:
    """Whether a pixel has the colour of a left-click mark (#e11d48), give or take antialiasing."""
    assert isinstance(pixel, tuple)
    red, green, blue = pixel[:3]
    return bool(red > 200 and green < 80 and 40 < blue < 120)


@pytest.mark.skipif(not shutil.which("chromium"), reason="headless Chromium is not installed")
def test_html_page_renders_the_click_in_chromium(store: TrajectoryStore, tmp_path: Path) -> None:
    """Chromium draws the page; the click mark shows in its colour over the screenshot."""
    run_id = store.start_run(run_info())
    store.add_step(run_id, StepRecord(thought="click OK", action=CLICK), screen(0))
    store.finish_run(run_id, "success")
    page = export_html(store, run_id, tmp_path / "run.html")
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1000,700", "--hide-scrollbars",
         page.as_uri()],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    image = Image.open(shot).convert("RGB")
    # Where the screenshot landed: the pixels of its background colour (screen(0) is 40, 90, 140).
    background = [
        (x, y)
        for x in range(0, image.width, 2)
        for y in range(0, image.height, 2)
        if image.getpixel((x, y)) == (40, 90, 140)
    ]
    assert background, "the screenshot is not visible in the rendered page"
    xs, ys = [p[0] for p in background], [p[1] for p in background]
    left, top, right = min(xs), min(ys), max(xs)
    scale = (right - left) / 320
    cx, cy = left + 160 * scale, top + 100 * scale  # where the click must be drawn
    near = [
        (x, y)
        for x in range(int(cx - 30 * scale), int(cx + 30 * scale))
        for y in range(int(cy - 30 * scale), int(cy + 30 * scale))
        if is_mark(image.getpixel((x, y)))
    ]
    assert len(near) > 50, "the click mark (#e11d48) is not drawn at the click on the screenshot"


@pytest.mark.parametrize("option", ["--html", "--folder", "--dataset"])
def test_export_to_an_unwritable_place_is_one_clear_line(
    store: TrajectoryStore, tmp_path: Path, option: str
) -> None:
    good, _, _ = record(store)
    target = "/proc/nope/report.html" if option == "--html" else "/proc/nope/out"  # /proc: not even root
    command = ["runs", "export", good, option, target, "--data-dir", str(store.data_dir)]
    done = subprocess.run(
        [sys.executable, "-m", "cua", *command],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_DATASETS_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    reason = "No such file or directory (/proc/nope)"
    assert done.stderr.startswith(f"cua: error: cannot export to {target}: {reason}")
    assert "choose a location in a folder that exists" in done.stderr


def test_export_errors_name_the_problem(store: TrajectoryStore, tmp_path: Path) -> None:
    good, _, _ = record(store)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ExportError, match="is not empty"):
        export_folder(store, [good], tmp_path / "taken")
    with pytest.raises(ExportError, match="it is a file"):
        export_folder(store, [good], tmp_path / "a-file")
    with pytest.raises(ExportError, match="it is a folder; give a file name such as"):
        export_html(store, good, tmp_path / "taken")
    with pytest.raises(ExportError, match="a-file is a file, not a folder"):
        export_html(store, good, tmp_path / "a-file" / "run.html")
    assert not list(tmp_path.glob("**/*.tmp"))  # no temporary page left behind
