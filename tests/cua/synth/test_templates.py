"""Parametric templates: drawn from a start state, admitted unproven, hard to fool in the real apps."""

from __future__ import annotations

import copy
import random
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from cua.agent import Agent, AgentConfig
from cua.episode import run_episode
from cua.explore import Explorer, ExploreSettings
from cua.explore.db import ExploreDB
from cua.explore.rounds import listed_tasks
from cua.learn.dataset import synthesized_tasks
from cua.policies.match import MatchPolicy
from cua.synth.admit import admit
from cua.synth.derive import Candidate
from cua.synth.seeds import seed_task
from cua.synth.state import NodeKey, NodeValue, Snapshot, snapshot
from cua.synth.templates import is_template, templates
from cua.tasks.errors import TaskSpecError
from cua.tasks.runner import start, volatile_paths
from cua.tasks.spec import LaunchStep, TaskSpec, parse_document
from cua.tasks.validators.home import Entry, HomeListing
from sandbox.profile import WriteFile
from sandbox.xvfb import XvfbSandbox
from tests.cua.synth.outcomes import judged

NAME = NodeKey("entry", "Walrus", 0)
CITY = NodeKey("entry", "City", 0)
RED, BLUE = NodeKey("radio button", "red", 0), NodeKey("radio button", "blue", 0)
BOX = NodeKey("check box", "Urgent", 0)
COMBO = NodeKey("combo box", "Size", 0)


def form_snap() -> Snapshot:
    empty = NodeValue("", frozenset())
    nodes = {
        NAME: empty,
        CITY: empty,
        RED: NodeValue("", frozenset({"checked"})),
        BLUE: empty,
        BOX: empty,
        COMBO: NodeValue("small", frozenset()),
    }
    return Snapshot(nodes, "Form page - Chromium", None, frozenset())


def test_a_form_template_names_fields_before_values_and_keeps_every_other_control() -> None:
    cands = templates(form_snap(), "chromium", [], {}, random.Random(0), count=12)
    assert cands and {c.kind for c in cands} == {"template/form"}
    for c in cands:
        doc = c.document
        assert doc["generated"] == "template" and "oracle" not in doc and c.moves == []
        assert is_template(doc) and doc["provenance"]["template"] == "template/form"
        task = parse_document(doc)[0].instance(0)  # loads: a template needs no oracle
        assert task.oracle is None and task.generated == "template"
        checks = doc["validator"]["all"]
        typed = {
            c["a11y"]["target"]["name"]: c["a11y"]["text_equals"]
            for c in checks
            if "text_equals" in c["a11y"] and c["a11y"]["text_equals"] not in ("Walrus", "City", "small")
        }
        quoted = re.findall(r"'([^']+)'", doc["instruction"])
        checked = [c["a11y"]["target"]["name"] for c in checks if c["a11y"].get("states") == ["checked"]]
        picked = [quoted[-1]]
        assert typed and picked[0] in ("blue", "Urgent") and picked[0] in checked
        pairs = [x for field, value in typed.items() for x in (field, value)]
        # Field, its value, ..., the choice: the order a person (or the match policy) acts in.
        assert quoted[: len(pairs)] == pairs or quoted[: len(pairs)] == pairs[2:] + pairs[:2]
        targets = {c["a11y"]["target"]["name"] for c in checks}
        assert {"Walrus", "City", "Size", "Urgent"} <= targets  # every other control: as it started
        kept = {c["a11y"]["target"]["name"]: c["a11y"] for c in checks}
        assert kept["Size"] == {"target": {"role": "combo box", "name": "Size"}, "text_equals": "small"}
        if picked[0] == "blue":  # the group's other radio button is free: picking blue unchecks red
            assert "red" not in targets
        else:
            assert kept["red"]["states"] == ["checked"] and kept["blue"]["not_states"] == ["checked"]


