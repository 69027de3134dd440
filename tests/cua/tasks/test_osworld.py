"""The OSWorld importer on task files written in OSWorld's structure (``osworld_samples/``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from typer.testing import CliRunner

from cua.cli.tasks import tasks_app
from cua.eval.suite import select_tasks
from cua.tasks import TaskSpecError, UnknownTask, load_file, load_path, resolve_task, start, validate
from cua.tasks.errors import Where
from cua.tasks.oracle import OracleRunner, parse_steps
from cua.tasks.osworld import import_paths, import_task, write_task
from cua.tasks.runner import record_baseline
from cua.tasks.spec import RunStep, TaskSpec
from cua.tasks.validators import Cells, TableEquals, validate_state
from sandbox import XvfbSandbox

SAMPLES = Path(__file__).parent / "osworld_samples"
EXPECTED_SKIPS = {
    "calc-chart.json": "unsupported evaluator: compare_table rule 'chart'",
    "calc-uncached.json": "not cached",
    "chrome-tabs.json": "unsupported config: step type 'chrome_open_tabs'",
    "os-a11y-getter.json": "unsupported getter: accessibility_tree",
    "os-infeasible.json": "infeasible task",
    "os-pyautogui-setup.json": "pyautogui",
    "vscode-settings.json": "unsupported app: launch of 'code'",
    "writer-docx.json": "unsupported file type",
}
IMPORTED = {"calc-table.json", "gedit-text.json", "os-file-exists.json", "os-include-exclude.json"}


GEDIT_ID = "c9b8a7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d"
GEDIT_URL = "https://files.example.invalid/gedit/c9b8a7d6/notes.txt"
SALES_URL = "https://files.example.invalid/calc/a4f0c2d8/sales.xlsx"


def setup_name(url: str, path: str) -> str:
    """The name OSWorld's setup saves a download under: ``<uuid5(url)>_<file name>``."""
    return f"{uuid.uuid5(uuid.NAMESPACE_URL, url)}_{PurePosixPath(path).name}"


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / setup_name(SALES_URL, "/home/user/sales.xlsx")).write_bytes(b"PK\x03\x04 not really a workbook")
    (folder / "sales_gold.xlsx").write_bytes(b"PK\x03\x04 gold")
    # The OSWorld cache layout, one folder per task: the setup download under its setup name,
    # the expected file under its dest name, and -- as OSWorld leaves it after a run -- the
    # agent's finished file under the plain name, which must never be the starting file.
    task_dir = folder / GEDIT_ID
    task_dir.mkdir()
    (task_dir / setup_name(GEDIT_URL, "/home/user/notes.txt")).write_text("Shopping\n")
    (task_dir / "notes.txt").write_text("Shopping\nRemember the milk\n")
    (task_dir / "notes_gold.txt").write_text("Shopping\nRemember the milk\n")
    return folder


def test_samples_import_or_skip_with_a_reason(cache: Path) -> None:
    report = import_paths([SAMPLES], cache)
    by_file = {Path(r.source).name: r for r in report.results}
    assert set(by_file) == IMPORTED | set(EXPECTED_SKIPS)
    assert {name for name, r in by_file.items() if r.imported} == IMPORTED
    for name, reason in EXPECTED_SKIPS.items():
        result = by_file[name]
        assert result.family is None and result.skip is not None and reason in result.skip, (
            name,
            result.skip,
        )
    text = report.render()
    assert text.startswith("OSWorld import: 4/12 tasks imported, 8 skipped")
    assert "compare_table              3 /   1  supported" in text
    assert "chrome_open_tabs           1 /   0  unsupported" in text


def test_imported_tasks_map_setup_and_evaluators(cache: Path) -> None:
    report = import_paths([SAMPLES], cache)
    tasks = {Path(r.source).name: r.family.instance(0) for r in report.imported if r.family}
    calc = tasks["calc-table.json"]
    assert calc.app == "libreoffice-calc" and calc.split == "eval" and "osworld" in calc.tags
    assert calc.sandbox_setup()[1] == ("/home/user/sales.xlsx",)
    assert calc.validator.data() == {
        "table_equals": {
            "path": "/home/user/sales.xlsx",
            "expected": str((cache / "sales_gold.xlsx").resolve()),
        }
    }
    gedit = tasks["gedit-text.json"]
    assert gedit.app == "mousepad" and gedit.sandbox_setup()[0][0].content == b"Shopping\n"  # type: ignore[union-attr]
    assert gedit.validator.data() == {
        "file_text": {"path": "/home/user/notes.txt", "equals": "Shopping\nRemember the milk\n"}
    }
    exists = tasks["os-file-exists.json"]
    assert exists.app == "xterm"
    assert exists.validator.data()["command"]["stdout_equals"] == "yes\n"
    include = tasks["os-include-exclude.json"].validator.data()
    assert [list(c["command"])[-1] for c in include["all"]] == ["stdout_contains", "stdout_not_contains"]


