r"""Task specs and parameterised task families, loaded from YAML or JSON and checked on load.

A task file holds one family, or a suite of families (``families: [...]``, with ``app`` and
``tags`` as defaults for all of them). A family is a template plus a seeded parameter sampler;
instance ``i`` is the concrete ``TaskSpec`` with id ``<family>/<i>``. A family without
parameters is simply one task. Example::

    id: mousepad.append-and-save
    app: mousepad                       # an application profile (sandbox/profiles/*.toml)
    difficulty: 2                       # 1: one action, 2: 2-4, 3: 5-9, 4: 10 or more
    split: train                        # or eval: held out, never trained on
    tags: [editor, files]
    params:
      word: {choice: [apples, pears, plums]}
    instruction: Add the line '${word}' at the end of notes.txt and save it.
    paraphrases:                        # optional: the same request in other words
      - Put ${word} on a new last line of notes.txt, then save.
    setup:
      - write: {path: notes.txt, text: "shopping\n"}
      - open: notes.txt                 # launch the app with this file (app arguments)
      - wait_window: "notes.txt"        # a regex on the window title
    oracle:
      - key: ctrl+end
      - type: "${word}\n"
      - key: ctrl+s
        id: save
        until: {file_changed: notes.txt}
    validator:
      file_text: {path: notes.txt, equals: "shopping\n${word}"}
    near_misses:
      - {name: unsaved, before: save}              # validate just before step 'save': must fail
      - {name: wrong-word, params: {word: grapes}} # the oracle with another word: must fail

A machine-made task (``cua explore``) also says ``generated: walk`` (its oracle is a recorded
exploration walk) or ``generated: template`` (drawn from a parametric template: no oracle, proven
only by an attempt that passes) and carries ``provenance`` (a mapping: where it came from).

Setup steps: ``write`` (a file into HOME: ``text`` or ``base64``), ``run`` (a command; a string
runs through ``sh -c``), ``launch`` (the application's arguments) or ``open`` (one file or URL
to open with it), and ``wait_window`` (a regex the focused window's title must match). Steps
before the launch run before the application starts; steps after it run once its window is
up. Without a launch step the application starts, without arguments, after all steps.

An instruction (and each paraphrase) has at most ``cua.policy.MAX_INSTRUCTION_CHARS`` characters.
``load_path`` loads one file or every task file in a folder (a suite for ``cua eval --suite``).
Errors name the file, the field and what was expected there (``TaskSpecError``).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from cua.policy import MAX_INSTRUCTION_CHARS
from cua.tasks.errors import TaskSpecError, Where, source_name
from cua.tasks.oracle import OracleStep, count_actions, parse_steps
from cua.tasks.params import (
    BUILTIN_PARAMS,
    HOME,
    ParamSpec,
    apply_derive,
    parse_derive,
    parse_params,
    render,
    sample,
)
from cua.tasks.validators import Check, parse_check
from sandbox.profile import RunCommand, SetupStep, WriteFile

Split = Literal["train", "eval"]
SPLITS: tuple[str, ...] = ("train", "eval")
#: Oracle input counts for each difficulty: (fewest, most) actions.
DIFFICULTY_BANDS: dict[int, tuple[int, int]] = {1: (1, 1), 2: (2, 4), 3: (5, 9), 4: (10, 10_000)}
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_FAMILY_KEYS = {
    "id",
    "app",
    "instruction",
    "paraphrases",
    "setup",
    "validator",
    "oracle",
    "tags",
    "difficulty",
    "split",
    "params",
    "derive",
    "instances",
    "near_misses",
    "max_steps",
    "description",
    "side_effects",
    "alternates",
    "generated",
    "provenance",
}
#: How a machine-made task was made (``generated``): ``walk``, its oracle a recorded exploration
#: walk; ``template``, drawn from a template with no oracle (proven only by a passing attempt).
GENERATED_KINDS = ("walk", "template")
_SUITE_KEYS = {"families", "app", "tags", "description"}
#: Attempts at drawing parameters that differ from every earlier instance of the family.
_DISTINCT_TRIES = 30


# -- setup steps ------------------------------------------------------------------------------
# ``write`` and ``run`` are the sandbox's own setup steps (``sandbox.profile``), defined and
# executed there; a task adds only what needs the application: its launch and a window wait.
WriteStep = WriteFile
"""A ``write`` step: the sandbox's ``WriteFile`` (this name is kept for the task vocabulary)."""
RunStep = RunCommand
"""A ``run`` step: the sandbox's ``RunCommand``."""