def test_a_screen_without_fields_and_choices_gets_no_form() -> None:
    only_fields = Snapshot({NAME: NodeValue("", frozenset())}, "t", None, frozenset())
    assert templates(only_fields, "chromium", [], {}, random.Random(0)) == []
    assert templates(form_snap(), "chromium", [], {}, random.Random(0), count=0) == []


NOTES = "the otter sleeps\nan otter swims near the dam\nbottles float\n"
NOTES_SETUP = (WriteFile("notes.txt", NOTES.encode()), LaunchStep(("/home/user/notes.txt",)))


def test_replace_word_replaces_whole_words_only_and_allows_either_last_line_break() -> None:
    shown = Snapshot({}, "notes.txt - Mousepad", HomeListing({"notes.txt": Entry("f", 40, "a")}), frozenset())
    cands = templates(shown, "mousepad", NOTES_SETUP, {}, random.Random(1), count=20)
    assert cands and {c.kind for c in cands} == {"template/replace-word"}
    for c in cands:
        changed, text = c.document["validator"]["all"]
        assert changed == {"changes": {"modified": ["notes.txt"]}}
        old, new = re.findall(r"'([^']+)'", c.document["instruction"])[1:3]
        assert old in NOTES.split() or old in NOTES
        expected = re.sub(rf"\b{old}\b", new, NOTES)
        pattern = text["file_text"]["matches"]
        assert re.fullmatch(pattern, expected) and re.fullmatch(pattern, expected.rstrip("\n"))
        assert not re.fullmatch(pattern, NOTES)  # unchanged
        if NOTES.replace(old, new) != expected:  # inside other words too ('the' in 'other')
            assert not re.fullmatch(pattern, NOTES.replace(old, new))
        if NOTES.count(old) > 1:
            assert not re.fullmatch(pattern, re.sub(rf"\b{old}\b", new, NOTES, count=1))  # only the first


def test_file_templates_move_into_a_new_folder_or_copy_into_an_existing_one() -> None:
    home = HomeListing({"a.txt": Entry("f", 3, "x"), "b.md": Entry("f", 3, "y"), "box": Entry("d")})
    icons = Snapshot({}, "user - File Manager", home, frozenset({("icon", "a.txt")}))
    cands = templates(icons, "pcmanfm", [], {}, random.Random(2), count=30)
    assert {c.kind for c in cands} == {"template/folder-with-file", "template/copy-into"}
    for c in cands:
        v = c.document["validator"]
        if c.kind == "template/copy-into":
            ((src, dst),) = v["changes"]["copied"].items()
            assert dst == f"box/{src}" and src in ("a.txt", "b.md")
        else:
            changes, is_dir = v["all"]
            (folder,) = changes["changes"]["created"]
            ((src, dst),) = changes["changes"]["moved"].items()
            assert dst == f"{folder}/{src}" and folder not in home.entries
            assert is_dir == {"file_exists": {"path": folder, "type": "dir"}}
    # A terminal shows no icons: its HOME listing is what the template draws from.
    plain = Snapshot({}, "user@host: ~", home, frozenset())
    assert templates(plain, "pcmanfm", [], {}, random.Random(2)) == []
    assert templates(plain, "xterm", [], {}, random.Random(2), shell=True)


TABLE = "item,count,price\npear,3,1.50\nfig,-2,12.25\nplum,10,0.75\n"
BOOK_SETUP = (WriteFile("crate.csv", TABLE.encode()), LaunchStep(("/home/user/crate.gnumeric",)))


