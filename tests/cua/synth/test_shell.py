"""Exploring a terminal (xterm: no accessibility tree) by commands the shell lists and OCR.

Real Xvfb sandboxes, a real xterm and bash, the real coreutils: the vocabulary is read from the
sandbox, names are read off the screen, and the tasks are proven by replay like any other.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from cua.explore import Explorer, ExploreSettings
from cua.synth.admit import admit
from cua.synth.derive import derive
from cua.synth.seeds import seed_task
from cua.synth.shell import (
    CHANGES,
    PRINTS,
    PRINTS_LINES,
    STABLE_S,
    Vocabulary,
    help_texts,
    parse_usage,
    random_commands,
    read_names,
    route,
    shell_walk,
    vocabulary,
)
from cua.synth.walk import Novelty
from cua.tasks.oracle import OracleRunner
from cua.tasks.runner import start, validate, volatile_paths
from cua.tasks.spec import TaskSpec, load_file, parse_document
from sandbox.profile import find_profile
from sandbox.xvfb import XvfbSandbox

pytestmark = pytest.mark.x11

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def vocab(sb: XvfbSandbox) -> Vocabulary:
    sb.reset("xterm")
    return vocabulary(sb)


def test_xterm_is_walked_by_its_shell_and_a_program_without_either_is_refused() -> None:
    assert route(find_profile("xterm")) == ("shell", "")
    assert route(find_profile("galculator")) == ("tree", "")
    xcalc = find_profile("xterm")
    bare = type(xcalc)(**{**xcalc.__dict__, "command": ("xclock",)})
    how, why = route(bare)
    assert how is None and "no shell" in why


def test_the_vocabulary_is_what_the_shell_lists_and_coreutils_provides(vocab: Vocabulary) -> None:
    assert vocab.source.endswith("coreutils.info.gz")
    assert {"cp", "mkdir", "mv", "rm", "touch"} <= set(vocab.commands)
    # On the PATH, but not coreutils: never typed.
    assert not {"xterm", "python3", "bash", "zcat"} & set(vocab.commands)
    assert {f.usage.command for f in vocab.forms} <= set(vocab.commands)


def test_a_command_the_shell_does_not_list_is_not_offered(sb: XvfbSandbox) -> None:
    sb.reset("xterm")
    links = "mkdir -p /tmp/few && ln -sf /usr/bin/cp /usr/bin/mkdir /usr/bin/xterm /tmp/few/"
    made = sb.exec(["sh", "-c", links])
    assert made.ok, made
    few = vocabulary(sb, path="/tmp/few")
    assert {"cp", "mkdir"} <= set(few.commands)
    # rm, mv, touch are on the sandbox's usual PATH, not on this one; xterm is no coreutils program.
    assert not {"rm", "mv", "touch", "xterm"} & set(few.commands)
    assert not {"rm", "mv", "touch"} & {f.usage.command for f in few.forms}
    assert "mkdir DIRECTORY" in {f.usage.key for f in few.forms}


def test_usage_lines_of_real_help_texts_become_forms(sb: XvfbSandbox) -> None:
    sb.reset("xterm")
    texts = help_texts(sb, ["cp", "mkdir", "truncate", "cat", "ln", "rmdir"])
    forms = {c: [f.key for f in parse_usage(c, t)] for c, t in texts.items()}
    assert forms["mkdir"] == ["mkdir DIRECTORY"]  # "mkdir [OPTION]... DIRECTORY..."
    assert forms["rmdir"] == ["rmdir DIRECTORY"]
    assert forms["cp"] == ["cp SOURCE DEST", "cp SOURCE DIRECTORY", "cp -t DIRECTORY SOURCE"]
    assert "ln TARGET LINK_NAME" in forms["ln"]
    assert forms["truncate"] == []  # "truncate OPTION... FILE...": a required option
    assert forms["cat"] == ["cat FILE"]  # the optional FILE is given: cat alone reads the keyboard


def test_the_trial_in_a_scratch_folder_finds_what_each_slot_takes(vocab: Vocabulary) -> None:
    found = {f.usage.key: dict(f.bindings) for f in vocab.forms}
    assert found["mkdir DIRECTORY"] == {("new",): CHANGES}
    assert found["rm FILE"] == {("file",): CHANGES}  # rm without -r leaves a folder alone
    assert found["rmdir DIRECTORY"] == {("dir",): CHANGES}
    assert found["cp SOURCE DEST"][("file", "new")] == CHANGES
    assert ("new", "new") not in found["cp SOURCE DEST"]
    assert found["wc FILE"] == {("file",): PRINTS}
    assert found["cat FILE"] == {("file",): PRINTS_LINES}
    commands = {f.usage.command for f in vocab.forms}
    assert "tee" not in commands  # waits on the keyboard
    assert "yes" not in commands  # never ends
    assert "mkfifo" not in commands  # makes something that is neither a file nor a folder


def test_names_are_read_off_the_screen(sb: XvfbSandbox) -> None:
    seed = seed_task("xterm", random.Random(1), 0)
    start(sb, seed)
    listing = sb.exec(["sh", "-c", "cd && ls -p"]).stdout.decode().split()
    assert read_names(sb, 0.2) == listing


@pytest.fixture(scope="module")
def chain(sb: XvfbSandbox, vocab: Vocabulary) -> tuple[TaskSpec, dict[str, object]]:
    """A scripted walk of three commands that all matter, admitted with its near misses."""
    seed = seed_task("xterm", random.Random(1), 0)  # gold.txt, homely_swabs/, riper-sofa.txt
    start(sb, seed)
    w = shell_walk(
        sb, volatile_paths(seed), random.Random(0), moves=6, novelty=Novelty(), vocab=vocab,
        script=["mkdir tundra", "mv gold.txt tundra", "echo lantern > memo.txt"],
    )  # fmt: skip
    assert w.names["ocr"] == 3 and w.names["home"] == 0, w.names
    cands = derive(w, "xterm", seed.setup, {"test": "chain"})
    assert [c.kind for c in cands] == ["files/created", "files/moved+created", "files/moved+created"]
    drawn = random_commands(vocab, w.start)
    report = admit(sb, cands[-1:], random.Random(2), random_actions=20, random_move=drawn, stable_s=STABLE_S)
    last = report.decisions[-1]
    assert last.admitted, last.reason
    assert len(last.candidate.moves) == 3 and last.near_misses >= 3
    assert last.task is not None
    return last.task, last.candidate.document


def test_a_chain_of_three_commands_is_admitted_with_a_whole_state_validator(
    chain: tuple[TaskSpec, dict[str, object]],
) -> None:
    task, doc = chain
    assert doc["validator"] == {
        "all": [
            {"changes": {"created": ["memo.txt", "tundra"], "moved": {"gold.txt": "tundra/gold.txt"}}},
            {"file_text": {"path": "memo.txt", "equals": "lantern"}},
            {"file_exists": {"path": "tundra", "type": "dir"}},
        ]
    }
    enter = {"key": "Return", "timeout_s": 5.0, "until": {"file_exists": "/home/user/tundra"}}
    assert doc["oracle"][:2] == [{"type": "mkdir tundra"}, enter]
    assert "'memo.txt'" in str(doc["instruction"]) and doc["generated"] == "walk"
    assert task.generated == "walk"


def _outcome(sb: XvfbSandbox, task: TaskSpec, script: str) -> bool:
    """Start ``task``, reach a state with ``script`` (a shell command in HOME), return whether it passes."""
    start(sb, task)
    done = sb.exec(["sh", "-c", f"cd && {script}"])
    assert done.ok, done
    return validate(sb, task, trajectory=()).passed


def test_the_admitted_task_replays_and_its_validator_rejects_wrong_states(
    sb: XvfbSandbox, chain: tuple[TaskSpec, dict[str, object]]
) -> None:
    task, _ = chain
    assert task.oracle is not None
    start(sb, task)
    run = OracleRunner(sb).run(task.oracle)
    assert validate(sb, task, trajectory=run.moves).passed
    right = "mkdir tundra && mv gold.txt tundra/ && printf 'lantern\\n' > memo.txt"
    assert _outcome(sb, task, right)  # another route to the same state passes
    assert not _outcome(sb, task, "mkdir tundra && cp gold.txt tundra/ && echo lantern > memo.txt")  # copied
    assert not _outcome(sb, task, right + " && touch extra.txt")  # the right files plus one more
    assert not _outcome(sb, task, "mkdir tundra && mv gold.txt tundra/ && echo lanterns > memo.txt")
    assert not _outcome(sb, task, "touch tundra && mv gold.txt memo.txt")  # a file, not a folder
    assert not _outcome(sb, task, "mkdir tundra && mv gold.txt tundra/")  # a step left out


@pytest.mark.xdist_group("xterm-exploration")  # its own sandbox: another worker may take it
def test_an_xterm_exploration_admits_proven_tasks_of_several_kinds_and_a_long_chain() -> None:
    data = Path(tempfile.mkdtemp(prefix="cua-shell-explore-"))
    settings = ExploreSettings("xterm", seed=0, episodes=1, attempts=0)
    explorer = Explorer(settings, data, XvfbSandbox)
    try:
        summary = explorer.run()
    finally:
        explorer.db.close()
    assert summary["status"] == "finished" and summary["walks"] == 1, summary
    with sqlite3.connect(data / "explore.sqlite") as conn:
        rows = conn.execute("SELECT kind, chain, path FROM tasks WHERE generated = 'walk'").fetchall()
        drawn = conn.execute("SELECT kind, proven FROM tasks WHERE generated = 'template'").fetchall()
    # The walk's start also gets a file template: admitted unproven (no attempts were made).
    assert drawn and all(k.startswith("template/") and not proven for k, proven in drawn), drawn
    kinds = {kind for kind, _, _ in rows}
    derived = {k for k in kinds if k.startswith("files/")}  # from the walk's own changes
    composed = kinds - derived  # the terminal's one-command goals over the walk's start
    assert len(kinds) >= 2 and derived, rows
    assert composed and composed <= {"goal/empty-file", "goal/folder", "goal/rename", "goal/move"}, rows
    assert max(chain for _, chain, _ in rows) >= 3, rows
    longest = max(rows, key=lambda r: r[1])
    doc = yaml.safe_load(Path(longest[2]).read_text())
    assert doc["generated"] == "walk" and doc["provenance"]["names_read"]["ocr"] >= 3
    # `cua tasks check` proves it like any hand-written task file: the oracle passes, doing
    # nothing fails, and the near misses generated from its diff fail.
    done = subprocess.run(
        [sys.executable, "-m", "cua", "tasks", "check", longest[2]],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    task = load_file(Path(longest[2]))[0].instance(0)
    assert parse_document(json.loads(json.dumps(doc)))[0].instance(0).id == task.id