@dataclass(frozen=True)
class LaunchStep:
    """Start the application with these arguments (files to open, URLs)."""

    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class WaitWindowStep:
    """Wait until the focused window's title matches a regex."""

    title: str
    timeout_s: float = 20.0


SetupItem = WriteFile | RunCommand | LaunchStep | WaitWindowStep


@dataclass(frozen=True)
class NearMiss:
    """A wrong outcome the validator must reject, produced from the oracle.

    ``before``: validate just before the oracle step with that id (the work done, not finished,
    e.g. not saved). ``params``: run the oracle with these parameters changed (a wrong value, a
    wrong place) and validate against the real task. ``skip``: run it without those steps.
    """

    name: str
    before: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    skip: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alternate:
    """Another route to the right outcome (a menu instead of a shortcut): the validator must pass it."""

    name: str
    oracle: tuple[OracleStep, ...]


@dataclass(frozen=True)
class SideEffectPolicy:
    """What the side-effect guard lets change under HOME besides what the checks judge.

    ``allow``: more HOME-relative glob patterns; ``off``: no guard at all. Either needs a
    written ``reason`` (shown by ``cua tasks show``): a guard switched off is a weaker reward.
    """

    allow: tuple[str, ...] = ()
    off: bool = False
    reason: str = ""


@dataclass(frozen=True)
class TaskSpec:
    """One concrete task: what to ask, how to set the sandbox up, how to check and solve it."""

    id: str
    family: str
    instruction: str
    app: str
    setup: tuple[SetupItem, ...]
    validator: Check
    oracle: tuple[OracleStep, ...] | None = None
    tags: tuple[str, ...] = ()
    difficulty: int = 1
    split: Split = "train"
    params: Mapping[str, Any] = field(default_factory=dict)
    near_misses: tuple[NearMiss, ...] = ()
    max_steps: int = 15
    """The step budget an agent gets for this task."""
    source: Path | None = None
    index: int = 0
    paraphrases: tuple[str, ...] = ()
    """The same request in other words, rendered with this instance's values (for measuring how
    retrieval and policies cope with wording; never a different task)."""
    side_effects: SideEffectPolicy = field(default_factory=SideEffectPolicy)
    alternates: tuple[Alternate, ...] = ()
    """Other routes to the right outcome; each must pass the validator (``prove`` runs them)."""
    generated: str | None = None
    """How a synthesized task was made (``walk``: an exploration recorded its oracle;
    ``template``: drawn from a template, no oracle); None for a task a person wrote."""
    provenance: Mapping[str, Any] = field(default_factory=dict)
    """Where a synthesized task came from (explorer run, walk, moves, change), for reports."""

    @property
    def held_out(self) -> bool:
        """Return whether this task is for evaluation only."""
        return self.split == "eval"

    def _launch_index(self) -> int | None:
        for i, step in enumerate(self.setup):
            if isinstance(step, LaunchStep):
                return i
        return None

    def sandbox_setup(self) -> tuple[tuple[SetupStep, ...], tuple[str, ...]]:
        """Return (the sandbox setup steps run before the application starts, its arguments)."""
        launch = self._launch_index()
        before = self.setup if launch is None else self.setup[:launch]
        pre = tuple(s for s in before if isinstance(s, WriteFile | RunCommand))
        args = () if launch is None else self.setup[launch].args  # type: ignore[union-attr]
        return pre, args

    def after_launch(self) -> tuple[SetupItem, ...]:
        """Return the setup steps that run once the application's window is up."""
        launch = self._launch_index()
        if launch is None:
            return tuple(s for s in self.setup if isinstance(s, WaitWindowStep))
        return self.setup[launch + 1 :]

    def oracle_actions(self) -> int:
        """Return how many inputs the oracle sends (0 without an oracle)."""
        return count_actions(self.oracle) if self.oracle else 0


