"""Terminal goals (an empty file, a folder, a rename, a move: one command each), proven and hard to fool."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import pytest

from cua.synth.admit import admit
from cua.synth.compose import compose
from cua.synth.derive import Candidate, with_chain
from cua.synth.seeds import seed_task
from cua.synth.state import Snapshot, snapshot
from cua.synth.walk import Move, Walk
from cua.tasks.runner import start, volatile_paths
from cua.tasks.spec import SetupItem, TaskSpec
from cua.tasks.validators.home import Entry, HomeListing
from sandbox.profile import WriteFile
from sandbox.xvfb import XvfbSandbox
from tests.cua.synth.outcomes import judged

KINDS = {"goal/empty-file", "goal/folder", "goal/rename", "goal/move"}
HOME = {"notes.txt": Entry("f", 12, "a"), "box": Entry("d"), ".config": Entry("d")}


def terminal(home: dict[str, Entry]) -> Snapshot:
    return Snapshot({}, "user@host: ~", HomeListing(home), frozenset())


def goals(start: Snapshot, setup: Sequence[SetupItem] = ()) -> dict[str, Candidate]:
    """The first goal of each kind composed on ``start`` (a terminal) over 30 draws."""
    found: dict[str, Candidate] = {}
    for i in range(30):
        for c in compose(Walk(start, [], "done"), "xterm", setup, {}, random.Random(i), count=4, shell=True):
            found.setdefault(c.kind, c)
    return found


def test_a_terminal_gets_one_command_goals_over_its_home() -> None:
    found = goals(terminal(HOME))
    assert set(found) == KINDS
    for kind, c in found.items():
        typed, enter = c.document["oracle"]
        assert enter["key"] == "Return" and "file_exists" in enter["until"], kind
        command = typed["type"].split()[0]
        assert command == {"goal/empty-file": "touch", "goal/folder": "mkdir"}.get(kind, "mv"), typed
    (name,) = found["goal/empty-file"].document["validator"]["all"][0]["changes"]["created"]
    assert (
        name.endswith((".txt", ".md", ".text"))
        and f"'{name}'" in found["goal/empty-file"].document["instruction"]
    )
    assert found["goal/move"].document["validator"] == {"changes": {"moved": {"notes.txt": "box/notes.txt"}}}
    # Without a folder there is nothing to move into; without the shell flag a listing is no terminal.
    assert set(goals(terminal({"notes.txt": HOME["notes.txt"]}))) == KINDS - {"goal/move"}
    assert compose(Walk(terminal(HOME), [], "done"), "xterm", [], {}, random.Random(0), count=4) == []


@pytest.fixture(scope="module")
def shell_started() -> Iterator[tuple[XvfbSandbox, TaskSpec, dict[str, Candidate]]]:
    seed = next(
        s
        for i in range(40)
        for s in [seed_task("xterm", random.Random(f"shell-goals:{i}"), i)]
        if any(isinstance(w, WriteFile) and "/" in w.path for w in s.setup)  # a file in a folder: a folder
    )
    with XvfbSandbox() as sb:
        start(sb, seed)
        found = goals(snapshot(sb, volatile_paths(seed)), seed.setup)
        assert set(found) == KINDS, sorted(found)
        yield sb, seed, found


@pytest.mark.x11
def test_terminal_goals_are_proven_by_their_command(
    shell_started: tuple[XvfbSandbox, TaskSpec, dict[str, Candidate]],
) -> None:
    sb, _, found = shell_started
    report = admit(sb, list(found.values()), random.Random(1), random_actions=2, gui_near_misses=False,
                   random_move=lambda rng: ([{"type": "true"}, {"key": "Return"}], "true"))  # fmt: skip
    for d in report.decisions:
        assert d.admitted and d.proven, (d.candidate.kind, d.reason)


@pytest.mark.x11
def test_terminal_goals_fail_wrong_outcomes_and_pass_other_routes(
    shell_started: tuple[XvfbSandbox, TaskSpec, dict[str, Candidate]],
) -> None:
    sb, _, found = shell_started
    doc = found["goal/empty-file"].document
    (name,) = doc["validator"]["all"][0]["changes"]["created"]
    assert judged(sb, doc, f": > {name}")  # another way to an empty file
    assert not judged(sb, doc, f"echo x > {name}")  # not empty
    assert not judged(sb, doc, f"mkdir {name}")  # a folder of that name
    assert not judged(sb, doc, f"touch {name} other-{name}")  # a second file beside it
    assert not judged(sb, doc, f"touch x-{name}")  # another name

    doc = found["goal/folder"].document
    (name,) = doc["validator"]["all"][0]["changes"]["created"]
    assert judged(sb, doc, f"mkdir -p {name}")
    assert not judged(sb, doc, f"touch {name}")  # a file, no folder
    assert not judged(sb, doc, f"mkdir {name} {name}-2")  # a second folder

    doc = found["goal/rename"].document
    ((src, dst),) = doc["validator"]["changes"]["moved"].items()
    assert judged(sb, doc, f"cat {src} > {dst} && rm {src}")  # rewritten and removed: the same move
    assert not judged(sb, doc, f"cp {src} {dst}")  # copied, the original still there
    assert not judged(sb, doc, f"mv {src} x-{dst}")  # another name
    assert not judged(sb, doc, f"mv {src} {dst} && echo more >> {dst}")  # renamed and changed

    doc = found["goal/move"].document
    ((src, dst),) = doc["validator"]["changes"]["moved"].items()
    folder = dst.rsplit("/", 1)[0]
    assert judged(sb, doc, f"cd {folder} && mv ../{src} .")
    assert not judged(sb, doc, f"cp {src} {folder}/")  # copied, not moved
    assert not judged(sb, doc, f"mkdir elsewhere && mv {src} elsewhere/")  # another folder
    assert not judged(sb, doc, f"mv {src} {folder}/ && touch {folder}/extra")  # and a stray file


@pytest.mark.x11
def test_admission_drops_a_key_press_a_composed_goal_does_not_need(
    shell_started: tuple[XvfbSandbox, TaskSpec, dict[str, Candidate]],
) -> None:
    sb, _, found = shell_started
    cand = found["goal/folder"]
    typed, enter = cand.moves
    padded = with_chain(cand, [typed, Move([{"key": "End"}], "key End", typed.after, typed.after), enter])
    report = admit(sb, [padded], random.Random(1), random_actions=1, gui_near_misses=False,
                   random_move=lambda rng: ([{"type": "true"}, {"key": "Return"}], "true"))  # fmt: skip
    (d,) = report.decisions
    assert d.admitted and [m.label for m in d.candidate.moves] == [typed.label, enter.label], d.reason
