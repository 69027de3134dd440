"""Goal-level arithmetic composed from a keypad a walk saw, proven (or refused) by admission."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace

import pytest

from cua.synth.admit import admit
from cua.synth.compose import compose, keypad
from cua.synth.derive import Candidate
from cua.synth.state import NodeKey, NodeValue, Snapshot
from cua.synth.walk import Novelty, Walk, walk
from cua.tasks.oracle import OracleRunner
from cua.tasks.runner import start, validate, volatile_paths
from cua.tasks.spec import parse_document
from cua.tasks.validators.fields import compare_text
from sandbox.xvfb import XvfbSandbox
from tests.cua.synth.test_synthesis import clicks, scripted_walk, seed_of

DISPLAY = NodeKey("text", "", 0)


def snap(display: str, *buttons: str) -> Snapshot:
    visible = frozenset({("toggle button", b) for b in buttons} | {("text", "")})
    return Snapshot({DISPLAY: NodeValue(display, frozenset())}, "galculator", None, visible)


DIGITS = [str(d) for d in range(10)]


def test_a_keypad_needs_every_digit_equals_and_a_display() -> None:
    assert keypad(snap("0", *DIGITS, "=", "+")) is not None
    assert keypad(snap("0", *DIGITS[:9], "=", "+")) is None  # no '9'
    assert keypad(snap("0", *DIGITS, "+")) is None  # no '='
    no_display = replace(snap("0", *DIGITS, "="), nodes={})
    assert keypad(no_display) is None


def composed(display: str, *buttons: str, count: int = 40, seed: int = 0) -> list[Candidate]:
    walk = Walk(snap(display, *buttons), [], "done")
    return compose(walk, "galculator", [], {"test": True}, random.Random(seed), count=count)


def test_composed_goals_spell_their_expression_and_check_the_computed_value() -> None:
    cands = composed("0", *DIGITS, "=", "+", "-", "*", "/", "(", ")", "sqrt", "AC")
    kinds = {c.kind for c in cands}
    assert kinds == {"goal/arithmetic", "goal/root", "goal/number"}
    for c in cands:
        presses = "".join(s["click"]["name"] for s in c.document["oracle"])
        shown = c.document["validator"]["a11y"]["text_equals"]
        assert c.document["validator"]["a11y"]["target"] == {"role": "text"}
        assert not c.rejected and c.document["generated"] == "walk"
        if c.kind == "goal/arithmetic":
            assert presses.endswith("=")
            expr = presses[:-1].replace("×", "*").replace("/", "//")
            assert str(eval(expr)) == shown  # digits and operators composed here
        elif c.kind == "goal/root":
            assert presses.endswith("sqrt") and int(shown) ** 2 == int(presses[: -len("sqrt")])
        else:
            assert presses == shown
        assert "galculator" in c.document["instruction"]
        assert any("scientific calculator" in p for p in c.document["paraphrases"])


def test_a_display_showing_a_value_is_cleared_first() -> None:
    cands = composed("32371", *DIGITS, "=", "+", "AC", count=5)
    assert cands and all(c.document["oracle"][0]["click"]["name"] == "AC" for c in cands)


def test_a_display_with_modes_below_its_value_is_checked_on_its_value_line() -> None:
    # A scientific galculator: the value, then a line of modes whose flags show the last operator.
    cands = composed("12\n DEC  HEX\t \t", *DIGITS, "=", "+", "AC", count=5, seed=1)
    assert cands and all(c.document["oracle"][0]["click"]["name"] == "AC" for c in cands)
    for c in cands:
        check = c.document["validator"]["a11y"]
        assert "text_equals" not in check and c.change.after.isdigit()
        value = c.change.after
        assert compare_text(f"{value}\n DEC  HEX\t=\t", "matches", check["text_matches"])
        assert compare_text(value, "matches", check["text_matches"])
        # Wrong values fail: another number, the value with a digit more, the value on line two.
        assert not compare_text(f"{int(value) + 1}\n DEC  HEX\t=\t", "matches", check["text_matches"])
        assert not compare_text(f"{value}0\n DEC  HEX\t=\t", "matches", check["text_matches"])
        assert not compare_text(f"0\n{value}", "matches", check["text_matches"])
        assert "DEC" not in c.document["instruction"]  # it asks for the value, not the mode line


@pytest.fixture(scope="module")
def galc() -> Iterator[tuple[XvfbSandbox, Walk]]:
    with XvfbSandbox() as sb:
        yield sb, scripted_walk(sb, "galculator", clicks("7"), moves=1)


@pytest.mark.x11
def test_admission_proves_composed_goals_and_refuses_a_wrong_value(galc: tuple[XvfbSandbox, Walk]) -> None:
    sb, w = galc
    rng = random.Random(3)
    cands = [c for c in compose(w, "galculator", seed_of("galculator").setup, {}, rng, count=8)
             if c.kind in ("goal/arithmetic", "goal/root")][:2]  # fmt: skip
    assert cands
    wrong = cands[0]
    shown = wrong.document["validator"]["a11y"]["text_equals"]
    off_by_one = Candidate(
        wrong.app, wrong.kind, wrong.change, wrong.moves,
        {**wrong.document, "id": "synth.galculator.wrong",
         "validator": {"a11y": {"target": {"role": "text"}, "text_equals": str(int(shown) + 1)}}},
    )  # fmt: skip
    report = admit(sb, [*cands, off_by_one], rng, random_actions=5, gui_near_misses=False)
    by_id = {d.candidate.document["id"]: d for d in report.decisions}
    for c in cands:
        d = by_id[c.document["id"]]
        assert d.admitted, d.reason
        assert d.near_misses >= 1  # a dropped or swapped press leaves another value
    assert by_id["synth.galculator.wrong"].reason.startswith("not proven")


@pytest.mark.x11
def test_another_route_to_the_value_passes_and_the_operands_alone_do_not(
    galc: tuple[XvfbSandbox, Walk],
) -> None:
    sb, w = galc
    composed = compose(w, "galculator", seed_of("galculator").setup, {}, random.Random(5), count=20)
    cand = next(c for c in composed if c.kind == "goal/arithmetic")
    task = parse_document(cand.document)[0].instance(0)
    presses = [s["click"]["name"] for s in cand.document["oracle"]]
    expr = "".join(presses[:-1])
    # The keyboard instead of the buttons, Return instead of '=': the same value, a pass.
    start(sb, task)
    run = OracleRunner(sb, settle_s=0.3).run(parse_document({**cand.document, "oracle": [
        {"type": expr}, {"key": "Return"}]})[0].instance(0).oracle or [])  # fmt: skip
    assert validate(sb, task, trajectory=run.moves).passed
    # The expression entered but never evaluated: the display shows the last operand, a fail.
    start(sb, task)
    run = OracleRunner(sb, settle_s=0.3).run(parse_document({**cand.document, "oracle": [
        {"type": expr}]})[0].instance(0).oracle or [])  # fmt: skip
    assert not validate(sb, task, trajectory=run.moves).passed


@pytest.mark.x11
def test_a_scientific_display_gets_goals_that_admission_proves() -> None:
    """Seeded in scientific mode, galculator's display also shows its modes: goals still come."""
    conf = '[general]\nmode=1\nremembers_display=true\nremembered_valuex="415"\n'
    mode = {"write": {"path": ".config/galculator/galculator.conf", "text": conf}}
    seed = parse_document({**SCIENTIFIC_SEED, "setup": [mode]})[0].instance(0)
    with XvfbSandbox() as sb:
        start(sb, seed)
        w = walk(sb, volatile_paths(seed), random.Random(0), moves=1, novelty=Novelty(),
                 text_pool=lambda r: "word", chooser=clicks("7"))  # type: ignore[arg-type]  # fmt: skip
        assert "\n" in next(v.text for k, v in w.start.nodes.items() if k.role == "text")
        rng = random.Random(2)
        cands = [c for c in compose(w, "galculator", seed.setup, {}, rng, count=6)
                 if c.kind == "goal/arithmetic"][:1]  # fmt: skip
        assert cands
        report = admit(sb, cands, rng, random_actions=3, gui_near_misses=False)
        (d,) = report.decisions
        assert d.admitted and d.near_misses >= 1, d.reason
        # Another route (the keyboard) passes; the operands alone, never evaluated, fail.
        task = parse_document(d.candidate.document)[0].instance(0)
        presses = [s["click"]["name"] for s in d.candidate.document["oracle"]]
        expr = "".join(p for p in presses[:-1] if p != "AC")
        for typed, passes in (([{"type": expr}, {"key": "Return"}], True), ([{"type": expr}], False)):
            start(sb, task)
            clear = [{"click": {"role": "toggle button", "name": "AC"}}]
            run = OracleRunner(sb, settle_s=0.3).run(parse_document({**d.candidate.document, "oracle": [
                *clear, *typed]})[0].instance(0).oracle or [])  # fmt: skip
            assert validate(sb, task, trajectory=run.moves).passed is passes, typed


SCIENTIFIC_SEED = {"id": "seed", "app": "galculator", "difficulty": 1, "instruction": "Start",
                   "validator": {"file_absent": "x"}}  # fmt: skip