@dataclass(frozen=True)
class TaskFamily:
    """A task template with a parameter sampler; ``instance(i)`` is its i-th concrete task."""

    id: str
    app: str
    body: Mapping[str, Any]
    """The unrendered instruction, setup, oracle and validator."""
    params: tuple[ParamSpec, ...]
    derive: tuple[tuple[str, ast.Expression], ...]
    instances: int
    difficulty: int
    split: Split
    tags: tuple[str, ...]
    max_steps: int | None
    near_misses: tuple[Mapping[str, Any], ...]
    description: str = ""
    side_effects: SideEffectPolicy = field(default_factory=SideEffectPolicy)
    source: Path | None = None
    where: Where = field(default_factory=lambda: Where("<inline>"))
    generated: str | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    _drawn: list[dict[str, Any]] = field(default_factory=list, compare=False, repr=False)

    @property
    def held_out(self) -> bool:
        """Return whether this family is for evaluation only."""
        return self.split == "eval"

    def instance(self, index: int) -> TaskSpec:
        """Return the concrete task number ``index`` (deterministic: same params every time)."""
        return self._build(index, self.values(index))

    def tasks(self) -> list[TaskSpec]:
        """Return all the family's built-in instances."""
        return [self.instance(i) for i in range(self.instances)]

    def values(self, index: int) -> dict[str, Any]:
        """Return the parameter values of instance ``index``, distinct from earlier instances.

        Instances are drawn in order, each re-drawn (with a derived seed) while it equals an
        earlier one, so instance ``i`` is the same on every run and machine.
        """
        if index < 0:
            raise self.where.at("instances").error("a non-negative instance index", index)
        for i in range(len(self._drawn), index + 1):
            earlier = [_key(self._drawn[j]) for j in range(i)]
            self._drawn.append(self._draw(i, earlier))
        return dict(self._drawn[index])

    def _draw(self, index: int, earlier: list[str]) -> dict[str, Any]:
        values = sample(self.params, self.derive, f"{self.id}:{index}", self.where.at("params"))
        tries = 1
        while self.params and _key(values) in earlier and tries < _DISTINCT_TRIES:
            values = sample(self.params, self.derive, f"{self.id}:{index}:{tries}", self.where.at("params"))
            tries += 1
        return values

    def with_values(self, index: int, overrides: Mapping[str, Any]) -> TaskSpec:
        """Return instance ``index`` rendered with some parameter values replaced (near misses)."""
        base = self.values(index)
        new = {
            k: _like(base.get(k), v)
            for k, v in render(dict(overrides), base, self.where.at("near_misses")).items()
        }
        derived = {name for name, _ in self.derive}
        # Sampled parameters change first and the derived ones follow them (the wrong oracle
        # stays self-consistent); an override of a derived value itself wins over the derivation.
        values = {k: v for k, v in base.items() if k not in derived}
        values.update({k: v for k, v in new.items() if k not in derived})
        values = apply_derive(values, self.derive, self.where.at("derive"))
        values.update({k: v for k, v in new.items() if k in derived})
        return self._build(index, values)

    def _build(self, index: int, values: dict[str, Any]) -> TaskSpec:
        where = self.where
        body = render(dict(self.body), values, where)
        instruction = body.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise where.at("instruction").error("a non-empty instruction string", instruction)
        paraphrases = body.get("paraphrases", [])
        if not _non_empty_texts(paraphrases):
            raise where.at("paraphrases").error("a list of non-empty instruction strings", paraphrases)
        for i, text in enumerate([instruction, *paraphrases]):
            if len(text) > MAX_INSTRUCTION_CHARS:
                at = where.at("instruction") if i == 0 else where.at("paraphrases").at(i - 1)
                raise at.error(
                    f"an instruction of at most {MAX_INSTRUCTION_CHARS:,} characters (it has "
                    f"{len(text):,}); put long material in a file the setup writes",
                    show_got=False,
                )
        setup = parse_setup(body.get("setup", []), where.at("setup"))
        validator = parse_check(body.get("validator"), where.at("validator"))
        oracle = parse_steps(body["oracle"], where.at("oracle")) if body.get("oracle") is not None else None
        derived = [name for name, _ in self.derive]
        near = tuple(
            parse_near_miss(nm, where.at("near_misses").at(i), oracle, self.params, derived)
            for i, nm in enumerate(self.near_misses)
        )
        alternates = parse_alternates(body.get("alternates", []), where.at("alternates"))
        actions = count_actions(oracle) if oracle else 0
        max_steps = self.max_steps if self.max_steps is not None else max(10, 3 * actions)
        shown = {k: v for k, v in values.items() if k not in BUILTIN_PARAMS}
        return TaskSpec(
            id=f"{self.id}/{index}",
            family=self.id,
            instruction=instruction.strip(),
            app=self.app,
            setup=setup,
            validator=validator,
            oracle=oracle,
            tags=self.tags,
            difficulty=self.difficulty,
            split=self.split,
            params=shown,
            near_misses=near,
            max_steps=max_steps,
            source=self.source,
            index=index,
            paraphrases=tuple(" ".join(p.split()) for p in paraphrases),
            side_effects=self.side_effects,
            alternates=alternates,
            generated=self.generated,
            provenance=self.provenance,
        )


