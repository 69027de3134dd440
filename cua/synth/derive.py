"""Candidate tasks from a recorded walk: an instruction, a validator and an oracle per change.

Every change a walk made (``cua.synth.state.changes`` between the walk's start and the state
after a move, where it first appeared) becomes one candidate: the validator checks exactly that
end state (a field's text, a control's state, the window title, or the whole difference under
HOME with the contents of small text files), the instruction is drawn from the phrasings in
``grammar.yaml`` and names the same values, and the oracle is the chain of moves that led
there (every move up to it: a move that showed nothing may have changed hidden state), saved as
``generated: walk``. A candidate is only a proposal: ``cua.synth.admit`` decides.
"""

from __future__ import annotations

import base64
import difflib
import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import yaml

from cua.synth.state import Change, NodeKey, Snapshot, changes, shown_value
from cua.synth.walk import Move, Walk
from cua.tasks.params import HOME
from cua.tasks.spec import DIFFICULTY_BANDS, LaunchStep, SetupItem, WaitWindowStep
from sandbox.profile import RunCommand, WriteFile, find_profile

#: The longest chain of moves a candidate may have (the issue: chains of 2 to 6 steps).
MAX_CHAIN = 6
#: The longest file content an instruction may quote.
MAX_QUOTED = 80
ROLE_WORDS = {
    "text": "text field",
    "entry": "entry field",
    "spin button": "number field",
    "combo box": "drop-down",
    "page tab": "tab",
    "table cell": "entry",
    "list item": "list entry",
    "tree item": "tree entry",
    "check menu item": "menu option",
    "radio menu item": "menu choice",
}


@functools.cache
def grammar() -> Mapping[str, Any]:
    """Return the phrasings (``grammar.yaml``), checked once."""
    data = yaml.safe_load(resources.files("cua.synth").joinpath("grammar.yaml").read_text())
    if not isinstance(data, dict) or not isinstance(data.get("clauses"), dict):
        raise ValueError("cua/synth/grammar.yaml: expected phrase lists per change kind and a 'clauses' map")
    return data


