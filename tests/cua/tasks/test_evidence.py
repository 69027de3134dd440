"""The evidence beside the final state: HOME's difference since the start, and the recorded inputs.

The ``changes`` check, the side-effect guard and the ``trajectory`` check, on the FakeSandbox
(whose HOME is a dict; the real listing runs python3 in a real sandbox, tested at the end).
"""

from __future__ import annotations

from typing import Any

import pytest

from cua.tasks.errors import Where
from cua.tasks.runner import record_baseline, validate
from cua.tasks.spec import parse_document
from cua.tasks.validators import (
    Baseline,
    Context,
    Move,
    SideEffects,
    parse_check,
    presses,
    read_home,
    validate_state,
)
from cua.tasks.validators.home import is_volatile
from sandbox.fake import FakeSandbox
from sandbox.xvfb import XvfbSandbox


def fake(files: dict[str, bytes]) -> FakeSandbox:
    sb = FakeSandbox()
    sb.reset("fake")
    for path, data in files.items():
        sb.write_file(path, data)
    return sb


def remove(sb: FakeSandbox, *paths: str) -> None:
    for path in paths:
        del sb._files[path]  # the fake's HOME (it has no rm)


def baseline(sb: FakeSandbox, exclude: tuple[str, ...] = ()) -> Baseline:
    listing = read_home(sb, exclude)
    assert not isinstance(listing, str)
    return Baseline("t", {}, listing)


def run(sb: FakeSandbox, data: Any, base: Baseline | None) -> tuple[bool, str]:
    verdict = validate_state(sb, parse_check(data, Where("t")), baseline=base)
    return verdict.passed, verdict.explain()


START = {"a.log": b"a\n", "b.log": b"b\n", "readme.txt": b"keep\n"}
MOVE = {"changes": {"created": ["logs"], "moved": {"a.log": "logs/a.log", "b.log": "logs/b.log"}}}


def test_a_move_is_gone_from_the_source_and_at_the_target_with_the_same_bytes() -> None:
    sb = fake(START)
    base = baseline(sb)
    remove(sb, "a.log", "b.log")
    sb.write_file("logs/a.log", b"a\n")
    sb.write_file("logs/b.log", b"b\n")
    assert run(sb, MOVE, base)[0]


@pytest.mark.parametrize(
    ("wrong", "reason"),
    [
        ("copied", "still at a.log (copied, not moved?)"),
        ("edited", "logs/b.log: it is a file of 3 bytes with other contents"),
        ("extra", "stray.txt created (a file of 1 bytes), which the task does not ask for"),
        ("deleted-other", "readme.txt deleted (was a file of 5 bytes)"),
        ("missing", "logs/b.log: it is missing"),
    ],
)
def test_each_wrong_move_fails_with_its_reason(wrong: str, reason: str) -> None:
    sb = fake(START)
    base = baseline(sb)
    sb.write_file("logs/a.log", b"a\n")
    sb.write_file("logs/b.log", b"b\n")
    if wrong != "copied":
        remove(sb, "a.log")
    remove(sb, "b.log")
    if wrong == "edited":
        sb.write_file("logs/b.log", b"B!\n")
    if wrong == "extra":
        sb.write_file("stray.txt", b"x")
    if wrong == "deleted-other":
        remove(sb, "readme.txt")
    if wrong == "missing":
        remove(sb, "logs/b.log")
    passed, why = run(sb, MOVE, base)
    assert not passed and reason in why, why


def test_changes_and_the_guard_fail_without_a_baseline_and_say_how_to_get_one() -> None:
    sb = fake(START)
    passed, why = run(sb, MOVE, None)
    assert not passed and "start the task with cua.tasks.runner.start" in why
    verdict = SideEffects(("x",)).run(Context(sb))
    assert not verdict.passed and "no baseline" in verdict.explain()


def test_the_guard_judges_only_what_no_check_names_and_skips_volatile_paths() -> None:
    sb = fake({**START, ".cache/x": b"1"})
    base = baseline(sb, (".cache/**",))
    sb.write_file("out/report.txt", b"done")  # judged (and its new folder with it)
    sb.write_file(".cache/x", b"2")  # volatile
    sb.write_file(".cache/new", b"3")
    assert SideEffects(("out/report.txt",)).run(Context(sb, baseline=base)).passed
    sb.write_file("readme.txt", b"changed")
    verdict = SideEffects(("out/report.txt",)).run(Context(sb, baseline=base))
    assert not verdict.passed and "readme.txt modified" in verdict.explain()
    assert SideEffects(("out/report.txt",), allow=("readme.*",)).run(Context(sb, baseline=base)).passed