def _like(original: Any, value: Any) -> Any:
    """Give an overriding value the type of the value it replaces ("${n}1" for an int n is an int)."""
    if isinstance(value, str) and isinstance(original, int | float) and not isinstance(original, bool):
        try:
            return type(original)(value)
        except ValueError:
            return value
    return value


def _key(values: Mapping[str, Any]) -> str:
    return json.dumps(
        {k: v for k, v in values.items() if k not in BUILTIN_PARAMS}, sort_keys=True, default=str
    )


# -- parsing ----------------------------------------------------------------------------------
def parse_setup(data: Any, where: Where) -> tuple[SetupItem, ...]:
    """Parse the setup list."""
    if not isinstance(data, list):
        raise where.error("a list of setup steps (write, run, launch, open, wait_window)", data)
    steps: list[SetupItem] = []
    for i, item in enumerate(data):
        at = where.at(i)
        if not isinstance(item, dict) or len(item) != 1:
            raise at.error("a mapping with one of write, run, launch, open, wait_window", item)
        kind, value = next(iter(item.items()))
        here = at.at(str(kind))
        if kind == "write":
            steps.append(_parse_write(value, here))
        elif kind == "run":
            argv = ["sh", "-c", value] if isinstance(value, str) else value
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str | int) for a in argv):
                raise here.error("a command: a list of strings, or one shell command string", value)
            steps.append(RunCommand(tuple(str(a) for a in argv)))
        elif kind in ("launch", "open"):
            if any(isinstance(s, LaunchStep) for s in steps):
                raise here.error("a single launch or open step per task", value)
            if kind == "open":
                if not isinstance(value, str) or not value:
                    raise here.error("a file path (relative to HOME) or a URL", value)
                steps.append(LaunchStep((_absolute(value),)))
            else:
                if not isinstance(value, list) or not all(isinstance(a, str | int) for a in value):
                    raise here.error("a list of application arguments", value)
                steps.append(LaunchStep(tuple(str(a) for a in value)))
        elif kind == "wait_window":
            if any(isinstance(d, dict) and ("launch" in d or "open" in d) for d in data[i + 1 :]):
                raise here.error(
                    "wait_window after the launch or open step (there is no window before it)", value
                )
            if isinstance(value, str):
                value = {"title": value}
            if not isinstance(value, dict) or "title" not in value or set(value) - {"title", "timeout_s"}:
                raise here.error("a title regex, or {title: REGEX, timeout_s: N}", value)
            try:
                re.compile(value["title"])
            except (re.error, TypeError) as exc:
                raise here.at("title").error(f"a valid regular expression ({exc})", value["title"]) from None
            timeout = value.get("timeout_s", 20.0)
            if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
                raise here.at("timeout_s").error("a positive number of seconds", timeout)
            steps.append(WaitWindowStep(value["title"], float(timeout)))
        else:
            raise at.error("a setup step among write, run, launch, open, wait_window", kind)
    return tuple(steps)


def _absolute(path: str) -> str:
    if "://" in path or path.startswith("/"):
        return path
    return f"{HOME}/{path}"