def test_row_formulas_give_each_row_its_own_range_and_value() -> None:
    shown = Snapshot({}, "crate.gnumeric - Gnumeric", HomeListing({}), frozenset())
    (c,) = templates(shown, "gnumeric", BOOK_SETUP, {}, random.Random(0))
    cells = c.document["validator"]["sheet"]["cells"]
    assert sorted(cells) == ["D2", "D3", "D4"]
    rows = {2: [3, 1.5], 3: [-2, 12.25], 4: [10, 0.75]}
    words = c.document["instruction"]
    fn = next(name for name, f in (("total", sum), ("average", None), ("largest", max), ("smallest", min))
              if name in words)  # fmt: skip
    for r, values in rows.items():
        spec = cells[f"D{r}"]
        assert spec["refs"] == [f"B{r}:C{r}"]
        want = {"total": sum(values), "average": sum(values) / 2, "largest": max(values),
                "smallest": min(values)}[fn]  # fmt: skip
        assert abs(spec["value"] - want) < 1e-9
    assert "'D2'" in words and "'D4'" in words


def test_generated_walk_still_needs_its_oracle() -> None:
    (c,) = templates(form_snap(), "chromium", [], {}, random.Random(0))
    doc = {**c.document, "generated": "walk"}
    with pytest.raises(TaskSpecError, match="oracle"):
        parse_document(doc)


# -- the database: unproven until an attempt passes --------------------------------------------


def test_the_database_counts_templates_unproven_until_an_attempt_proves_one(tmp_path: Path) -> None:
    db = ExploreDB(tmp_path / "explore.sqlite")
    db.open_exploration("x", "chromium", {})
    tasks: list[dict[str, Any]] = [
        {"id": "t1", "app": "chromium", "kind": "a11y/text", "validator_key": "k1", "instruction": "i",
         "path": "p1", "chain": 3},
        {"id": "t2", "app": "chromium", "kind": "template/form", "validator_key": "k2", "instruction": "i",
         "path": "p2", "chain": 0, "proven": False, "generated": "template"},
    ]  # fmt: skip
    db.record_walk("x", 0, 0, [], "done", 1.0, [], tasks)
    s = db.summary("x")
    assert (s["admitted_tasks"], s["proven_tasks"], s["task_kinds"], s["template_tasks"]) == (2, 1, 1, 1)
    assert s["templates_proven"] == 0
    rows = {t.id: t for t in db.tasks("chromium")}
    assert rows["t2"].generated == "template" and not rows["t2"].proven and rows["t1"].proven
    assert db.mark_proven("t2", "run-1", 4)
    assert not db.mark_proven("t2", "run-2", 5)  # already proven: the first proof stays
    s = db.summary("x")
    assert (s["proven_tasks"], s["task_kinds"], s["chains_3plus"], s["templates_proven"]) == (2, 2, 2, 1)
    db.close()


def test_learning_lists_a_template_once_proven_and_loads_it_without_a_demonstration(tmp_path: Path) -> None:
    (cand,) = templates(form_snap(), "chromium", [], {}, random.Random(0))
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(cand.document, sort_keys=False))
    db = ExploreDB(tmp_path / "explore.sqlite")
    row = {"id": cand.document["id"], "app": "chromium", "kind": cand.kind, "validator_key": "k",
           "instruction": "i", "path": str(path), "chain": 0, "proven": False,
           "generated": "template"}  # fmt: skip
    db.record_walk("x", 0, 0, [], "done", 1.0, [], [row])
    assert listed_tasks(db) == []  # unproven: nothing verified to train on, no gate instance
    db.mark_proven(cand.document["id"], "run-1", 5)
    assert listed_tasks(db) == [(str(path), "template/form")]
    db.close()
    loaded, skipped = synthesized_tasks(listed_tasks(ExploreDB(tmp_path / "explore.sqlite")))
    assert [st.task.family for st in loaded] == [cand.document["id"]] and not skipped


def test_an_older_database_gains_the_new_columns_and_keeps_its_tasks_proven(tmp_path: Path) -> None:
    path = tmp_path / "explore.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE tasks (id TEXT PRIMARY KEY, app TEXT NOT NULL, kind TEXT NOT NULL, validator_key TEXT"
        " NOT NULL, instruction TEXT NOT NULL, path TEXT NOT NULL, chain INTEGER NOT NULL, exploration TEXT"
        " NOT NULL, created REAL NOT NULL, UNIQUE (app, validator_key))"
    )
    old.execute("INSERT INTO tasks VALUES ('t', 'xterm', 'files/created', 'k', 'i', 'p', 2, 'x', 0)")
    old.commit()
    old.close()
    db = ExploreDB(path)
    (row,) = db.tasks("xterm")
    assert row.proven and row.generated == "walk"
    db.close()


