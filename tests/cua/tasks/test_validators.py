"""Validators score the sandbox's state (a FakeSandbox here; real apps in the proof modules)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import cua.tasks.validators as validators
from cua.tasks import TaskSpecError, parse_check
from cua.tasks.errors import Where
from cua.tasks.validators import (
    Check,
    ValidatorVerdict,
    as_number,
    cell_index,
    check_kinds,
    json_query,
    validate_state,
)
from sandbox.fake import FakeSandbox
from tests.cua.tasks.fakes import fake_sandbox


@pytest.fixture
def sb() -> FakeSandbox:
    box = fake_sandbox()
    box.reset("fake")
    box.write_file("notes.txt", b"Hello world\nsecond line  \n")
    box.write_file("docs/a.txt", b"a")
    box.write_file("empty.txt", b"")
    box.write_file("cfg.json", b'{"editor": {"tabs": [4, 8], "theme": "dark"}}')
    box.write_file("table.csv", b'item,qty\npens,"1,234.50"\ncups,4\n')
    return box


def check(sb: FakeSandbox, data: dict[str, Any]) -> ValidatorVerdict:
    return validate_state(sb, parse_check(data, Where("test.yaml", "validator")))


@pytest.mark.parametrize(
    ("data", "passed"),
    [
        ({"file_exists": "notes.txt"}, True),
        ({"file_exists": "nope.txt"}, False),
        ({"file_exists": {"path": "docs", "type": "dir"}}, True),
        ({"file_exists": {"path": "notes.txt", "type": "dir"}}, False),
        ({"file_absent": "nope.txt"}, True),
        ({"file_absent": "notes.txt"}, False),
        # The file is "Hello world\nsecond line  \n": one final newline is forgiven, the spaces not.
        ({"file_text": {"path": "notes.txt", "equals": "Hello world\nsecond line  "}}, True),
        ({"file_text": {"path": "notes.txt", "equals": "Hello world\nsecond line"}}, False),
        (
            {
                "file_text": {
                    "path": "notes.txt",
                    "equals": "Hello world\nsecond line",
                    "normalize": "whitespace",
                }
            },
            True,
        ),
        (
            {"file_text": {"path": "notes.txt", "equals": "Hello world\nsecond line  ", "normalize": "none"}},
            False,
        ),
        ({"file_text": {"path": "notes.txt", "equals": "Hello world"}}, False),
        ({"file_text": {"path": "notes.txt", "contains": "world"}}, True),
        ({"file_text": {"path": "notes.txt", "not_contains": "world"}}, False),
        # matches is a regex over the whole text: one matching line is not enough.
        ({"file_text": {"path": "notes.txt", "matches": "^second.*"}}, False),
        ({"file_text": {"path": "notes.txt", "matches": "Hello world\nsecond line *"}}, True),
        ({"file_text": {"path": "missing.txt", "contains": ""}}, False),
        ({"json_path": {"path": "cfg.json", "query": "editor.tabs[1]", "equals": 8}}, True),
        ({"json_path": {"path": "cfg.json", "query": "editor.theme", "equals": "light"}}, False),
        ({"json_path": {"path": "cfg.json", "query": "editor.font", "equals": "x"}}, False),
        ({"json_path": {"path": "notes.txt", "query": "a", "equals": 1}}, False),
        ({"cells": {"path": "table.csv", "values": {"A2": "pens", "B2": 1234.5, "B3": 4, "C9": None}}}, True),
        ({"command": {"argv": ["echo", "hi there"], "stdout_equals": "hi there"}}, True),
        ({"command": {"argv": ["echo", "hi there"], "stdout_contains": "bye"}}, False),
        ({"command": {"argv": ["false"]}}, False),
        ({"command": {"argv": ["false"], "returncode": 1}}, True),
        ({"command": {"argv": ["stat", "-c", "%s", "empty.txt"], "stdout_equals": "0"}}, True),
        ({"window_title": {"matches": "^Conf"}}, False),
        ({"window_title": {"matches": "Conf.*"}}, True),
        ({"window_title": {"equals": "Finished"}}, False),
        ({"a11y": {"target": {"role": "push button", "name": "OK"}}}, True),
        ({"a11y": {"target": {"role": "push button", "name": "OK"}, "states": ["focusable"]}}, True),
        ({"a11y": {"target": {"role": "push button", "name": "OK"}, "states": ["checked"]}}, False),
        ({"a11y": {"target": {"role": "push button", "name": "OK"}, "present": False}}, False),
        ({"a11y": {"target": {"name": "Cancel"}, "present": False}}, True),
        ({"a11y": {"target": {"name": "OK"}, "text_equals": "OK"}}, True),
        ({"screen_text": "Confirm"}, True),
        ({"screen_text": {"not_contains": "Error"}}, True),
        ({"screen_text": {"matches": "^O.$"}}, True),
        ({"screen_text": "Goodbye"}, False),
    ],
)
def test_each_check(sb: FakeSandbox, data: dict[str, Any], passed: bool) -> None:
    verdict = check(sb, data)
    assert verdict.passed is passed, verdict.explain()
    assert verdict.score == (1.0 if passed else verdict.score) and 0.0 <= verdict.score <= 1.0
    assert verdict.reasons and verdict.reasons[0].startswith("PASS" if passed else "FAIL")


def test_cells_give_partial_credit_and_name_the_wrong_cells(sb: FakeSandbox) -> None:
    verdict = check(sb, {"cells": {"path": "table.csv", "values": {"A2": "pens", "A3": "mugs", "B3": 5}}})
    assert not verdict.passed and verdict.score == pytest.approx(1 / 3)
    assert "A3='cups' (expected 'mugs')" in verdict.reasons[0] and "B3='4' (expected 5)" in verdict.reasons[0]
    assert not check(sb, {"cells": {"path": "nope.csv", "values": {"A1": 1}}}).passed


def test_combinators_score_and_explain(sb: FakeSandbox) -> None:
    both = check(sb, {"all": [{"file_exists": "notes.txt"}, {"file_exists": "nope"}]})
    assert not both.passed and both.score == pytest.approx(0.5, abs=1e-5)
    assert both.reasons[0] == "FAIL all (1/2 passed)" and both.reasons[2].startswith("  FAIL")
    either = check(sb, {"any": [{"file_exists": "nope"}, {"file_exists": "notes.txt"}]})
    assert either.passed and either.score == 1.0
    assert check(sb, {"not": {"file_exists": "nope"}}).passed
    assert not check(sb, {"not": {"file_exists": "notes.txt"}}).passed
    nested = check(
        sb, {"all": [{"any": [{"file_exists": "a"}, {"file_exists": "b"}]}, {"screen_text": "OK"}]}
    )
    assert not nested.passed and "    FAIL a exists: no" in nested.reasons


def test_round_trip_to_task_file_form(sb: FakeSandbox) -> None:
    data = {
        "all": [
            {"file_text": {"path": "a.txt", "contains": "x"}},
            {"cells": {"path": "b.ods", "values": {"A1": 3}, "sheet": 1}},
            {"command": {"argv": ["ls"], "stdout_matches": "a"}},
            {"a11y": {"target": {"role": "check box", "name": "Go"}, "states": ["checked"]}},
            {"not": {"file_absent": "c"}},
        ]
    }
    parsed = parse_check(data, Where("t"))
    assert parse_check(parsed.data(), Where("t")) == parsed


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "exactly one check kind"),
        ({"all": []}, "'validator.all': expected a non-empty list"),
        ({"file_text": {"path": "a", "equals": "x", "colour": 1}}, "only the keys"),
        ({"json_path": {"path": "a", "query": "b"}}, "the key(s) ['equals']"),
        ({"command": {"argv": []}}, "'validator.command.argv'"),
        ({"screen_text": {"equals": "x"}}, "never one exact string"),
        ({"a11y": {"target": {"states": ["checked"]}}}, "at least a role, a name or a text"),
    ],
)
def test_parse_errors_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(TaskSpecError) as info:
        parse_check(data, Where("test.yaml", "validator"))
    assert str(info.value).startswith("test.yaml: ") and message in str(info.value), info.value


def test_helpers() -> None:
    assert cell_index("A1") == (0, 0) and cell_index("AB12") == (11, 27)
    assert as_number("1,234.5") == 1234.5 and as_number("-3") == -3 and as_number("2E3") == 2000
    assert as_number("pens") is None and as_number("") is None and as_number("1,2") is None
    assert json_query({"a": [{"b": 2}]}, "a[0].b") == 2
    with pytest.raises(KeyError):
        json_query({"a": 1}, "b")


# One sample of every kind, in the task-file form; the registry must know exactly these kinds.
SAMPLES: dict[str, Any] = {
    "all": [{"file_exists": "a"}],
    "any": [{"file_absent": "a"}],
    "not": {"file_exists": "a"},
    "file_exists": {"path": "docs", "type": "dir"},
    "file_absent": "a",
    "file_text": {"path": "a", "matches": "^x", "normalize": "none"},
    "json_path": {"path": "a.json", "query": "b[0]", "equals": 4},
    "cells": {"path": "b.ods", "values": {"A1": 3}, "sheet": 1, "tolerance": 0.5},
    "table_equals": {"path": "b.ods", "expected": "gold.ods", "sheet": "S", "expected_sheet": 2},
    "sheet": {
        "path": "b.ods",
        "cells": {"A1": 3, "B2": {"formula": True, "refs": ["A1:A3"]}},
        "others": "empty",
    },
    "command": {"argv": ["ls"], "returncode": None, "stdout_contains": "a"},
    "window_title": {"equals": "Notes"},
    "a11y": {"target": {"role": "check box"}, "present": False},
    "screen_text": {"not_contains": "Error"},
    "changes": {"created": ["d"], "moved": {"a": "d/a"}, "others": "any"},
    "trajectory": {"sequence": ["1", "+", "2", "="], "same": {"=": ["enter"]}},
}


def test_every_kind_is_declared_once_by_its_class_and_round_trips() -> None:
    assert validators.CHECK_KINDS == tuple(SAMPLES) == check_kinds()
    for kind, value in SAMPLES.items():
        parsed = parse_check({kind: value}, Where("t"))
        assert parsed.kind == kind and parsed.data() == {kind: value}, kind
        assert parse_check(parsed.data(), Where("t")) == parsed


def test_a_second_class_for_a_kind_is_refused() -> None:
    with pytest.raises(TypeError, match=r"'file_exists' is declared by both .*files\.FileExists and .*Twin"):

        class Twin(Check):
            kind: ClassVar[str] = "file_exists"

    assert check_kinds() == validators.CHECK_KINDS


def test_the_public_names_stay_importable_from_the_package() -> None:
    for name in validators.__all__:
        assert hasattr(validators, name), name
    names = {"ValidatorVerdict", "Check", "Context", "parse_check", "validate_state", "CHECK_KINDS", "Cells"}
    assert names <= set(validators.__all__)