def _parse_write(value: Any, where: Where) -> WriteFile:
    if not isinstance(value, dict) or "path" not in value:
        raise where.error("{path: FILE, text: CONTENT} (or base64: CONTENT)", value)
    extra = set(value) - {"path", "text", "base64", "mode"}
    if extra:
        raise where.error("only the keys path, text, base64, mode", sorted(extra))
    path = value["path"]
    if not isinstance(path, str) or not path:
        raise where.at("path").error("a file path", path)
    if ("text" in value) == ("base64" in value):
        raise where.error("exactly one of 'text' and 'base64'", sorted(value))
    if "text" in value:
        text = value["text"]
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise where.at("text").error("the file's text", text)
        content = str(text).encode()
    else:
        try:
            content = base64.b64decode(str(value["base64"]), validate=True)
        except ValueError:
            raise where.at("base64").error("base64-encoded bytes", value["base64"]) from None
    mode = value.get("mode", 0o644)
    if isinstance(mode, str):
        try:
            mode = int(mode, 8)
        except ValueError:
            raise where.at("mode").error("an octal mode such as '0755'", mode) from None
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
        raise where.at("mode").error("a file mode such as '0644'", mode)
    return WriteFile(path, content, mode)


def parse_near_miss(
    data: Any,
    where: Where,
    oracle: tuple[OracleStep, ...] | None,
    params: tuple[ParamSpec, ...],
    derived: Iterable[str] = (),
) -> NearMiss:
    """Parse one near miss and check it refers to real oracle steps and parameters."""
    if not isinstance(data, dict) or "name" not in data:
        raise where.error("{name: ..., before: STEP_ID | params: {...} | skip: [STEP_ID]}", data)
    extra = set(data) - {"name", "before", "params", "skip"}
    if extra:
        raise where.error("only the keys name, before, params, skip", sorted(extra))
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise where.at("name").error("a name", name)
    if oracle is None:
        raise where.error("an oracle: near misses are made from it", None, show_got=False)
    ids = {s.id for s in oracle if s.id is not None}
    before = data.get("before")
    overrides = data.get("params", {})
    skip = data.get("skip", [])
    if before is not None and (overrides or skip):
        raise where.error("'before' alone, or 'params' and/or 'skip'", sorted(data))
    if before is None and not overrides and not skip:
        raise where.error("one of 'before', 'params', 'skip'", sorted(data))
    if before is not None and before not in ids:
        raise where.at("before").error(f"the id of an oracle step (one of {sorted(ids)})", before)
    if not isinstance(overrides, dict):
        raise where.at("params").error("a mapping of parameter names to values", overrides)
    known = {p.name for p in params} | set(derived)
    unknown = set(overrides) - known
    if unknown:
        raise where.at("params").error(f"parameters of this family (one of {sorted(known)})", sorted(unknown))
    if isinstance(skip, str):
        skip = [skip]
    if not isinstance(skip, list) or not all(s in ids for s in skip):
        raise where.at("skip").error(f"a list of oracle step ids (among {sorted(ids)})", skip)
    return NearMiss(name, before, dict(overrides), tuple(skip))


def parse_alternates(data: Any, where: Where) -> tuple[Alternate, ...]:
    """Parse ``alternates: [{name: ..., oracle: [...]}]``: other routes the validator must pass."""
    if not isinstance(data, list):
        raise where.error("a list of {name: ..., oracle: [steps]}", data)
    out = []
    names: set[str] = set()
    for i, item in enumerate(data):
        at = where.at(i)
        if not isinstance(item, dict) or set(item) != {"name", "oracle"}:
            raise at.error("a mapping with exactly the keys name and oracle", item)
        name = item["name"]
        if not isinstance(name, str) or not name or name in names:
            raise at.at("name").error("a name, unique among the alternates", name)
        names.add(name)
        out.append(Alternate(name, parse_steps(item["oracle"], at.at("oracle"))))
    return tuple(out)


def parse_side_effects(data: Any, where: Where) -> SideEffectPolicy:
    """Parse ``side_effects: {allow: [patterns] | off: true, reason: ...}`` (absent: the full guard)."""
    if data is None:
        return SideEffectPolicy()
    if not isinstance(data, dict) or "reason" not in data or not set(data) <= {"allow", "off", "reason"}:
        raise where.error("{allow: [HOME-relative patterns], reason: ...} or {off: true, reason: ...}", data)
    reason = data["reason"]
    if not isinstance(reason, str) or len(reason.strip()) < 10:
        raise where.at("reason").error("a written reason (why this family may change more)", reason)
    allow = data.get("allow", [])
    if isinstance(allow, str):
        allow = [allow]
    if not isinstance(allow, list) or not all(isinstance(p, str) and p for p in allow):
        raise where.at("allow").error("a list of HOME-relative glob patterns", allow)
    off = data.get("off", False)
    if not isinstance(off, bool) or (not off and not allow):
        raise where.error("'allow' with patterns, or 'off: true'", data)
    return SideEffectPolicy(tuple(allow), off, " ".join(reason.split()))