# -- in the real applications ------------------------------------------------------------------


def first_seed(app: str, wanted: Any) -> TaskSpec:
    for index in range(40):
        seed = seed_task(app, random.Random(f"template:{app}:{index}"), index)
        if wanted(seed):
            return seed
    raise AssertionError(f"no fitting seed for {app} in 40 draws")


def one(sb: XvfbSandbox, seed: TaskSpec, app: str, kind: str, shell: bool = False) -> Candidate:
    """Start ``seed`` and draw a ``kind`` template from the state it shows."""
    start(sb, seed)
    at = snapshot(sb, volatile_paths(seed))
    for i in range(30):
        for c in templates(at, app, seed.setup, {}, random.Random(i), shell=shell):
            if c.kind == kind:
                return c
    raise AssertionError(f"no {kind} template on {at.title!r}")


def outcome(sb: XvfbSandbox, cand: Candidate, steps: list[dict[str, Any]] = (), *commands: str) -> bool:  # type: ignore[assignment]
    """Start ``cand``'s task, act by ``steps`` (oracle steps) and shell ``commands``, and validate."""
    doc = copy.deepcopy(cand.document)
    if steps:
        doc["oracle"] = list(steps)
    return judged(sb, doc, *commands, run=bool(steps))


@pytest.fixture(scope="module")
def xterm() -> Iterator[XvfbSandbox]:
    with XvfbSandbox() as sb:
        yield sb


@pytest.mark.x11
def test_file_templates_in_a_terminal_are_admitted_unproven_and_hard_to_fool(xterm: XvfbSandbox) -> None:
    seed = first_seed("xterm", lambda s: sum(isinstance(i, WriteFile) for i in s.setup) >= 2)
    cand = one(xterm, seed, "xterm", "template/folder-with-file", shell=True)
    changes = cand.document["validator"]["all"][0]["changes"]
    (folder,) = changes["created"]
    ((src, _),) = changes["moved"].items()
    report = admit(xterm, [cand], random.Random(1), random_actions=2, gui_near_misses=False,
                   random_move=lambda rng: ([{"type": "true"}, {"key": "Return"}], "true"))  # fmt: skip
    (d,) = report.decisions
    assert d.admitted and not d.proven and d.near_misses == 0, d.reason
    typed = [{"type": f"mkdir {folder} && mv {src} {folder}/"},
             {"key": "Return", "until": {"file_exists": f"{folder}/{src}"}}]  # fmt: skip
    assert outcome(xterm, cand, typed)  # typed into the terminal: the way a policy would
    assert outcome(xterm, cand, [], f"mkdir {folder}", f"mv {src} {folder}/")
    assert not outcome(xterm, cand, [], f"mkdir {folder}", f"cp {src} {folder}/")  # copied, not moved
    assert not outcome(xterm, cand, [], f"mkdir {folder}")  # the file left where it was
    assert not outcome(xterm, cand, [], f"mkdir {folder}-x", f"mv {src} {folder}-x/")  # another folder
    assert not outcome(xterm, cand, [], f"mv {src} {folder}")  # renamed: a file, no folder
    assert not outcome(xterm, cand, [], f"mkdir {folder}", f"mv {src} {folder}/", "touch stray")  # damage