@dataclass
class Candidate:
    """A proposed task: its task-file document, its kind and where it came from."""

    app: str
    kind: str
    change: Change
    moves: list[Move]
    document: dict[str, Any]
    rejected: str = ""
    """Why it cannot even be proposed (set by ``derive``; admission adds its own reasons)."""
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def validator_key(self) -> str:
        """Return the canonical validator with the app: equal keys mean duplicate tasks."""
        text = json.dumps([self.app, self.document.get("validator")], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def app_name(app: str) -> str:
    """Return the everyday name of ``app``, cut from its profile's description.

    The description is cut at the first comma, parenthesis, " with " or " running ": "LibreOffice
    Calc with the gtk3 plugin (accessible)" is "LibreOffice Calc".
    """
    try:
        described = find_profile(app).description
    except Exception:
        return app
    name = re.split(r",| \(| with | running ", described or "")[0].strip()
    return name or app


def app_kind(app: str) -> str:
    """Return what sort of program ``app`` is, from its profile's description, or its everyday name.

    "galculator, a GTK3 scientific calculator" is a "scientific calculator": instructions may
    say "the scientific calculator" as a person would, rather than the program's name.
    """
    try:
        described = find_profile(app).description or ""
    except Exception:
        return app_name(app)
    found = re.search(r", an? (.+?)(?: \(|;|$)", described)
    if found is None:
        return app_name(app)
    words = [w for w in found.group(1).split() if not re.fullmatch(r"GTK\d?|Qt\d?", w)]
    return " ".join(words) or app_name(app)


def control_words(key: NodeKey) -> str:
    """Return how an instruction names a control: ``the 'Bold' check box``, ``the text field``."""
    role = ROLE_WORDS.get(key.role, key.role)
    ordinal = f"{_ordinal(key.nth + 1)} " if key.nth else ""
    if key.name:
        return f"the {ordinal}'{key.name}' {role}"
    return f"the {ordinal}{role}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def written(setup: Sequence[SetupItem], path: str) -> WriteFile | None:
    """Return the setup's file written at ``path`` (relative to HOME, or absolute), or None."""
    return next((s for s in setup if isinstance(s, WriteFile) and s.path in (path, f"{HOME}/{path}")), None)


def setup_json(setup: Sequence[SetupItem]) -> list[dict[str, Any]]:
    """Return ``setup`` in task-file form (the inverse of ``cua.tasks.spec.parse_setup``)."""
    out: list[dict[str, Any]] = []
    for step in setup:
        if isinstance(step, WriteFile):
            out.append(
                {
                    "write": {
                        "path": step.path,
                        "base64": base64.b64encode(step.content).decode(),
                        "mode": step.mode,
                    }
                }
            )
        elif isinstance(step, RunCommand):
            out.append({"run": list(step.argv)})
        elif isinstance(step, LaunchStep):
            out.append({"launch": list(step.args)})
        elif isinstance(step, WaitWindowStep):
            out.append({"wait_window": {"title": step.title, "timeout_s": step.timeout_s}})
        else:
            raise TypeError(f"a setup step cua.synth cannot write back: {step!r}")
    return out


def escape(data: Any) -> Any:
    """Escape ``$`` in every string (task files render ``${name}``; ``$$`` is a dollar sign)."""
    if isinstance(data, str):
        return data.replace("$", "$$")
    if isinstance(data, list):
        return [escape(v) for v in data]
    if isinstance(data, dict):
        return {k: escape(v) for k, v in data.items()}
    return data


def difficulty_for(actions: int) -> int:
    """Return the difficulty band of an oracle with ``actions`` inputs."""
    for level, (low, high) in sorted(DIFFICULTY_BANDS.items()):
        if low <= actions <= high:
            return level
    return max(DIFFICULTY_BANDS)


def derive(
    walk: Walk, app: str, setup: Sequence[SetupItem], provenance: Mapping[str, Any]
) -> list[Candidate]:
    """Return one candidate per change the walk made, at the move where it first appeared."""
    out: list[Candidate] = []
    seen: list[Change] = []
    texts: dict[str, bytes] = {}
    initial = {_home_relative(s.path): s.content for s in setup if isinstance(s, WriteFile)}
    for index, move in enumerate(walk.moves):
        texts.update(move.after.texts)
        before = changes(walk.start, move.before)
        for change in changes(walk.start, move.after):
            if change in before or change in seen:
                continue
            seen.append(change)
            # Every move up to here: one that showed no change may still have changed hidden
            # state (a calculator's pending operator), so none is dropped.
            chain = walk.moves[: index + 1]
            out.append(
                _candidate(
                    change, chain, app, setup, move.after, texts, initial, {**provenance, "move": index}
                )
            )
    return out


def _candidate(
    change: Change,
    chain: list[Move],
    app: str,
    setup: Sequence[SetupItem],
    end: Snapshot,
    texts: Mapping[str, bytes],
    initial: Mapping[str, bytes],
    provenance: Mapping[str, Any],
) -> Candidate:
    name = app_name(app)
    kind = change.kind
    cand = Candidate(app, kind, change, chain, {}, provenance=dict(provenance))
    if not chain:
        cand.rejected = "no move changed anything"
        return cand
    if len(chain) > MAX_CHAIN:
        cand.rejected = f"chain of {len(chain)} moves (at most {MAX_CHAIN})"
        return cand
    made = _validator_and_values(change, end, texts, initial)
    if isinstance(made, str):
        cand.rejected = made
        return cand
    validator, values = made
    values["app"] = name
    return with_chain(
        proposal(cand, setup, validator, values, "files" if kind.startswith("files/") else kind), chain
    )


def proposal(
    cand: Candidate,
    setup: Sequence[SetupItem],
    validator: Mapping[str, Any],
    values: Mapping[str, str],
    phrasing: str,
) -> Candidate:
    """Fill ``cand``'s task document: the instruction and paraphrases from ``grammar()[phrasing]``."""
    texts_out = [_fill(p, values) for p in grammar()[phrasing]]
    cand.provenance.update({"change": cand.change.describe()})
    cand.document = {
        "id": "",  # with_chain names it after its demonstration
        "app": cand.app,
        "split": "train",
        "difficulty": 0,
        "tags": ["synthesized", cand.kind],
        "description": f"Synthesized from an exploration walk: {cand.change.describe()}",
        "instruction": escape(texts_out[0]),
        "paraphrases": escape(texts_out[1:]),
        "setup": setup_json(setup),
        "generated": "walk",
        "oracle": [],
        "validator": escape(dict(validator)),
    }
    return cand


def with_chain(cand: Candidate, chain: Sequence[Move]) -> Candidate:
    """Return ``cand`` demonstrated by ``chain`` instead: a shorter chain reaching the same outcome.

    The instruction and validator describe the outcome and stay; the oracle, the difficulty, the
    id and the provenance follow the new chain.
    """
    steps = [step for m in chain for step in m.steps]
    actions = sum(1 for s in steps if set(s) & {"click", "type", "key", "drag", "scroll"})
    validator = cand.document["validator"]
    digest = hashlib.sha256(json.dumps([cand.app, validator, steps], sort_keys=True).encode()).hexdigest()[
        :10
    ]
    slug = re.sub(r"[^a-z0-9]+", "-", cand.kind.lower()).strip("-")
    provenance = {**cand.provenance, "moves": [m.label for m in chain]}
    if len(chain) < len(cand.moves):
        provenance["walk_moves"] = len(cand.moves)  # the walk's chain, before admission shortened it
    document = {
        **cand.document,
        "id": f"synth.{cand.app}.{slug}-{digest}",
        "difficulty": difficulty_for(actions),
        "oracle": escape(steps),
        "provenance": json.loads(json.dumps(provenance, default=str)),
    }
    return replace(cand, moves=list(chain), document=document, provenance=provenance)


def _fill(template: str, values: Mapping[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], template)


def _validator_and_values(
    change: Change, end: Snapshot, texts: Mapping[str, bytes], initial: Mapping[str, bytes]
) -> tuple[dict[str, Any], dict[str, str]] | str:
    """Return (the validator in task-file form, the instruction's values), or why there is none."""
    if change.node is not None:
        target = change.node.target()
        control = control_words(change.node)
        if change.kind == "a11y/text":  # the whole text: lines below the value must stay as they were
            return {"a11y": {"target": target, "text_equals": change.after}}, {
                "control": control,
                "value": shown_value(change.after),
            }
        state = change.kind.split("/")[1]
        if state.startswith("un"):
            return {"a11y": {"target": target, "not_states": [state[2:]]}}, {"control": control}
        return {"a11y": {"target": target, "states": [state]}}, {"control": control}
    if change.kind == "title/changed":
        return {"window_title": {"equals": change.after}}, {"value": change.after}
    return _files(change, end, texts, initial)


def _files(
    change: Change, end: Snapshot, texts: Mapping[str, bytes], initial: Mapping[str, bytes]
) -> tuple[dict[str, Any], dict[str, str]] | str:
    if end.home is None:
        return "HOME could not be listed at the end of the move"
    entries = end.home.entries
    clauses: list[str] = []
    checks: list[dict[str, Any]] = []
    phrase = grammar()["clauses"]
    for src, dst in change.moved:
        same_dir = src.rsplit("/", 1)[0] == dst.rsplit("/", 1)[0] if "/" in src or "/" in dst else True
        template = phrase["renamed"] if same_dir and "/" not in dst else phrase["moved"]
        clauses.append(_fill(template, {"src": f"'{src}'", "dst": f"'{dst}'"}))
    for src, dst in change.copied:
        clauses.append(_fill(phrase["copied"], {"src": f"'{src}'", "dst": f"'{dst}'"}))
    for path in change.created:
        entry = entries[path]
        if entry.kind == "d":  # a file of that name is no folder: the check says which it must be
            clauses.append(_fill(phrase["created_dir"], {"path": f"'{path}'"}))
            checks.append({"file_exists": {"path": path, "type": "dir"}})
            continue
        text = _quotable(path, entry.size, entry.digest, texts)
        if text is None:
            clauses.append(_fill(phrase["created_binary"], {"path": f"'{path}'"}))
        elif text == "":
            clauses.append(_fill(phrase["created_empty"], {"path": f"'{path}'"}))
            checks.append({"file_text": {"path": path, "equals": ""}})
        elif not text.startswith("!"):
            clauses.append(_fill(phrase["created_file"], {"path": f"'{path}'", "text": f"'{text}'"}))
            checks.append({"file_text": {"path": path, "equals": text}})
        else:
            return f"{path}: {text[1:]}"
    for path in change.deleted:
        clauses.append(_fill(phrase["deleted"], {"path": f"'{path}'"}))
    for path in change.modified:
        entry = entries[path]
        text = _quotable(path, entry.size, entry.digest, texts)
        if text is None:
            clauses.append(_fill(phrase["modified"], {"path": f"'{path}'"}))
        elif not text.startswith("!"):
            clauses.append(_fill(phrase["modified_text"], {"path": f"'{path}'", "text": f"'{text}'"}))
            checks.append({"file_text": {"path": path, "equals": text}})
        else:
            edit = _line_edit(path, initial.get(path), texts.get(f"{path}@{entry.digest}"))
            if isinstance(edit, str):
                return f"{path}: {text[1:]} ({edit})"
            clause, whole = edit
            clauses.append(clause)
            checks.append({"file_text": {"path": path, "equals": whole}})
    diff: dict[str, Any] = {}
    for key in ("created", "deleted", "modified"):
        if getattr(change, key):
            diff[key] = list(getattr(change, key))
    if change.moved:
        diff["moved"] = dict(change.moved)
    if change.copied:
        diff["copied"] = dict(change.copied)
    validator = {"all": [{"changes": diff}, *checks]} if checks else {"changes": diff}
    return validator, {"clauses": ", ".join(clauses)}


def _line_edit(path: str, before: bytes | None, after: bytes | None) -> tuple[str, str] | str:
    """Describe a one-line edit of a text file (the clause, the whole new text), or say why not.

    A file of many lines cannot be quoted whole, but one line added, removed or changed can be:
    the instruction names that edit and the validator still compares the whole file.
    """
    if before is None or after is None:
        return "its start or end content is unknown"
    try:
        old, new = before.decode("utf-8"), after.decode("utf-8")
    except UnicodeDecodeError:
        return "not text"
    a, b = old.splitlines(), new.splitlines()
    ops = [op for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes() if op[0] != "equal"]
    if len(ops) != 1:
        return f"{len(ops)} separate edits"
    tag, i1, i2, j1, j2 = ops[0]
    phrase = grammar()["clauses"]
    quoted = [line for line in (*a[i1:i2], *b[j1:j2])]
    if any("'" in line or len(line) > MAX_QUOTED or not line.strip() for line in quoted):
        return "an edited line is blank, too long, or holds a quote"
    values = {"path": f"'{path}'", "n": str(i1 + 1)}
    if tag == "insert" and j2 - j1 == 1:
        template = "line_appended" if i1 == len(a) else "line_inserted"
        values.update(text=f"'{b[j1]}'", n=str(i1))
    elif tag == "delete" and i2 - i1 == 1:
        template = "line_deleted"
        values.update(old=f"'{a[i1]}'")
    elif tag == "replace" and i2 - i1 == 1 and j2 - j1 == 1:
        template = "line_changed"
        values.update(old=f"'{a[i1]}'", text=f"'{b[j1]}'")
    else:
        return "more than one line edited"
    return _fill(phrase[template], values), new


def _home_relative(path: str) -> str:
    """Return a setup path relative to HOME (setup paths may be either)."""
    return path[len(HOME) + 1 :] if path.startswith(HOME + "/") else path


def _quotable(path: str, size: int, digest: str, texts: Mapping[str, bytes]) -> str | None:
    """Return a text file's content to quote ('' when empty), None for a binary file, or '!why'."""
    if size == 0:
        return ""
    data = texts.get(f"{path}@{digest}")
    if data is None:
        return "!its content was not read during the walk (too large)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    body = text[:-1] if text.endswith("\n") else text
    if "\n" in body or "\r" in body:
        return "!a text of several lines cannot be quoted in one instruction"
    if len(body) > MAX_QUOTED or "'" in body:
        return "!its text is too long (or holds a quote) to quote in the instruction"
    return body
