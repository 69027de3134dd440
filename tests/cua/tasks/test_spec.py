"""Task files: loading, errors that name the file and the field, sampling and templates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cua.tasks import TaskSpecError, load_file, parse_document
from cua.tasks.spec import LaunchStep, RunStep, WaitWindowStep, WriteStep, near_miss_task
from cua.tasks.validators import FileText

BASE: dict[str, Any] = {
    "id": "demo.append",
    "app": "mousepad",
    "difficulty": 2,
    "params": {"word": {"choice": ["red", "green", "blue", "cyan", "plum"]}, "n": {"int": [1, 9]}},
    "derive": {"double": "n * 2"},
    "instruction": "Add '${word} ${double}' to notes.txt and save it.",
    "setup": [
        {"write": {"path": "notes.txt", "text": "first\n"}},
        {"run": "mkdir -p docs"},
        {"open": "notes.txt"},
        {"wait_window": "notes.txt"},
    ],
    "oracle": [
        {"key": "ctrl+end"},
        {"type": "${word} ${double}\n"},
        {"key": "ctrl+s", "id": "save", "until": {"file_changed": "notes.txt"}},
    ],
    "validator": {"file_text": {"path": "notes.txt", "equals": "first\n${word} ${double}"}},
    "near_misses": [{"name": "unsaved", "before": "save"}, {"name": "wrong", "params": {"n": "${n}1"}}],
}


def write(tmp_path: Path, data: Any, name: str = "task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else _yaml(data))
    return path


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def with_(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def load_error(tmp_path: Path, data: Any, name: str = "task.yaml") -> str:
    path = write(tmp_path, data, name)
    with pytest.raises(TaskSpecError) as info:
        load_file(path)
    message = str(info.value)
    assert str(path) in message, message
    return message


def test_a_family_loads_renders_and_splits_setup(tmp_path: Path) -> None:
    (family,) = load_file(write(tmp_path, BASE))
    assert family.instances == 4 and family.split == "train" and not family.held_out
    task = family.instance(0)
    word, n = task.params["word"], task.params["n"]
    assert task.id == "demo.append/0" and task.family == "demo.append"
    assert task.instruction == f"Add '{word} {2 * n}' to notes.txt and save it."
    assert task.validator == FileText("notes.txt", "equals", f"first\n{word} {2 * n}")
    assert isinstance(task.setup[0], WriteStep) and task.setup[0].content == b"first\n"
    assert task.setup[1] == RunStep(("sh", "-c", "mkdir -p docs"))
    assert task.setup[2] == LaunchStep(("/home/user/notes.txt",))
    pre, args = task.sandbox_setup()
    assert len(pre) == 2 and args == ("/home/user/notes.txt",)
    assert task.after_launch() == (WaitWindowStep("notes.txt"),)
    assert task.oracle_actions() == 3 and task.max_steps == 10
    assert [m.name for m in task.near_misses] == ["unsaved", "wrong"]


def test_sampling_is_deterministic_distinct_and_independent_of_hash_seed(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    (a,) = load_file(path)
    (b,) = load_file(path)
    values = [a.instance(i).params for i in range(a.instances)]
    assert values == [b.instance(i).params for i in range(b.instances)]
    assert len({json.dumps(v, sort_keys=True) for v in values}) == a.instances
    code = (
        "import json,sys; from cua.tasks import load_file; (f,) = load_file(sys.argv[1]); "
        "print(json.dumps([dict(f.instance(i).params) for i in range(f.instances)]))"
    )
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        ).stdout
        assert json.loads(out) == [dict(v) for v in values]


def test_near_miss_params_rederive_and_skip_steps(tmp_path: Path) -> None:
    (family,) = load_file(write(tmp_path, BASE))
    task = family.instance(1)
    wrong = near_miss_task(family, task, task.near_misses[1])
    n = task.params["n"]
    assert wrong.params["n"] == int(f"{n}1") and wrong.params["double"] == 2 * int(f"{n}1")
    assert task.validator != wrong.validator
    data = with_(near_misses=[{"name": "no-save", "skip": ["save"]}])
    (family,) = load_file(write(tmp_path, data))
    task = family.instance(0)
    skipped = near_miss_task(family, task, task.near_misses[0])
    assert skipped.oracle is not None and len(skipped.oracle) == 2


def test_json_files_and_suites_with_defaults(tmp_path: Path) -> None:
    first, other = with_(app=None), with_(id="demo.other", app=None)
    suite = {"app": "mousepad", "tags": ["editor"], "families": [first, other]}
    families = load_file(write(tmp_path, suite, "suite.json"))
    assert [f.id for f in families] == ["demo.append", "demo.other"]
    assert all(f.app == "mousepad" and f.tags == ("editor",) for f in families)


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        (with_(id=None), "id", "a family id"),
        (with_(id="Bad Id!"), "id", "lower-case id"),
        (with_(difficulty=7), "difficulty", "1 (one action)"),
        (with_(split="test"), "split", "'train' or 'eval'"),
        (with_(colour="red"), "top level", "only the keys"),
        (with_(instruction="Add ${missing}"), "instruction", "known parameter"),
        (with_(validator={"file_txt": {"path": "a"}}), "validator", "check kind among"),
        (
            with_(validator={"file_text": {"path": "a", "equals": "x", "contains": "y"}}),
            "validator.file_text",
            "exactly one of",
        ),
        (
            with_(validator={"cells": {"path": "b.ods", "values": {"7Z": 1}}}),
            "validator.cells.values",
            "cell references",
        ),
        (
            with_(validator={"window_title": {"matches": "("}}),
            "validator.window_title.matches",
            "regular expr",
        ),
        (with_(oracle=[{"clack": {"name": "OK"}}]), "oracle[0]", "exactly one step kind"),
        (with_(oracle=[{"key": "ctrl+frobnicate"}]), "oracle[0].key", "known key names"),
        (with_(oracle=[{"click": {"colour": "red"}}]), "oracle[0].click", "target keys"),
        (
            with_(oracle=[{"type": "x", "until": {"file_exists": 3}}]),
            "oracle[0].until.file_exists",
            "a file path",
        ),
        (
            with_(near_misses=[{"name": "x", "before": "nope"}]),
            "near_misses[0].before",
            "the id of an oracle step",
        ),
        (with_(near_misses=[{"name": "x", "params": {"zzz": 1}}]), "near_misses[0].params", "parameters of"),
        (with_(params={"n": {"int": [9, 1]}}), "params.n.int", "low <= high"),
        (with_(derive={"x": "__import__('os')"}), "derive.x", "calls only to"),
        (with_(derive={"x": "n.real"}), "derive.x", "Attribute is not allowed"),
        (with_(setup=[{"wait_window": "x"}, {"open": "a.txt"}]), "setup[0].wait_window", "after the launch"),
        (
            with_(setup=[{"write": {"path": "a", "text": "x", "base64": "eA=="}}]),
            "setup[0].write",
            "exactly one",
        ),
        (with_(instances=60), "instances", "distinct tasks"),
    ],
)
def test_errors_name_the_file_the_field_and_what_was_expected(
    tmp_path: Path, data: dict[str, Any], field: str, expected: str
) -> None:
    message = load_error(tmp_path, data)
    assert field in message and expected in message, message


def test_unreadable_files_are_reported_with_their_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n")
    with pytest.raises(TaskSpecError, match=r"bad\.yaml: not valid YAML"):
        load_file(bad)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    with pytest.raises(TaskSpecError, match=r"bad\.json: not valid JSON"):
        load_file(bad_json)
    with pytest.raises(TaskSpecError, match=r"missing\.yaml: task file not found"):
        load_file(tmp_path / "missing.yaml")
    with pytest.raises(TaskSpecError, match=r"ends in \.yaml"):
        load_file(write(tmp_path, BASE, "task.txt"))
    with pytest.raises(TaskSpecError, match="unique family ids"):
        parse_document({"families": [BASE, BASE]})


def test_templates_keep_types_and_escape_dollars(tmp_path: Path) -> None:
    data = with_(
        params={"n": {"int": [3, 3]}, "name": "x"},
        derive=None,
        instruction="Costs $$5 for ${name}",
        oracle=[{"key": "down", "repeat": "${n}"}],
        validator={"file_exists": "${name}.txt"},
        near_misses=[{"name": "other", "params": {"n": 4}}],
        instances=1,
    )
    (family,) = load_file(write(tmp_path, data))
    task = family.instance(0)
    assert task.instruction == "Costs $5 for x"
    assert task.oracle is not None and task.oracle_actions() == 3


def test_paraphrases_render_with_the_instance_values() -> None:
    (family,) = parse_document(
        {**BASE, "paraphrases": ["Put ${word} ${double} at the end of notes.txt, then save."]}
    )
    task = family.instance(0)
    word, double = task.params["word"], task.params["double"]
    assert task.paraphrases == (f"Put {word} {double} at the end of notes.txt, then save.",)
    assert parse_document(BASE)[0].instance(0).paraphrases == ()
    with pytest.raises(TaskSpecError, match=r"field 'paraphrases': expected a list of non-empty"):
        parse_document({**BASE, "paraphrases": ["fine", ""]})


def test_every_builtin_family_has_a_paraphrase_that_differs_from_its_instruction() -> None:
    from cua.tasks import builtin_families

    for family in builtin_families():
        task = family.instance(0)
        assert task.paraphrases and all(p != task.instruction for p in task.paraphrases), family.id


def test_instructions_longer_than_the_limit_are_rejected_with_the_field(tmp_path: Path) -> None:
    from cua.policy import MAX_INSTRUCTION_CHARS

    at_limit = "x" * (MAX_INSTRUCTION_CHARS - 20) + " ${word} ${double}"
    assert load_file(write(tmp_path, with_(instruction=at_limit)))  # the limit itself is fine
    with pytest.raises(TaskSpecError) as err:
        load_file(write(tmp_path, with_(instruction="y" * (MAX_INSTRUCTION_CHARS + 1))))
    assert "field 'instruction': expected an instruction of at most 4,000 characters (it has 4,001)" in str(
        err.value
    )
    with pytest.raises(TaskSpecError, match=r"field 'paraphrases\[1\]'"):
        load_file(write(tmp_path, with_(paraphrases=["short", "z" * 5000])))