@pytest.mark.x11
def test_copy_into_fails_a_move_and_another_folder(xterm: XvfbSandbox) -> None:
    seed = first_seed("xterm", lambda s: any("/" in i.path for i in s.setup if isinstance(i, WriteFile)))
    cand = one(xterm, seed, "xterm", "template/copy-into", shell=True)
    ((src, dst),) = cand.document["validator"]["changes"]["copied"].items()
    folder = dst.split("/")[0]
    assert outcome(xterm, cand, [], f"cp {src} {folder}/")
    assert not outcome(xterm, cand, [], f"mv {src} {folder}/")  # moved, not copied
    assert not outcome(xterm, cand, [], f"cp {src} {folder}/", f"echo x >> {src}")  # the original changed
    assert not outcome(xterm, cand, [], f"cp {src} copy-{src}")  # copied elsewhere


@pytest.mark.x11
def test_replace_word_in_an_editor_fails_unsaved_and_partial_edits() -> None:
    seed = first_seed("mousepad", lambda s: any(isinstance(i, LaunchStep) and i.args for i in s.setup))
    with XvfbSandbox() as sb:
        cand = one(sb, seed, "mousepad", "template/replace-word")
        (path,) = cand.document["validator"]["all"][0]["changes"]["modified"]
        old, new = re.findall(r"'([^']+)'", cand.document["instruction"])[1:3]
        report = admit(sb, [cand], random.Random(1), random_actions=3, gui_near_misses=False)
        (d,) = report.decisions
        assert d.admitted and not d.proven, d.reason
        text = sb.read_file(f"/home/user/{path}").decode()
        after = re.sub(rf"\b{old}\b", new, text)
        # Through the editor: select all, type the new text, save.
        typed = [{"key": "ctrl+a"}, {"type": after.rstrip("\n")},
                 {"key": "ctrl+s", "until": {"file_changed": path}}]  # fmt: skip
        assert outcome(sb, cand, typed)
        assert not outcome(sb, cand, typed[:2])  # typed, never saved
        assert outcome(sb, cand, [], f"sed -i 's/\\b{old}\\b/{new}/g' {path}")  # the shell's sed
        assert not outcome(sb, cand, [], f"sed -i 's/{old}/{new.upper()}/g' {path}")  # another word
        assert not outcome(sb, cand, [], f"sed -i 's/\\b{old}\\b/{new}/g' {path}", f"sed -i '1d' {path}")


@pytest.mark.x11
def test_row_formulas_in_gnumeric_fail_values_and_a_missing_row() -> None:
    seed = seed_task("gnumeric", random.Random("template:sheet"), 0)
    with XvfbSandbox() as sb:
        cand = one(sb, seed, "gnumeric", "template/row-formulas")
        cells = cand.document["validator"]["sheet"]["cells"]
        book = cand.document["validator"]["sheet"]["path"]
        col = re.sub(r"\d+", "", next(iter(cells)))
        first_row = int(re.sub(r"[A-Z]+", "", next(iter(cells))))
        fn = next(f for f in ("SUM", "AVERAGE", "MAX", "MIN") if f in _functions(cand))

        def typed(entries: list[str]) -> list[dict[str, Any]]:
            cols = ord(col) - ord("A")
            steps: list[dict[str, Any]] = [{"key": "ctrl+home"}, {"key": "down", "repeat": first_row - 1}]
            steps.append({"key": "right", "repeat": cols})
            for e in entries:
                steps += [{"type": e}, {"key": "Return"}]
            return [*steps, {"key": "ctrl+s", "until": {"file_changed": book}}]

        formulas = [f"={fn}({spec['refs'][0]})" for spec in cells.values()]
        assert outcome(sb, cand, typed(formulas))
        assert not outcome(sb, cand, typed([str(spec["value"]) for spec in cells.values()]))  # values
        assert not outcome(sb, cand, typed(formulas[:-1]))  # the last row left out
        assert not outcome(sb, cand, typed(formulas)[:-1])  # never saved


def _functions(cand: Candidate) -> str:
    words = cand.document["instruction"]
    return {"total": "SUM", "average": "AVERAGE", "largest": "MAX", "smallest": "MIN"}[
        next(w for w in ("total", "average", "largest", "smallest") if w in words)
    ]