def parse_family(
    data: Any, where: Where, defaults: Mapping[str, Any] | None = None, source: Path | None = None
) -> TaskFamily:
    """Parse and check one family (all its instances are rendered and parsed once)."""
    if not isinstance(data, dict):
        raise where.error("a task family mapping", data)
    data = {**(defaults or {}), **data}
    unknown = set(data) - _FAMILY_KEYS
    if unknown:
        raise where.error(f"only the keys {sorted(_FAMILY_KEYS)}", sorted(unknown))
    for key in ("id", "app", "instruction", "validator", "difficulty"):
        if key not in data:
            raise where.at(key).error(_EXPECTED[key], None, show_got=False)
    fid = data["id"]
    if not isinstance(fid, str) or not _ID.match(fid):
        raise where.at("id").error("a lower-case id such as 'mousepad.save-as'", fid)
    where = Where(where.source, f"{where.field}[{fid}]" if where.field else "")
    app = data["app"]
    if not isinstance(app, str) or not app:
        raise where.at("app").error(_EXPECTED["app"], app)
    difficulty = data["difficulty"]
    if difficulty not in DIFFICULTY_BANDS or isinstance(difficulty, bool):
        raise where.at("difficulty").error(_EXPECTED["difficulty"], difficulty)
    split = data.get("split", "train")
    if split not in SPLITS:
        raise where.at("split").error("'train' or 'eval' (held out)", split)
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise where.at("tags").error("a list of strings", tags)
    params = parse_params(data.get("params"), where.at("params"))
    derive = parse_derive(data.get("derive"), where.at("derive"))
    instances = data.get("instances", 4 if params else 1)
    if isinstance(instances, bool) or not isinstance(instances, int) or not 1 <= instances <= 1000:
        raise where.at("instances").error("an integer from 1 to 1000", instances)
    max_steps = data.get("max_steps")
    if max_steps is not None and (
        isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1
    ):
        raise where.at("max_steps").error("a positive integer", max_steps)
    near = data.get("near_misses", [])
    if not isinstance(near, list):
        raise where.at("near_misses").error("a list of near misses", near)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise where.at("description").error("a string", description)
    side_effects = parse_side_effects(data.get("side_effects"), where.at("side_effects"))
    generated = data.get("generated")
    if generated is not None and generated not in GENERATED_KINDS:
        wanted = f"one of {list(GENERATED_KINDS)}: how the task was made"
        raise where.at("generated").error(wanted, generated)
    if generated == "walk" and data.get("oracle") is None:
        raise where.at("oracle").error("the generated oracle (a task marked generated has one)", None)
    provenance = data.get("provenance", {})
    if not isinstance(provenance, dict):
        raise where.at("provenance").error("a mapping (where the task came from)", provenance)
    body = {
        k: data[k]
        for k in ("instruction", "paraphrases", "setup", "validator", "oracle", "alternates")
        if k in data
    }
    family = TaskFamily(
        id=fid,
        app=app,
        body=body,
        params=params,
        derive=derive,
        instances=instances,
        difficulty=difficulty,
        split=split,
        tags=tuple(tags),
        max_steps=max_steps,
        near_misses=tuple(near),
        description=description,
        side_effects=side_effects,
        source=source,
        where=where,
        generated=generated,
        provenance=provenance,
    )
    seen: set[str] = set()
    for i in range(instances):
        task = family.instance(i)  # renders and parses: every instance is checked on load
        for nm in task.near_misses:
            if nm.params:
                family.with_values(i, nm.params)
        if params:
            seen.add(_key(task.params))
    if params and len(seen) < instances:
        raise where.at("instances").error(
            f"at most {len(seen)} instances: the parameters do not yield {instances} distinct tasks",
            instances,
        )
    return family


