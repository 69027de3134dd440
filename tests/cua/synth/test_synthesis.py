"""Synthesis on real applications: a walk recorded as oracle steps, candidates, admission decisions."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import pytest

from cua.synth.admit import admit
from cua.synth.derive import Candidate, derive
from cua.synth.walk import ChosenMove, Novelty, Walk, walk
from cua.tasks.runner import start, volatile_paths
from cua.tasks.spec import TaskSpec, parse_document
from sandbox.base import A11yNode
from sandbox.xvfb import XvfbSandbox

pytestmark = pytest.mark.x11


def seed_of(app: str) -> TaskSpec:
    """A plain start state: the application with nothing set up (these tests script their walks)."""
    doc = {
        "id": "seed",
        "app": app,
        "difficulty": 1,
        "instruction": "Start",
        "validator": {"file_absent": "x"},
    }
    return parse_document(doc)[0].instance(0)


def clicks(*names: str) -> object:
    """A chooser that clicks the galculator buttons ``names`` in order, then ends the walk."""
    queue = list(names)

    def choose(nodes: Sequence[A11yNode]) -> ChosenMove | None:
        if not queue:
            return None
        name = queue.pop(0)
        return [{"click": {"role": "toggle button", "name": name}}], f"click '{name}'", None

    return choose


def scripted_walk(sb: XvfbSandbox, app: str, chooser: object, moves: int = 6) -> Walk:
    seed = seed_of(app)
    start(sb, seed)
    return walk(
        sb,
        volatile_paths(seed),
        random.Random(0),
        moves=moves,
        novelty=Novelty(),
        text_pool=lambda r: "word",
        chooser=chooser,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def galc() -> Iterator[tuple[XvfbSandbox, Walk, list[Candidate]]]:
    with XvfbSandbox() as sb:
        w = scripted_walk(sb, "galculator", clicks("1", "2", "+", "3", "="))
        yield sb, w, derive(w, "galculator", seed_of("galculator").setup, {"test": "galc"})


def test_walk_records_every_move_with_the_state_around_it(
    galc: tuple[XvfbSandbox, Walk, list[Candidate]],
) -> None:
    _, w, _ = galc
    assert [m.label for m in w.moves] == ["click '1'", "click '2'", "click '+'", "click '3'", "click '='"]
    display = next(k for k in w.start.nodes if k.role == "text")
    assert w.start.nodes[display].text == "0"
    assert [m.after.nodes[display].text for m in w.moves] == ["1", "12", "12", "3", "15"]


def test_each_new_value_becomes_one_candidate_with_its_chain(
    galc: tuple[XvfbSandbox, Walk, list[Candidate]],
) -> None:
    _, _, cands = galc
    shown = [(c.change.after, len(c.moves)) for c in cands]
    assert shown == [("1", 1), ("12", 2), ("3", 4), ("15", 5)]  # '+' changed nothing readable
    last = cands[-1].document
    assert last["generated"] == "walk"
    assert last["validator"] == {"a11y": {"target": {"role": "text"}, "text_equals": "15"}}
    assert "'15'" in last["instruction"] and last["paraphrases"]
    assert [s["click"]["name"] for s in last["oracle"]] == ["1", "2", "+", "3", "="]
    task = parse_document(last)[0].instance(0)  # a task file like any other
    assert task.generated == "walk" and task.provenance["moves"] == [m.label for m in cands[-1].moves]


def test_admission_proves_some_and_rejects_the_rest_with_reasons(
    galc: tuple[XvfbSandbox, Walk, list[Candidate]],
) -> None:
    sb, _, cands = galc
    report = admit(sb, cands, random.Random(1), random_actions=20, gui_near_misses=False)
    decided = {d.candidate.change.after: d for d in report.decisions}
    # One click on '1' or '3' reaches those displays: trivial, dropped.
    assert decided["1"].reason.startswith("trivial") and decided["3"].reason.startswith("trivial")
    # 12 and 15 need a chain: proven by replaying it from a fresh start, near misses all fail.
    assert decided["12"].admitted, decided["12"].reason
    assert decided["15"].admitted, decided["15"].reason
    assert decided["15"].near_misses >= 1
    # Every move is needed ('+' shows nothing but holds the operator): none is dropped.
    assert [m.label for m in decided["15"].candidate.moves] == [m.label for m in cands[-1].moves]
    assert report.rejected_by_reason() == {"trivial": 2}
    # The same candidates again: duplicates of what was admitted.
    again = admit(
        sb, cands[1:2], random.Random(1), known=[d.candidate.validator_key for d in report.admitted]
    )
    assert again.decisions[0].reason.startswith("duplicate")


def test_a_validator_that_holds_at_the_start_is_rejected(
    galc: tuple[XvfbSandbox, Walk, list[Candidate]],
) -> None:
    sb, _, cands = galc
    cand = cands[-1]
    bad = Candidate(
        cand.app,
        cand.kind,
        cand.change,
        cand.moves,
        {
            **cand.document,
            "id": "synth.galculator.start",
            "validator": {"a11y": {"target": {"role": "text"}, "text_equals": "0"}},
        },
    )
    report = admit(sb, [bad], random.Random(2), random_actions=0)
    assert report.decisions[0].reason == "passes on the start state"


def test_a_demonstration_that_does_not_reproduce_is_not_proven(
    galc: tuple[XvfbSandbox, Walk, list[Candidate]],
) -> None:
    sb, _, cands = galc
    cand = cands[-1]
    wrong = {**cand.document, "id": "synth.galculator.wrong"}
    wrong["validator"] = {"a11y": {"target": {"role": "text"}, "text_equals": "16"}}
    report = admit(
        sb,
        [Candidate(cand.app, cand.kind, cand.change, cand.moves, wrong)],
        random.Random(3),
        random_actions=0,
    )
    assert report.decisions[0].reason.startswith("not proven"), report.decisions[0].reason


def test_a_prefix_that_already_passes_is_rejected() -> None:
    """'1', '2', then a key that changes nothing: the end state holds after two of three moves."""
    with XvfbSandbox() as sb:
        w = scripted_walk(sb, "galculator", clicks("1", "2", "MS"))
        cands = derive(w, "galculator", seed_of("galculator").setup, {})
        twelve = next(c for c in cands if c.change.after == "12")
        stretched = Candidate(twelve.app, twelve.kind, twelve.change, w.moves, {**twelve.document})
        stretched.document["oracle"] = [s for m in w.moves for s in m.steps]
        stretched.document["id"] = "synth.galculator.stretched"
        report = admit(sb, [stretched], random.Random(4), random_actions=0, gui_near_misses=False)
        assert report.decisions[0].reason.startswith("prefix passes"), report.decisions[0].reason


def test_a_saved_one_line_edit_becomes_a_file_task_naming_the_edit() -> None:
    """A file of several lines: the instruction names the added line, the validator checks the whole file."""
    from cua.synth.seeds import seed_task

    seed = seed_task("mousepad", random.Random(3), 0)
    keys = [([{"key": "ctrl+end"}, {"type": "spinach"}], "type at the end"), ([{"key": "ctrl+s"}], "save")]

    def choose(nodes: Sequence[A11yNode]) -> ChosenMove | None:
        return (*keys.pop(0), None) if keys else None

    with XvfbSandbox() as sb:
        start(sb, seed)
        w = walk(sb, volatile_paths(seed), random.Random(0), moves=4, novelty=Novelty(),
                 text_pool=lambda r: "x", chooser=choose)  # fmt: skip
        cands = [c for c in derive(w, "mousepad", seed.setup, {}) if c.kind.startswith("files/")]
        assert len(cands) == 1 and not cands[0].rejected, [c.rejected for c in cands]
        doc = cands[0].document
        (path,) = cands[0].change.modified
        assert f"add the line 'spinach' at the very end of '{path}'" in doc["instruction"]
        assert doc["validator"]["all"][0] == {"changes": {"modified": [path]}}
        whole = doc["validator"]["all"][1]["file_text"]["equals"]
        assert whole.endswith("\nspinach") and whole.count("\n") >= 2
        report = admit(sb, cands, random.Random(5), random_actions=3, gui_near_misses=False)
        assert report.decisions[0].admitted, report.decisions[0].reason
        assert report.decisions[0].near_misses >= 3  # unsaved, other lines changed, damage beside it


def test_a_move_the_outcome_does_not_need_is_dropped_from_the_demonstration() -> None:
    """'=' on a fresh 0 (nothing changes), then '1', '2': '12' is taught by two clicks."""
    with XvfbSandbox() as sb:
        w = scripted_walk(sb, "galculator", clicks("=", "1", "2"))
        cands = derive(w, "galculator", seed_of("galculator").setup, {})
        twelve = next(c for c in cands if c.change.after == "12")
        assert [m.label for m in twelve.moves] == ["click '='", "click '1'", "click '2'"]
        report = admit(sb, [twelve], random.Random(5), random_actions=0, gui_near_misses=False)
        (decided,) = report.decisions
        assert decided.admitted, decided.reason
        assert [m.label for m in decided.candidate.moves] == ["click '1'", "click '2'"]
        assert decided.task is not None and decided.task.oracle is not None
        assert [s["click"]["name"] for s in decided.candidate.document["oracle"]] == ["1", "2"]
        assert decided.candidate.document["provenance"]["walk_moves"] == 3
        assert decided.candidate.document["id"] != twelve.document["id"]
        assert decided.candidate.validator_key == twelve.validator_key  # the same outcome


def test_a_menu_opened_and_an_item_the_outcome_does_not_need_go_together() -> None:
    """Edit, then one of its items, then '1', '2': neither menu move can go alone, the pair can."""
    steps = [
        {"click": {"role": "menu", "name": "Edit"}},
        {"click": {"role": "menu item", "name": "Copy Display Value"}},
        {"click": {"role": "toggle button", "name": "1"}},
        {"click": {"role": "toggle button", "name": "2"}},
    ]
    queue = list(steps)

    def choose(nodes: Sequence[A11yNode]) -> ChosenMove | None:
        return ([queue.pop(0)], "move", None) if queue else None

    with XvfbSandbox() as sb:
        w = scripted_walk(sb, "galculator", choose, moves=4)
        assert len(w.moves) == 4
        cands = derive(w, "galculator", seed_of("galculator").setup, {})
        twelve = next(c for c in cands if c.change.after == "12")
        report = admit(sb, [twelve], random.Random(5), random_actions=0, gui_near_misses=False)
        (decided,) = report.decisions
        assert decided.admitted, decided.reason
        assert [s["click"]["name"] for s in decided.candidate.document["oracle"]] == ["1", "2"]


def test_a_display_value_changes_when_the_lines_below_it_stay() -> None:
    from cua.synth.state import NodeKey, NodeValue, Snapshot, changes

    key = NodeKey("text", "", 0)

    def snap(text: str) -> Snapshot:
        return Snapshot({key: NodeValue(text, frozenset())}, "galculator", None, frozenset())

    start = snap("415\n DEC  HEX\t \t")
    (change,) = changes(start, snap("35\n DEC  HEX\t \t"))
    assert change.kind == "a11y/text" and change.after == "35\n DEC  HEX\t \t"  # checked whole
    assert changes(start, snap("35\n DEC  HEX\t=\t")) == []  # the flags moved too: not one value
    assert changes(snap("415"), snap("35\nmore")) == []  # a second line appeared
    assert changes(start, snap("\n DEC  HEX\t \t")) == []  # no value shown