@pytest.mark.x11
def test_a_form_template_in_chromium_is_proven_by_the_match_policy_and_hard_to_fool() -> None:
    seed = seed_task("chromium", random.Random("template:form"), 0)
    with XvfbSandbox() as sb:
        cand = one(sb, seed, "chromium", "template/form")
        checks = cand.document["validator"]["all"]
        quoted = re.findall(r"'([^']+)'", cand.document["instruction"])
        field, value, choice = quoted[0], quoted[1], quoted[-1]
        role = next(c["a11y"]["target"]["role"] for c in checks if c["a11y"]["target"].get("name") == choice)
        steps = []
        for f, v in zip(quoted[:-1:2], quoted[1:-1:2], strict=True):
            steps += [{"click": {"role": "entry", "name": f}}, {"type": v}]
        steps.append({"click": {"role": role, "name": choice}})
        assert outcome(sb, cand, steps)
        assert not outcome(sb, cand, steps[:-1])  # the choice never made
        assert not outcome(sb, cand, [steps[0], {"type": value + "s"}, *steps[2:]])  # another value
        others = [c["a11y"]["target"]["name"] for c in checks
                  if c["a11y"]["target"]["role"] == "entry" and c["a11y"].get("text_equals") ==
                  c["a11y"]["target"].get("name")]  # fmt: skip
        if others:  # a word typed into a field the task leaves alone
            stray = [{"click": {"role": "entry", "name": others[0]}}, {"type": "stray"}]
            assert not outcome(sb, cand, steps + stray)
        assert field != value
        # The match baseline reads the instruction's quoted names and values in order: it proves it.
        task = parse_document(cand.document)[0].instance(0)
        agent = Agent(MatchPolicy(sb), sb, config=AgentConfig(max_steps=task.max_steps))
        verdict = run_episode(agent, task=task).verdict
        assert verdict is not None and verdict.passed, verdict


@pytest.mark.x11
def test_an_attempt_that_passes_proves_a_template_in_the_database_and_its_file(tmp_path: Path) -> None:
    seed = seed_task("chromium", random.Random("template:form"), 0)
    with XvfbSandbox() as sb:
        cand = one(sb, seed, "chromium", "template/form")
        settings = ExploreSettings("chromium", episodes=1, attempts=1, memory=False)
        explorer = Explorer(settings, tmp_path, XvfbSandbox)
        try:
            path = tmp_path / "synth" / "chromium" / f"{cand.document['id']}.yaml"
            path.parent.mkdir(parents=True)
            path.write_text(yaml.safe_dump(cand.document, sort_keys=False))
            row = {"id": cand.document["id"], "app": "chromium", "kind": cand.kind, "path": str(path),
                   "validator_key": cand.validator_key, "instruction": cand.document["instruction"],
                   "chain": 0, "proven": False, "generated": "template"}  # fmt: skip
            explorer.db.open_exploration(settings.exploration_id, "chromium", settings.as_dict())
            explorer.db.record_walk(settings.exploration_id, 0, 0, [], "done", 1.0, [], [row])
            # The oracle policy replays demonstrations: a template has none, so it is not picked.
            explorer.settings = replace(settings, policy="oracle")
            assert explorer.attempt(sb, 0) == []
            explorer.settings = settings
            assert explorer.attempt(sb, 0) == [(cand.document["id"], True)]  # the match baseline
            (listed,) = explorer.db.tasks("chromium")
            assert listed.proven and listed.chain >= 5
            summary = explorer.db.summary(settings.exploration_id)
            assert summary["proven_tasks"] == summary["templates_proven"] == 1
            proof = yaml.safe_load(path.read_text())["provenance"]["proven_by"]
            assert proof["policy"] == "match" and proof["run"] and proof["steps"] == listed.chain
        finally:
            explorer.db.close()
            if explorer.store is not None:
                explorer.store.close()
