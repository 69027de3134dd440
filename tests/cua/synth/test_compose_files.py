"""File goals composed for a file manager (rename, new folder, move), proven and hard to fool."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from cua.synth.admit import admit
from cua.synth.compose import compose, file_manager
from cua.synth.derive import Candidate
from cua.synth.seeds import seed_task
from cua.synth.state import Snapshot
from cua.synth.walk import Novelty, Walk, walk
from cua.tasks.runner import start, volatile_paths
from cua.tasks.spec import TaskSpec
from cua.tasks.validators.home import Entry, HomeListing
from sandbox.xvfb import XvfbSandbox
from tests.cua.synth.outcomes import judged

HOME = {
    "notes.txt": Entry("f", 12, "a"),
    "plan_b.csv": Entry("f", 30, "b"),
    "boxes": Entry("d"),
    "boxes/inner.txt": Entry("f", 3, "c"),
    ".config": Entry("d"),
}


def snap(icons: bool = True, home: dict[str, Entry] | None = None) -> Snapshot:
    visible = frozenset({("icon", "")} if icons else {("push button", "OK")})
    return Snapshot({}, "user", HomeListing(HOME if home is None else home), visible)


def test_a_file_manager_is_icons_over_home() -> None:
    assert file_manager(snap()) == (["notes.txt", "plan_b.csv"], ["boxes"])  # top level, not hidden
    assert file_manager(snap(icons=False)) is None  # no icons: not a file manager's view
    assert file_manager(snap(home={".config": Entry("d")})) is None  # nothing to work on


def test_file_goals_name_their_files_and_check_the_whole_home() -> None:
    cands = compose(Walk(snap(), [], "done"), "pcmanfm", [], {}, random.Random(0), count=30)
    by_kind: dict[str, list[Candidate]] = {}
    for c in cands:
        by_kind.setdefault(c.kind, []).append(c)
    assert set(by_kind) == {"goal/rename", "goal/folder", "goal/move"}
    for c in by_kind["goal/rename"]:
        ((src, dst),) = c.document["validator"]["changes"]["moved"].items()
        assert src in ("notes.txt", "plan_b.csv") and dst.rsplit(".", 1)[1] == src.rsplit(".", 1)[1]
        assert (
            dst not in HOME
            and f"'{src}'" in c.document["instruction"]
            and f"'{dst}'" in c.document["instruction"]
        )
        assert [s.get("key") for s in c.document["oracle"]][1:3] == ["F2", "ctrl+a"]
    for c in by_kind["goal/folder"]:
        created, is_dir = c.document["validator"]["all"]
        (name,) = created["changes"]["created"]
        assert is_dir == {"file_exists": {"path": name, "type": "dir"}} and name not in HOME
    for c in by_kind["goal/move"]:
        ((src, dst),) = c.document["validator"]["changes"]["moved"].items()
        assert dst == f"boxes/{src}" and c.document["oracle"][2]["count"] == 2  # opens the folder
    assert all(c.provenance["composed"] and c.document["generated"] == "walk" for c in cands)


@pytest.fixture(scope="module")
def pcmanfm() -> Iterator[tuple[XvfbSandbox, TaskSpec, Walk]]:
    seed = seed_task("pcmanfm", random.Random("0:pcmanfm:0"), 0)  # files and a folder in HOME
    with XvfbSandbox() as sb:
        start(sb, seed)
        w = walk(sb, volatile_paths(seed), random.Random(0), moves=1, novelty=Novelty(),
                 text_pool=lambda r: "word", chooser=lambda nodes: None)  # fmt: skip
        yield sb, seed, w


def one_of_each(w: Walk, seed: TaskSpec) -> dict[str, Candidate]:
    found: dict[str, Candidate] = {}
    for c in compose(w, "pcmanfm", seed.setup, {}, random.Random(1), count=20):
        found.setdefault(c.kind, c)
    assert set(found) == {"goal/rename", "goal/folder", "goal/move"}
    return found


@pytest.mark.x11
def test_admission_proves_each_file_goal(pcmanfm: tuple[XvfbSandbox, TaskSpec, Walk]) -> None:
    sb, seed, w = pcmanfm
    goals = one_of_each(w, seed)
    report = admit(sb, list(goals.values()), random.Random(2), random_actions=3, gui_near_misses=False)
    for d in report.decisions:
        assert d.admitted, (d.candidate.kind, d.reason)


def reached(sb: XvfbSandbox, cand: Candidate, *commands: list[str]) -> bool:
    """Start ``cand``'s task, reach a state by shell ``commands`` (argument lists) in HOME; validate."""
    return judged(sb, cand.document, *(" ".join(cmd) for cmd in commands))


@pytest.mark.x11
def test_file_goals_fail_wrong_outcomes_and_pass_other_routes(
    pcmanfm: tuple[XvfbSandbox, TaskSpec, Walk],
) -> None:
    sb, seed, w = pcmanfm
    goals = one_of_each(w, seed)
    ((src, dst),) = goals["goal/rename"].document["validator"]["changes"]["moved"].items()
    assert reached(sb, goals["goal/rename"], ["mv", src, dst])  # the shell instead of the GUI: a pass
    assert not reached(sb, goals["goal/rename"], ["cp", src, dst])  # copied, not renamed
    assert not reached(sb, goals["goal/rename"], ["mv", src, "x" + dst])  # another name
    assert not reached(sb, goals["goal/rename"], ["mv", src, dst], ["touch", "stray.txt"])  # damage besides
    ((src, dst),) = goals["goal/move"].document["validator"]["changes"]["moved"].items()
    assert reached(sb, goals["goal/move"], ["mv", src, dst])
    assert not reached(sb, goals["goal/move"], ["cp", src, dst])  # copied into the folder
    assert not reached(
        sb, goals["goal/move"], ["mv", src, dst], ["echo", "x", ">>", dst]
    )  # moved, then edited
    (name,) = goals["goal/folder"].document["validator"]["all"][0]["changes"]["created"]
    assert reached(sb, goals["goal/folder"], ["mkdir", name])
    assert not reached(sb, goals["goal/folder"], ["touch", name])  # a file of that name is no folder
    assert not reached(sb, goals["goal/folder"], ["mkdir", name + "2"])  # another name