def _non_empty_texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


_EXPECTED = {
    "id": "a family id such as 'mousepad.save-as'",
    "app": "an application profile name such as 'mousepad'",
    "instruction": "the instruction shown to the agent",
    "validator": "a validator (see cua.tasks.validators)",
    "difficulty": "1 (one action), 2 (2-4 actions), 3 (5-9) or 4 (10 or more)",
}


def parse_document(data: Any, source: Path | None = None) -> list[TaskFamily]:
    """Parse a loaded task document: one family, or ``families: [...]`` with shared defaults."""
    where = Where(source_name(source))
    if isinstance(data, dict) and "families" in data:
        extra = set(data) - _SUITE_KEYS
        if extra:
            raise where.error(f"a suite with only the keys {sorted(_SUITE_KEYS)}", sorted(extra))
        items = data["families"]
        if not isinstance(items, list) or not items:
            raise where.at("families").error("a non-empty list of task families", items)
        defaults = {k: data[k] for k in ("app", "tags") if k in data}
        families = [
            parse_family(item, where.at("families").at(i), defaults, source) for i, item in enumerate(items)
        ]
    else:
        families = [parse_family(data, where, None, source)]
    ids = [f.id for f in families]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise where.error("unique family ids", dupes)
    return families


TASK_SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".json")
"""The file name endings of task files."""


def load_path(path: str | Path) -> list[TaskFamily]:
    """Load a task file, or every task file directly in a folder (in name order).

    Other files and sub-folders of the folder are left alone (an imported task keeps its
    expected files in ``<id>.files/``). Family ids must be unique across the folder.
    """
    path = Path(path)
    if not path.is_dir():
        return load_file(path)
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in TASK_SUFFIXES)
    if not files:
        raise TaskSpecError(f"{path}: no task files (.yaml, .yml, .json) in this folder")
    families = [family for file in files for family in load_file(file)]
    ids = [f.id for f in families]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise TaskSpecError(f"{path}: these family ids are defined in more than one file: {dupes}")
    return families


def load_file(path: str | Path) -> list[TaskFamily]:
    """Load a task file (``.yaml``, ``.yml`` or ``.json``); raise TaskSpecError on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskSpecError(f"{path}: task file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskSpecError(f"{path}: cannot read the task file: {exc}") from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise TaskSpecError(f"{path}: a task file ends in .yaml, .yml or .json")
    except json.JSONDecodeError as exc:
        raise TaskSpecError(f"{path}: not valid JSON: {exc}") from None
    except yaml.YAMLError as exc:
        raise TaskSpecError(f"{path}: not valid YAML: {exc}") from None
    return parse_document(data, path)


def all_tasks(families: Iterable[TaskFamily]) -> list[TaskSpec]:
    """Return every instance of every family, in order."""
    return [task for family in families for task in family.tasks()]


def near_miss_task(family: TaskFamily, task: TaskSpec, miss: NearMiss) -> TaskSpec:
    """Return the task whose oracle produces ``miss`` (params changed, steps skipped)."""
    base = family.with_values(task.index, miss.params) if miss.params else task
    if not miss.skip or base.oracle is None:
        return base
    return replace(base, oracle=tuple(s for s in base.oracle if s.id not in miss.skip))


def task_hash(task: TaskSpec) -> str:
    """Return a stable hash of what defines the task (instruction, setup, validator, oracle)."""
    oracle = [step.to_json() for step in task.oracle] if task.oracle else None
    setup = _setup_text(task.setup)
    text = json.dumps(
        [
            task.id,
            task.instruction,
            task.app,
            setup,
            repr(task.validator),
            oracle,
            task.max_steps,
            repr(task.side_effects),
        ],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: The names ``write`` and ``run`` steps had in the hashed text before they became the sandbox's
#: own types: kept, so that a task's hash (stored with every run) does not change with the rename.
_HASHED_NAMES = {"WriteFile": "WriteStep", "RunCommand": "RunStep"}


def _setup_text(setup: tuple[SetupItem, ...]) -> str:
    items = []
    for step in setup:
        text = repr(step)
        name = type(step).__name__
        items.append(_HASHED_NAMES.get(name, name) + text[len(name) :])
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