def test_without_a_cache_downloads_are_skips_never_passes() -> None:
    report = import_paths([SAMPLES / "calc-table.json", SAMPLES / "os-file-exists.json"])
    results = {Path(r.source).name: r for r in report.results}
    assert (
        results["calc-table.json"].skip is not None and "no --cache folder" in results["calc-table.json"].skip
    )
    assert results["os-file-exists.json"].imported


def test_malformed_input_is_a_skip() -> None:
    assert import_task([1, 2]).skip == "malformed: the file is not a JSON object"
    assert "no instruction" in (import_task({"id": "x", "config": [], "evaluator": {}}).skip or "")
    unknown = {
        "id": "x",
        "instruction": "y",
        "snapshot": "os",
        "config": [{"type": "login", "parameters": {}}],
        "evaluator": {"func": "exact_match"},
    }
    assert "step type 'login'" in (import_task(unknown).skip or "")


def test_cli_writes_task_files_that_load(cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "imported"
    result = CliRunner().invoke(
        tasks_app, ["import-osworld", str(SAMPLES), "--cache", str(cache), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "4/12 tasks imported" in result.output and "wrote 4 task files" in result.output
    files = sorted(out.glob("*.json"))
    assert len(files) == 4
    for path in files:
        (family,) = load_file(path)
        assert family.id == json.loads(path.read_text())["id"]


@pytest.mark.x11
@pytest.mark.timeout(120)
def test_an_imported_task_runs_and_its_validator_judges_the_real_app(cache: Path) -> None:
    (result,) = import_paths([SAMPLES / "gedit-text.json"], cache).results
    assert result.family is not None
    task = result.family.instance(0)
    steps = parse_steps(
        [
            {"key": "ctrl+end"},
            {"type": "Remember the milk\n"},
            {"key": "ctrl+s", "until": {"file_changed": "notes.txt"}},
        ],
        Where("test"),
    )
    with XvfbSandbox() as sb:
        start(sb, task)
        assert not validate(sb, task).passed
        OracleRunner(sb).run(steps)
        verdict = validate(sb, task)
        assert verdict.passed, verdict.explain()


@pytest.mark.x11
@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("ssconvert") is None, reason="gnumeric's ssconvert is not installed")
def test_table_equals_reads_real_workbooks(tmp_path: Path) -> None:
    def workbook(name: str, csv: str) -> Path:
        (tmp_path / f"{name}.csv").write_text(csv)
        subprocess.run(
            ["ssconvert", f"{name}.csv", f"{name}.xlsx"], cwd=tmp_path, check=True, capture_output=True
        )
        return tmp_path / f"{name}.xlsx"

    gold = workbook("gold", "item,qty,total\npens,3,6\ncups,4,20\n")
    right = workbook("right", "item,qty,total\npens,3,6.0\ncups,4,20\n")
    wrong = workbook("wrong", "item,qty,total\npens,3,6\ncups,4,21\n")
    check = TableEquals("/home/user/result.xlsx", str(gold))
    with XvfbSandbox() as sb:
        sb.reset("galculator")
        assert "does not exist" in validate_state(sb, check).explain()
        sb.write_file("result.xlsx", right.read_bytes())
        assert validate_state(sb, check).passed
        sb.write_file("result.xlsx", wrong.read_bytes())
        verdict = validate_state(sb, check)
        assert not verdict.passed and "C3='21' (expected '20')" in verdict.explain()


# -- setup downloads come from OSWorld's setup name only ---------------------------------------
def test_setup_downloads_use_the_setup_name_never_the_collected_result(cache: Path) -> None:
    (result,) = import_paths([SAMPLES / "gedit-text.json"], cache).results
    assert result.family is not None
    write = result.family.instance(0).sandbox_setup()[0][0]
    # The plain notes.txt beside it is an earlier agent's finished file: starting from it
    # would let doing nothing pass.
    assert write.content == b"Shopping\n"  # type: ignore[union-attr]
    (cache / GEDIT_ID / setup_name(GEDIT_URL, "/home/user/notes.txt")).unlink()
    (again,) = import_paths([SAMPLES / "gedit-text.json"], cache).results
    assert again.family is None and again.skip is not None
    assert again.skip.startswith(f"download not cached: {GEDIT_URL}")
    assert setup_name(GEDIT_URL, "/home/user/notes.txt") in again.skip
    assert "notes.txt there is what OSWorld collects after a run" in again.skip


# -- `$` is never a template --------------------------------------------------------------------
DOLLARS: dict[str, Any] = {
    "id": "d011a2s0-0000-4000-8000-000000000001",
    "snapshot": "os",
    "instruction": "Move $5 from ${savings} to checking (costs $$0).",
    "config": [
        {"type": "execute", "parameters": {"command": "echo ${local_id} $$ $HOME > /tmp/ids", "shell": True}},
        {"type": "execute", "parameters": {"command": ["sh", "-c", "echo $$ > /tmp/pid"]}},
    ],
    "evaluator": {
        "func": "exact_match",
        "result": {"type": "vm_command_line", "command": "printf '%s' \"${BALANCE:-$$}\"", "shell": True},
        "expected": {"type": "rule", "rules": {"expected": "$5"}},
    },
}


def test_dollar_signs_in_commands_pass_through_literally(tmp_path: Path) -> None:
    result = import_task(DOLLARS)
    assert result.family is not None, result.skip  # `${local_id}` no longer makes it invalid
    task = result.family.instance(0)
    runs = [s.argv for s in task.setup if isinstance(s, RunStep)]
    assert runs == [
        ("sh", "-c", "echo ${local_id} $$ $HOME > /tmp/ids"),  # `$$` stays the shell's PID
        ("sh", "-c", "echo $$ > /tmp/pid"),
    ]
    assert task.instruction == "Move $5 from ${savings} to checking (costs $$0)."
    command = task.validator.data()["command"]
    assert command["argv"][-1] == "printf '%s' \"${BALANCE:-$$}\"" and command["stdout_equals"] == "$5"
    # The task file written from it loads back to the very same strings.
    (family,) = load_file(write_task(result, tmp_path / "out"))
    again = family.instance(0)
    assert again.setup == task.setup and again.instruction == task.instruction
    assert again.validator == task.validator


# -- every reason, missing files last -----------------------------------------------------------
def test_skips_list_every_reason_and_files_come_last(cache: Path) -> None:
    report = import_paths([SAMPLES], cache)
    by_file = {Path(r.source).name: r for r in report.results}
    chart = by_file["calc-chart.json"]
    # Its download is not in the cache either, but no file would make the chart rule checkable.
    assert chart.reasons[0] == "unsupported evaluator: compare_table rule 'chart'"
    assert chart.reasons[1].startswith("download not cached: https://files.example.invalid/calc/b2c3d4e5/")
    assert not chart.only_files_missing
    uncached = by_file["calc-uncached.json"]
    assert [r.split(":")[0] for r in uncached.reasons] == ["expected file not cached", "download not cached"]
    assert uncached.only_files_missing
    vscode = by_file["vscode-settings.json"]
    assert vscode.reasons == [
        "unsupported app: launch of 'code' (no application profile for it)",
        "unsupported metric: check_json_settings",
    ]
    text = report.render()
    # A task counts under each kind of reason it has; only one is kept out by files alone.
    assert "    3  download not cached" in text and "    1  expected file not cached" in text
    assert "    3  unsupported metric" in text and "    1  unsupported evaluator" in text
    assert "    1  tasks kept out only by files missing from the cache" in text
    assert "(no application profile for it); unsupported metric: check_json_settings" in text


def test_an_unsupported_config_and_metric_are_both_reported() -> None:
    task = {
        "id": "x",
        "instruction": "y",
        "snapshot": "os",
        "config": [
            {"type": "login", "parameters": {}},
            {"type": "execute", "parameters": {"command": "true"}},
        ],
        "evaluator": {"func": "compare_pdfs", "result": {"type": "vm_file"}},
    }
    assert import_task(task).reasons == [
        "unsupported config: step type 'login'",
        "unsupported metric: compare_pdfs",
    ]


# -- real cell references -----------------------------------------------------------------------
def workbook(folder: Path, name: str, csv: str) -> Path:
    """Write ``csv`` as a real .xlsx with Gnumeric's ssconvert (leading empty cells kept)."""
    (folder / f"{name}.csv").write_text(csv)
    subprocess.run(["ssconvert", f"{name}.csv", f"{name}.xlsx"], cwd=folder, check=True, capture_output=True)
    return folder / f"{name}.xlsx"


NEEDS_SSCONVERT = pytest.mark.skipif(
    shutil.which("ssconvert") is None, reason="gnumeric's ssconvert is missing"
)
PADDING = ",,,\n" * 7  # rows 1-7 empty, and column A empty below: the table starts at B8


@pytest.mark.x11
@pytest.mark.timeout(120)
@NEEDS_SSCONVERT
def test_spreadsheet_checks_use_real_cell_references(tmp_path: Path) -> None:
    gold = workbook(tmp_path, "gold", PADDING + ",Student,Score\n,Ann,3\n")
    wrong = workbook(tmp_path, "wrong", PADDING + ",Pupil,Score\n,Ann,3\n")
    moved = workbook(tmp_path, "moved", PADDING + ",,Student,Score\n,,Ann,3\n")  # one column to the right
    check = TableEquals("/home/user/result.xlsx", str(gold))
    cells = Cells("/home/user/result.xlsx", {"B8": "Student", "C9": 3})
    with XvfbSandbox() as sb:
        sb.reset("galculator")
        sb.write_file("result.xlsx", gold.read_bytes())
        assert validate_state(sb, check).passed and validate_state(sb, cells).passed
        sb.write_file("result.xlsx", wrong.read_bytes())
        verdict = validate_state(sb, check)
        assert "1 cells differ: B8='Pupil' (expected 'Student')" in verdict.explain()  # not A1
        assert "B8='Pupil'" in validate_state(sb, cells).explain()
        # The same table one column over is not the expected sheet (trimming both hid that).
        sb.write_file("result.xlsx", moved.read_bytes())
        verdict = validate_state(sb, check)
        assert not verdict.passed and "B8='' (expected 'Student')" in verdict.explain()


# -- self-contained task files ------------------------------------------------------------------
@pytest.fixture
def real_calc_cache(tmp_path: Path) -> Path:
    """A cache for calc-table.json with real workbooks: the starting sheet and the expected one."""
    folder = tmp_path / "cache"
    folder.mkdir()
    start = workbook(tmp_path, "start", "Item,Qty,Price,Total\npens,3,2,\ncups,4,5,\n")
    gold = workbook(tmp_path, "gold", "Item,Qty,Price,Total\npens,3,2,6\ncups,4,5,20\n")
    shutil.copyfile(start, folder / setup_name(SALES_URL, "/home/user/sales.xlsx"))
    shutil.copyfile(gold, folder / "sales_gold.xlsx")
    return folder


def import_and_move(cache: Path, tmp_path: Path) -> tuple[Path, TaskSpec]:
    """Import calc-table.json with ``--out``, move the output folder, delete the cache; load it back."""
    out = tmp_path / "imported"
    result = CliRunner().invoke(
        tasks_app,
        ["import-osworld", str(SAMPLES / "calc-table.json"), "--cache", str(cache), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    moved = Path(shutil.move(out, tmp_path / "elsewhere"))
    shutil.rmtree(cache)  # nothing may point back into the cache
    (family,) = load_file(moved / f"{CALC_TASK}.json")
    return moved, family.instance(0)


CALC_TASK = "osworld.a4f0c2d8-3e5b-4c7a-9d1f-6b8e0a2c4d6f"


@NEEDS_SSCONVERT
def test_imported_task_files_carry_their_files_and_survive_a_move(
    real_calc_cache: Path, tmp_path: Path
) -> None:
    moved, task = import_and_move(real_calc_cache, tmp_path)
    expected = task.validator.data()["table_equals"]["expected"]
    assert expected == f"{CALC_TASK}.files/sales_gold.xlsx"  # relative to the task file
    assert (moved / expected).read_bytes() == (tmp_path / "gold.xlsx").read_bytes()


@pytest.mark.x11
@pytest.mark.timeout(120)
@NEEDS_SSCONVERT
def test_a_moved_imported_task_still_validates(real_calc_cache: Path, tmp_path: Path) -> None:
    _, task = import_and_move(real_calc_cache, tmp_path)
    with XvfbSandbox() as sb:
        sb.reset("galculator")
        sb.write_file("sales.xlsx", task.sandbox_setup()[0][0].content)  # type: ignore[union-attr]
        record_baseline(sb, task)  # what start() records after the setup
        verdict = validate(sb, task)
        assert not verdict.passed and "D2='' (expected '6')" in verdict.explain()
        sb.write_file("sales.xlsx", (tmp_path / "gold.xlsx").read_bytes())
        verdict = validate(sb, task)
        assert verdict.passed, verdict.explain()


# -- task files and folders as suites and tasks -------------------------------------------------
@pytest.fixture
def os_tasks(cache: Path, tmp_path: Path) -> Path:
    """A folder with the two imported xterm tasks, as `cua tasks import-osworld --out` writes it."""
    out = tmp_path / "os-tasks"
    report = import_paths([SAMPLES / "os-file-exists.json", SAMPLES / "os-include-exclude.json"], cache)
    for result in report.imported:
        write_task(result, out)
    (out / "notes.txt").write_text("not a task file: ignored")
    return out


EXISTS_TASK = "osworld.5c1a7b2e-0d4f-4e8a-9b61-1f2e3d4c5b6a"
RENAME_TASK = "osworld.7e3d9a10-6b2c-4f1d-8a5e-2c4b6d8f0a1e"


def test_a_task_file_or_folder_is_a_suite_and_a_task(os_tasks: Path, tmp_path: Path) -> None:
    assert [f.id for f in load_path(os_tasks)] == [EXISTS_TASK, RENAME_TASK]
    assert [t.id for t in select_tasks(str(os_tasks))] == [f"{EXISTS_TASK}/0", f"{RENAME_TASK}/0"]
    assert [t.id for t in select_tasks(str(os_tasks / f"{RENAME_TASK}.json"))] == [f"{RENAME_TASK}/0"]
    _, task = resolve_task(str(os_tasks / f"{EXISTS_TASK}.json"))
    assert task.id == f"{EXISTS_TASK}/0" and task.source == os_tasks / f"{EXISTS_TASK}.json"
    with pytest.raises(
        UnknownTask, match=rf"holds 2 tasks; pick one as {os_tasks}#TASK_ID \(one of {EXISTS_TASK}/0"
    ):
        resolve_task(str(os_tasks))
    assert resolve_task(f"{os_tasks}#{RENAME_TASK}/0")[1].id == f"{RENAME_TASK}/0"
    assert resolve_task(f"{os_tasks}#{RENAME_TASK}")[1].id == f"{RENAME_TASK}/0"
    with pytest.raises(UnknownTask, match="has no task family 'nope'"):
        resolve_task(f"{os_tasks}#nope")
    assert resolve_task("galculator.press-digit/0")[1].id == "galculator.press-digit/0"  # built-ins as before
    with pytest.raises(TaskSpecError, match="task file not found"):
        select_tasks(str(os_tasks / "missing.json"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TaskSpecError, match="no task files"):
        select_tasks(str(tmp_path / "empty"))


def test_cua_run_takes_a_task_file(os_tasks: Path) -> None:
    task_file = os_tasks / f"{EXISTS_TASK}.json"
    done = subprocess.run(
        [sys.executable, "-m", "cua", "run", "--task", str(task_file), "--app", "mousepad"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # The file's task was found (its app is xterm): the run stops at the app check, before any model.
    assert (
        done.returncode == 2
        and done.stderr.strip() == f"cua: error: task {EXISTS_TASK}/0 runs on xterm, not mousepad"
    )


@pytest.mark.x11
@pytest.mark.timeout(180)
def test_cua_eval_runs_a_folder_of_task_files(os_tasks: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cua", "eval", "--suite", str(os_tasks), "--policy", "noop", "--json",
         "--parallel", "2", "--data-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=170,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["suite"] == str(os_tasks)
    episodes = {e["task"]: e for e in report["episodes"]}
    assert set(episodes) == {f"{EXISTS_TASK}/0", f"{RENAME_TASK}/0"}
    assert all(not e["passed"] and e["error"] is None for e in episodes.values())  # doing nothing fails