def test_volatile_patterns() -> None:
    assert is_volatile(".config/chromium", [".config/chromium/**"])
    assert is_volatile(".config/chromium/Default/History", [".config/chromium/**"])
    assert not is_volatile(".config/chromiumx", [".config/chromium/**"])
    assert is_volatile("docs/.~lock.book.ods#", ["*/.~lock.*#"])
    assert is_volatile(".~lock.book.ods#", [".~lock.*#"])


def test_a_task_validates_with_its_guard_after_start_records_the_baseline() -> None:
    [family] = parse_document(
        {
            "id": "t.write",
            "app": "fake",
            "difficulty": 1,
            "instruction": "Write hi into out.txt.",
            "setup": [{"write": {"path": "keep.txt", "text": "keep"}}],
            "validator": {"file_text": {"path": "out.txt", "equals": "hi"}},
        }
    )
    task = family.instance(0)
    sb = fake({"keep.txt": b"keep"})
    record_baseline(sb, task)
    sb.write_file("out.txt", b"hi\n")
    assert validate(sb, task).passed
    sb.write_file("keep.txt", b"")
    verdict = validate(sb, task)
    assert not verdict.passed and "keep.txt modified" in verdict.explain()
    assert verdict.score == 0.5  # the checks' credit, capped below a pass


def moves(*items: tuple[dict[str, Any], str | None]) -> tuple[Move, ...]:
    return tuple(Move(action, {"role": "push button", "name": hit} if hit else None) for action, hit in items)


def test_presses_read_clicks_by_what_they_hit_and_text_and_keys_by_character() -> None:
    got = presses(
        moves(
            ({"type": "click", "x": 1, "y": 1}, "7"),
            ({"type": "type", "text": "+2\n"}, None),
            ({"type": "key", "key": "KP_Multiply"}, None),
            ({"type": "key", "keys": ["Return"]}, None),
            ({"type": "hotkey", "keys": ["ctrl", "s"]}, None),
            ({"type": "click", "x": 1, "y": 1}, None),
        )
    )
    assert got == ["7", "+", "2", "enter", "*", "enter", "ctrl+s", "?click"]


TRAJECTORY = {"trajectory": {"sequence": ["1", "2", "+", "3", "="], "same": {"=": ["enter"]}}}


@pytest.mark.parametrize(
    ("inputs", "passed"),
    [
        ([("1", None), ("2", None), ("+", None), ("3", None), ("=", None)], True),
        ([("1", None), ("2", None), ("+", None), ("3", None), (None, "12+3\n")], True),
        ([("C", None), ("1", None), ("2", None), ("+", None), ("3", None), ("=", None)], True),
        ([("1", None), ("5", None)], False),  # the digits of the answer, never adding
        ([("1", None), ("2", None), ("3", None), ("=", None)], False),
        ([("+", None), ("1", None), ("2", None), ("3", None), ("=", None)], False),  # out of order
    ],
)
def test_a_trajectory_check_wants_its_presses_in_order(
    inputs: list[tuple[str | None, str | None]], passed: bool
) -> None:
    recorded = tuple(
        Move({"type": "click", "x": 0, "y": 0}, {"name": name})
        if name
        else Move({"type": "type", "text": text})
        for name, text in inputs
    )
    check = parse_check(TRAJECTORY, Where("t"))
    assert check.run(Context(FakeSandbox(), trajectory=recorded)).passed is passed


def test_a_trajectory_check_without_recorded_inputs_fails_and_says_why() -> None:
    check = parse_check(TRAJECTORY, Where("t"))
    verdict = check.run(Context(FakeSandbox()))
    assert not verdict.passed and "no recorded trajectory" in verdict.explain()
    blind = (Move({"type": "click", "x": 0, "y": 0}),)
    verdict = check.run(Context(FakeSandbox(), trajectory=blind))
    assert not verdict.passed and "without what they hit" in verdict.explain()


@pytest.mark.x11
@pytest.mark.timeout(60)
def test_the_real_listing_hashes_files_and_records_links_and_folders(sb: XvfbSandbox) -> None:
    sb.reset("xterm")
    sb.exec(["sh", "-c", "mkdir -p d/e && printf hi > d/e/f && ln -s d/e/f link && mkfifo pipe"])
    listing = read_home(sb, ("d/e/**",))
    assert not isinstance(listing, str)
    entries = listing.entries
    assert entries["d"].kind == "d" and "d/e" not in entries and "d/e/f" not in entries
    assert entries["link"].kind == "l" and entries["link"].digest == "d/e/f"
    assert entries["pipe"].kind == "o"
    sb.write_file("x.txt", b"hi")
    again = read_home(sb, ())
    assert not isinstance(again, str)
    digest = "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"  # sha256("hi")
    assert again.entries["x.txt"].digest == again.entries["d/e/f"].digest == digest
