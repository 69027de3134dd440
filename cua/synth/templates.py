"""Parametric task templates: goals drawn from a start state, with no demonstration, admitted unproven.

A walk can only propose what it did, and ``compose`` only what a few keys surely do. A template
asks for more than either can demonstrate: fill in several fields of a form and pick a choice,
replace a word everywhere in a file, make a folder and move a file into it, fill a column with
one formula per row. Its parameters come from the start state (the fields and choices on screen,
the words of the opened file, HOME's files, the table the seed wrote) and from the word list;
its validator is computed from them and checks the whole goal state (every other field as it
started, exactly that difference under HOME, every other cell as it started).

Such a task has no oracle (``generated: template``). Admission still rejects it when its
validator passes on the start state, after a random single action, or duplicates another; then
it is admitted **unproven**, and becomes proven when an attempt (any policy's) passes its
validator (``cua.explore``). The phrasings are ``grammar.yaml``'s ``template/...`` lists and
``clauses``; nothing here reads a built-in task.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cua.synth.compose import FUNCTIONS, file_manager, home_top, opened_text, workbook
from cua.synth.derive import Candidate, app_kind, app_name, difficulty_for, grammar, proposal
from cua.synth.state import Change, NodeKey, Snapshot
from cua.synth.words import file_stem, words
from cua.tasks.spec import SetupItem
from cua.tasks.validators.book import cell_ref

#: Template tasks proposed per walk (each costs only the start-state and triviality checks).
PER_WALK = 1
#: Roles of a form's text fields.
FIELD_ROLES = frozenset({"entry", "text"})
#: Roles of a form's choices (a radio button picked, a check box ticked).
CHOICE_ROLES = frozenset({"radio button", "check box"})
#: Roles whose start value a form template keeps (every other field and choice as it started).
KEPT_ROLES = FIELD_ROLES | CHOICE_ROLES | {"combo box"}
#: Words of a file that a replace template may pick (short words read as noise).
_WORD = re.compile(r"\b[a-z]{3,}\b")

Made = tuple[str, Change, dict[str, Any], dict[str, str], int]
"""A template instance: (kind, change, validator, the phrasing's values, the actions a person needs)."""


def templates(
    start: Snapshot,
    app: str,
    setup: Sequence[SetupItem],
    provenance: Mapping[str, Any],
    rng: random.Random,
    count: int = PER_WALK,
    *,
    shell: bool = False,
) -> list[Candidate]:
    """Return up to ``count`` template tasks for the start state ``start`` (none for other screens).

    ``shell``: the application is a terminal walked by commands (its HOME is the file listing).
    """
    if count <= 0:
        return []
    makers = _makers(start, setup, rng, shell)
    out: list[Candidate] = []
    keys: set[str] = set()
    for _ in range(count * 3):
        if len(out) >= count or not makers:
            break
        made = rng.choice(makers)()
        if made is None:
            continue
        cand = _candidate(made, app, setup, provenance)
        if cand.validator_key not in keys:
            keys.add(cand.validator_key)
            out.append(cand)
    return out


def _makers(start: Snapshot, setup: Sequence[SetupItem], rng: random.Random,
            shell: bool) -> list[Callable[[], Made | None]]:  # fmt: skip
    """Return the template makers that fit ``start`` (the most particular screen first)."""
    table = workbook(start, setup)
    if table is not None:
        return [lambda: _row_formulas(*table, rng)]
    opened = opened_text(start, setup)
    if opened is not None:
        return [lambda: _replace_word(*opened, rng)]
    form = _form_controls(start)
    if form is not None:
        return [lambda: _fill_form(start, *form, rng)]
    shown = home_top(start) if shell else file_manager(start)
    if shown is not None:
        files, folders = shown
        taken = set(start.home.entries) if start.home is not None else set()
        makers: list[Callable[[], Made | None]] = []
        if files:
            makers.append(lambda: _folder_with(files, taken, rng))
            if folders:
                makers.append(lambda: _copy_into(files, folders, rng))
        return makers
    return []


def _candidate(made: Made, app: str, setup: Sequence[SetupItem], provenance: Mapping[str, Any]) -> Candidate:
    kind, change, validator, values, actions = made
    cand = Candidate(app, kind, change, [], {}, provenance={**provenance, "template": kind})
    quoted = {k: v if k.startswith("_") else f"'{v}'" for k, v in values.items()}
    filled = {k.lstrip("_"): v for k, v in quoted.items()} | {"app": app_name(app), "thing": app_kind(app)}
    cand = proposal(cand, setup, validator, filled, kind)
    key = json.dumps([app, cand.document["validator"]], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()
    slug = re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")
    doc = {k: v for k, v in cand.document.items() if k != "oracle"}
    doc.update(
        id=f"synth.{app}.{slug}-{digest[:10]}",
        difficulty=difficulty_for(actions),
        generated="template",
        max_steps=max(10, 3 * actions),
        description=f"Synthesized from a template on an exploration's start state: {change.describe()}",
        provenance=json.loads(json.dumps({**cand.provenance, "actions": actions}, default=str)),
    )
    cand.document = doc
    return cand


# -- a web form ----------------------------------------------------------------------------------


def _form_controls(start: Snapshot) -> tuple[list[NodeKey], list[NodeKey]] | None:
    """Return the named text fields and the named unchecked choices of a form in ``start``, or None."""
    fields = [k for k, v in start.nodes.items() if k.role in FIELD_ROLES and k.name and not v.text]
    choices = [
        k for k, v in start.nodes.items() if k.role in CHOICE_ROLES and k.name and "checked" not in v.states
    ]
    names = [k.name for k in (*fields, *choices)]
    # A name two controls share would make the instruction ambiguous: such controls are left out.
    fields = [k for k in fields if names.count(k.name) == 1 and "'" not in k.name]
    choices = [k for k in choices if names.count(k.name) == 1 and "'" not in k.name]
    return (sorted(fields, key=_order), sorted(choices, key=_order)) if fields and choices else None


def _order(key: NodeKey) -> tuple[str, str, int]:
    return (key.role, key.name, key.nth)


def _fill_form(start: Snapshot, fields: list[NodeKey], choices: list[NodeKey], rng: random.Random) -> Made:
    """Type a word into one or two fields and pick one choice; every other control as it started."""
    chosen = rng.sample(fields, min(len(fields), rng.randint(1, 2)))
    choice = rng.choice(choices)
    typed = {key: words(rng, 1)[0] for key in chosen}
    clause = grammar()["clauses"]
    parts = [_fill(clause["form_field"], {"field": f"'{k.name}'", "value": f"'{typed[k]}'"}) for k in chosen]
    verb = "form_tick" if choice.role == "check box" else "form_pick"
    checks: list[dict[str, Any]] = [{"a11y": {"target": k.target(), "text_equals": typed[k]}} for k in chosen]
    checks.append({"a11y": {"target": choice.target(), "states": ["checked"]}})
    for key, value in sorted(start.nodes.items(), key=lambda kv: _order(kv[0])):
        if key in typed or key == choice or key.role not in KEPT_ROLES:
            continue
        if key.role in CHOICE_ROLES:
            if key.role == "radio button" and choice.role == "radio button" and "checked" in value.states:
                continue  # picking another radio button of its group unchecks it: no fixed state
            state = "states" if "checked" in value.states else "not_states"
            checks.append({"a11y": {"target": key.target(), state: ["checked"]}})
        elif key.role == "combo box":
            if value.text:  # Chromium's tree shows no select's value: such a combo cannot be judged
                checks.append({"a11y": {"target": key.target(), "text_equals": value.text}})
        elif not value.text:
            # An empty field reads as its label (the check compares a node's text, else its name).
            # A field that starts with text is no form field (a browser's address bar): not judged.
            checks.append({"a11y": {"target": key.target(), "text_equals": key.name}})
    picked = _fill(clause[verb], {"choice": f"'{choice.name}'"})
    values = {"_fields": ", then ".join(parts), "_choice": picked}
    change = Change("template/form", choice, "", ", ".join(f"{k.name}={typed[k]}" for k in chosen))
    return "template/form", change, {"all": checks}, values, 3 * len(chosen) + 1


def _fill(text: str, values: Mapping[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)


# -- a text file ---------------------------------------------------------------------------------


def _replace_word(path: str, text: str, rng: random.Random) -> Made | None:
    """Replace every whole occurrence of one of the file's words with a new word, and save."""
    found = sorted(set(_WORD.findall(text)))
    if not found:
        return None
    old = rng.choice(found)
    new = next((w for w in words(rng, 8) if w not in found and w.isalpha() and w.islower()), None)
    if new is None:
        return None
    after = re.sub(rf"\b{re.escape(old)}\b", new, text)
    body = after[:-1] if after.endswith("\n") else after
    # Editors differ on the file's last line break: with or without one passes; nothing else does.
    validator = {
        "all": [
            {"changes": {"modified": [path]}},
            {"file_text": {"path": path, "matches": re.escape(body) + r"\n?"}},
        ]
    }
    count = len(re.findall(rf"\b{re.escape(old)}\b", text))
    change = Change("template/replace-word", modified=(path,))
    return "template/replace-word", change, validator, {"old": old, "new": new, "name": path}, 2 * count + 1


# -- files and folders ---------------------------------------------------------------------------


def _folder_with(files: list[str], taken: set[str], rng: random.Random) -> Made | None:
    """Make a new folder and move one of HOME's files into it."""
    name = next((n for n in (file_stem(rng) for _ in range(50)) if n not in taken), None)
    if name is None:
        return None
    src = rng.choice(files)
    validator = {
        "all": [
            {"changes": {"created": [name], "moved": {src: f"{name}/{src}"}}},
            {"file_exists": {"path": name, "type": "dir"}},
        ]
    }
    change = Change("template/folder-with-file", created=(name,), moved=((src, f"{name}/{src}"),))
    return "template/folder-with-file", change, validator, {"folder": name, "file": src}, 6


def _copy_into(files: list[str], folders: list[str], rng: random.Random) -> Made:
    """Copy one of HOME's files into one of its folders (the original stays)."""
    src, into = rng.choice(files), rng.choice(folders)
    dst = f"{into}/{src}"
    change = Change("template/copy-into", copied=((src, dst),))
    return "template/copy-into", change, {"changes": {"copied": {src: dst}}}, {"file": src, "folder": into}, 4


# -- a spreadsheet -------------------------------------------------------------------------------


def _row_formulas(book: str, rows: list[list[str]], rng: random.Random) -> Made | None:
    """Fill the column right of the table with one formula per row over that row's numbers; save."""
    width, height = len(rows[0]), len(rows)
    name = rng.choice(sorted(FUNCTIONS))
    what, fn = FUNCTIONS[name]
    cells: dict[str, Any] = {}
    for r in range(1, height):
        numbers = [float(v) for v in rows[r][1:]]
        span = f"{cell_ref(r, 1)}:{cell_ref(r, width - 1)}"
        cells[cell_ref(r, width)] = {"value": round(fn(numbers), 9), "refs": [span]}
    column = re.sub(r"\d+", "", cell_ref(0, width))
    first, last = cell_ref(1, width), cell_ref(height - 1, width)
    values = {
        "_what": what,
        "book": book,
        "column": column,
        "from": re.sub(r"\d+", "", cell_ref(0, 1)),
        "to": re.sub(r"\d+", "", cell_ref(0, width - 1)),
        "first": first,
        "last": last,
    }
    change = Change("template/row-formulas", modified=(book,))
    validator = {"sheet": {"path": book, "cells": cells}}
    return "template/row-formulas", change, validator, values, 2 * (height - 1) + 3


def is_template(document: Mapping[str, Any]) -> bool:
    """Return whether a task document is a template instance (no demonstration)."""
    return document.get("generated") == "template"


__all__ = ["PER_WALK", "is_template", "templates"]
