"""Import OSWorld task JSON into task specs, for the subset that can run and be checked here.

An OSWorld task has an ``instruction``, a ``snapshot`` (the app it starts from), ``config`` steps
that prepare the VM and an ``evaluator`` (``func`` / ``result`` / ``expected`` / ``options``, lists
when several metrics combine with ``conj``). What maps onto this project:

config
  ``launch`` (of an app with a profile: Chrome/Chromium, LibreOffice Calc, a terminal, a text
  editor, a file manager, a calculator, Gnumeric) and ``open`` (a file, picking the app by its
  extension) become the launch step; ``download`` becomes a ``write`` step whose bytes come
  from a local file cache the user points to (never the network); ``execute`` / ``command``
  become ``run`` steps (before the launch or after it, in order), passed through literally (a
  ``$`` in them is the shell's, never a task template); ``activate_window`` becomes
  ``wait_window``; ``sleep`` is dropped (setup waits on conditions). The helper processes of
  Chrome's remote debugging (``socat``, ``--remote-debugging-port``) are dropped: no validator
  here talks to Chrome over CDP.
evaluator
  ``exact_match`` and ``check_include_exclude`` over a command's output (``vm_command_line``)
  or a file (``vm_file``); ``compare_text_file`` / ``compare_csv`` (a file against an expected
  file from the cache); ``compare_table`` (a spreadsheet against an expected one, cell values
  of one sheet: rules ``sheet_data`` / ``sheet_print``); ``and`` / ``or`` of those. A
  ``postconfig`` that only saves the file (``activate_window``, ``sleep``, a pyautogui ctrl+s)
  is dropped, so the agent must save itself: a stricter check, never a laxer one.

The cache
  is OSWorld's own: ``CACHE/<task id>/`` (or ``CACHE/`` itself). A setup download is taken only
  from the name OSWorld's setup saves it under, ``<uuid5(URL_NAMESPACE, url)>_<file name>``:
  the plain file name in that folder is what OSWorld *collected after a run* (an agent's
  finished file), and starting from it would let a task pass without any work. An expected
  file (``cloud_file``) is taken from its ``dest`` name, where OSWorld's getter saves it.

Anything else makes the task a *skip* with every reason found (infeasible tasks, other
getters and metrics, pyautogui in the setup, files missing from the cache, an app without a
profile): never a silent pass. Missing files are reported after the other reasons, and the
report counts the tasks that only files would unlock. ``import_paths`` returns a
``CoverageReport`` whose ``render`` prints what was imported, what was skipped and why, and
which config types and metrics were seen. Imported tasks are families of one instance in the
``eval`` split, tagged ``osworld``; ``write_task`` saves one as a self-contained task file, its
expected files copied into ``<task id>.files/`` beside it and named relatively.
"""

from __future__ import annotations

import base64
import collections
import json
import re
import shlex
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from cua.tasks.errors import TaskSpecError, Where
from cua.tasks.params import HOME
from cua.tasks.spec import TaskFamily, parse_family

#: OSWorld snapshots (and related_apps) mapped to application profiles.
SNAPSHOT_PROFILES: dict[str, str] = {
    "chrome": "chromium",
    "libreoffice_calc": "libreoffice-calc",
    "os": "xterm",
    "terminal": "xterm",
    "gedit": "mousepad",
    "text_editor": "mousepad",
    "nautilus": "pcmanfm",
    "files": "pcmanfm",
    "calculator": "galculator",
    "gnome-calculator": "galculator",
}
#: Executables an OSWorld ``launch`` may start, mapped to application profiles.
COMMAND_PROFILES: dict[str, str] = {
    "google-chrome": "chromium",
    "google-chrome-stable": "chromium",
    "chromium": "chromium",
    "chromium-browser": "chromium",
    "gnome-terminal": "xterm",
    "xterm": "xterm",
    "gedit": "mousepad",
    "mousepad": "mousepad",
    "nautilus": "pcmanfm",
    "pcmanfm": "pcmanfm",
    "gnome-calculator": "galculator",
    "galculator": "galculator",
    "gnumeric": "gnumeric",
}
#: File extensions an ``open`` step may open, mapped to application profiles.
EXTENSION_PROFILES: dict[str, str] = {
    ".xlsx": "libreoffice-calc",
    ".xls": "libreoffice-calc",
    ".ods": "libreoffice-calc",
    ".csv": "libreoffice-calc",
    ".txt": "mousepad",
    ".md": "mousepad",
    ".py": "mousepad",
    ".json": "mousepad",
    ".html": "chromium",
}
SUPPORTED_CONFIG = ("launch", "open", "download", "execute", "command", "sleep", "activate_window")
SUPPORTED_FUNCS = (
    "exact_match",
    "check_include_exclude",
    "compare_text_file",
    "compare_csv",
    "compare_table",
)
#: A postconfig command that only presses ctrl+s (and maybe Enter) with pyautogui.
_SAVE_HOTKEY = re.compile(r"pyautogui\.hotkey\(\s*['\"]ctrl['\"]\s*,\s*['\"]s['\"]\s*\)")
#: Processes that only serve Chrome's remote debugging protocol (no validator here uses it).
CDP_HELPERS = ("socat",)
#: Reasons that a file from the cache would remove (the rest need support that does not exist).
NOT_CACHED = ("download not cached", "expected file not cached")


class Skip(Exception):
    """The task cannot run or be checked here; ``reasons`` says why (at least one)."""

    def __init__(self, *reasons: str) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


@dataclass
class ImportResult:
    """The outcome for one OSWorld file: a family, or the reason it was skipped."""

    source: str
    task_id: str
    family: TaskFamily | None = None
    spec: dict[str, Any] | None = None
    """The task-file form of the imported family (``write_task`` saves it)."""
    reasons: list[str] = field(default_factory=list)
    """Why the task was skipped: every reason found, missing files last."""
    notes: list[str] = field(default_factory=list)
    """Approximations made while importing (steps dropped, postconfig dropped)."""
    config_types: list[str] = field(default_factory=list)
    funcs: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    """Host files the spec names (as written in it), e.g. expected workbooks from the cache."""

    @property
    def imported(self) -> bool:
        """Return whether the task was imported."""
        return self.family is not None

    @property
    def skip(self) -> str | None:
        """Return the reasons for the skip as one line, or None for an imported task."""
        return "; ".join(self.reasons) if self.reasons else None

    @property
    def only_files_missing(self) -> bool:
        """Return whether files in the cache are all this skipped task lacks."""
        return bool(self.reasons) and all(_reason_kind(r) in NOT_CACHED for r in self.reasons)


@dataclass
class CoverageReport:
    """What an import run did, file by file, with totals by config type and metric."""

    results: list[ImportResult] = field(default_factory=list)

    @property
    def imported(self) -> list[ImportResult]:
        """Return the imported tasks."""
        return [r for r in self.results if r.imported]

    @property
    def skipped(self) -> list[ImportResult]:
        """Return the skipped tasks."""
        return [r for r in self.results if not r.imported]

    def families(self) -> list[TaskFamily]:
        """Return the imported families."""
        return [r.family for r in self.results if r.family is not None]

    def render(self) -> str:
        """Return the human-readable coverage report."""
        total = len(self.results)
        lines = [f"OSWorld import: {len(self.imported)}/{total} tasks imported, {len(self.skipped)} skipped"]
        for r in self.results:
            if r.imported:
                lines.append(f"  IMPORTED {r.task_id}  ({r.source})")
            else:
                lines.append(f"  SKIPPED  {r.task_id}  ({r.source}): {r.skip}")
            lines += [f"           note: {note}" for note in r.notes]
        lines.append("config step types (seen / in imported tasks):")
        lines += self._table(
            [r.config_types for r in self.results], [r.config_types for r in self.imported], SUPPORTED_CONFIG
        )
        lines.append("evaluator metrics (seen / in imported tasks):")
        lines += self._table(
            [r.funcs for r in self.results], [r.funcs for r in self.imported], SUPPORTED_FUNCS
        )
        # A task counts once under each kind of reason it has, so the counts add up to more
        # than the skipped tasks; "only files" says what fetching files would really unlock.
        reasons = collections.Counter(
            kind for r in self.skipped for kind in dict.fromkeys(_reason_kind(x) for x in r.reasons)
        )
        if reasons:
            lines.append("skip reasons (a task counts under each of its reasons):")
            lines += [f"  {count:3d}  {reason}" for reason, count in reasons.most_common()]
            only_files = sum(r.only_files_missing for r in self.skipped)
            lines.append(f"  {only_files:3d}  tasks kept out only by files missing from the cache")
        return "\n".join(lines)

    @staticmethod
    def _table(seen: list[list[str]], used: list[list[str]], supported: Iterable[str]) -> list[str]:
        seen_c = collections.Counter(x for xs in seen for x in xs)
        used_c = collections.Counter(x for xs in used for x in xs)
        known = set(supported)
        return [
            f"  {name:24} {seen_c[name]:3d} / {used_c[name]:3d}  {_support(name in known)}"
            for name in sorted(seen_c)
        ]


def _support(known: bool) -> str:
    return "supported" if known else "unsupported"


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0]


def import_paths(paths: Iterable[str | Path], cache_dir: str | Path | None = None) -> CoverageReport:
    """Import every ``.json`` file given (folders are searched recursively)."""
    report = CoverageReport()
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.rglob("*.json")) if p.is_dir() else [p]
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            report.results.append(ImportResult(str(path), path.stem, reasons=[f"unreadable: {exc}"]))
            continue
        report.results.append(import_task(data, source=str(path), cache_dir=cache_dir))
    return report


def import_task(data: Any, *, source: str = "<inline>", cache_dir: str | Path | None = None) -> ImportResult:
    """Import one OSWorld task (already parsed JSON)."""
    if not isinstance(data, dict):
        return ImportResult(source, "?", reasons=["malformed: the file is not a JSON object"])
    raw_id = str(data.get("id") or Path(source).stem)
    result = ImportResult(source, raw_id)
    config = data.get("config") or []
    evaluator = data.get("evaluator") or {}
    if isinstance(config, list):
        result.config_types = [str(s.get("type")) for s in config if isinstance(s, dict)]
    funcs = evaluator.get("func") if isinstance(evaluator, dict) else None
    result.funcs = [str(f) for f in (funcs if isinstance(funcs, list) else [funcs] if funcs else [])]
    importer = _Importer(raw_id, Path(cache_dir) if cache_dir else None, result.notes)
    try:
        spec = importer.build(data)
        result.spec = spec
        result.files = dict(importer.files)
        result.family = parse_family(spec, Where(source), None, Path(source))
    except Skip as exc:
        result.reasons = exc.reasons
    except TaskSpecError as exc:
        result.reasons = [f"invalid after import: {exc}"]
    return result


def write_task(result: ImportResult, out_dir: str | Path) -> Path:
    """Write an imported task as ``OUT/<id>.json`` with its files in ``OUT/<id>.files/``.

    The task file names its files relatively (a ``table_equals`` ``expected`` path is resolved
    against the task file's folder), so the folder can be moved or shared as it is.
    """
    if result.spec is None:
        raise ValueError(f"{result.task_id} was not imported: {result.skip}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task_id = str(result.spec["id"])
    folder = f"{task_id}.files"
    relative: dict[str, str] = {}
    for written, host in result.files.items():
        name, number = host.name, 1
        while _literal(f"{folder}/{name}") in relative.values():
            number += 1
            name = f"{number}-{host.name}"  # two expected files of one task share a name
        (out / folder).mkdir(exist_ok=True)
        shutil.copyfile(host, out / folder / name)
        relative[written] = _literal(f"{folder}/{name}")
    spec = dict(result.spec)
    spec["validator"] = _replace_strings(spec["validator"], relative)
    target = out / f"{task_id}.json"
    target.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def _replace_strings(data: Any, mapping: Mapping[str, str]) -> Any:
    if isinstance(data, str):
        return mapping.get(data, data)
    if isinstance(data, list):
        return [_replace_strings(x, mapping) for x in data]
    if isinstance(data, dict):
        return {k: _replace_strings(v, mapping) for k, v in data.items()}
    return data


def _literal(data: Any) -> Any:
    """Escape ``$`` in every string so that task templates (``${name}``, ``$$``) leave it as it is."""
    if isinstance(data, str):
        return data.replace("$", "$$")
    if isinstance(data, list):
        return [_literal(x) for x in data]
    if isinstance(data, dict):
        return {k: _literal(v) for k, v in data.items()}
    return data


class _Importer:
    """Builds the task-file form of one OSWorld task, collecting every reason it cannot be honoured.

    Malformed input stops at once (``Skip``); anything unsupported is recorded and the import
    goes on, so the report lists every obstacle. Files missing from the cache are recorded
    apart and reported last: they matter only once everything else is supported.
    """

    def __init__(self, task_id: str, cache: Path | None, notes: list[str]) -> None:
        self.task_id = task_id
        self.cache = cache
        self.notes = notes
        self.problems: list[str] = []
        """What this project cannot run or check."""
        self.missing: list[str] = []
        """Files the cache does not have."""
        self.files: dict[str, Path] = {}
        """Host files the spec names, keyed by the string written in it."""
        self.app: str | None = None
        self.launch_args: list[str] | None = None
        self.before: list[dict[str, Any]] = []
        """Setup steps before the launch (``after``: once the window is up)."""
        self.after: list[dict[str, Any]] = []

    def _try(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn``; on Skip record its reasons and return None."""
        try:
            return fn(*args)
        except Skip as exc:
            self.problems += exc.reasons
            return None

    # -- whole task ---------------------------------------------------------------------------
    def build(self, data: Mapping[str, Any]) -> dict[str, Any]:
        instruction = data.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise Skip("malformed: no instruction")
        config = data.get("config") or []
        if not isinstance(config, list):
            raise Skip("malformed: 'config' is not a list")
        evaluator = data.get("evaluator")
        if not isinstance(evaluator, dict):
            raise Skip("malformed: no evaluator")
        funcs = evaluator.get("func")
        if funcs == "infeasible" or (isinstance(funcs, list) and "infeasible" in funcs):
            raise Skip("infeasible task: the right answer is to refuse (FAIL); no final state to check")
        app, setup = self.setup(config, data)
        validator = self._try(self.validator, evaluator)
        # Files come from the cache last, so a task that cannot run anyway is reported for
        # that first, and "not cached" counts only what files would really unlock.
        for step in setup:
            pending = step.get("write", {}).pop("download", None)
            if pending is not None:
                content = self._cached(*pending)
                step["write"]["base64"] = base64.b64encode(content or b"").decode()
        if self.problems or self.missing:
            raise Skip(*self.problems, *self.missing)
        tid = re.sub(r"[^a-z0-9_.-]+", "-", self.task_id.lower()).strip("-") or "task"
        # Everything OSWorld wrote is literal text: a `$` must never be read as a task template.
        return {
            "id": f"osworld.{tid}",
            "app": app,
            "instruction": _literal(instruction.strip()),
            "setup": _literal(setup),
            "validator": _literal(validator),
            "difficulty": 3,
            "split": "eval",
            "tags": ["osworld", str(data.get("snapshot", "unknown"))],
            "description": f"Imported from OSWorld task {self.task_id}.",
        }

    # -- config -------------------------------------------------------------------------------
    def setup(self, config: list[Any], data: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        launch_failed = False
        for index, step in enumerate(config):
            kind = step.get("type") if isinstance(step, dict) else None
            done = self._try(self._config_step, index, step)
            launch_failed |= done is None and kind in ("launch", "open")
        app = self.app
        if app is None and not launch_failed:
            app = self._try(self._default_app, data)
            if app is not None:
                self.notes.append(
                    f"no launch or open step: starts {app} (from snapshot {data.get('snapshot')!r})"
                )
        launch: list[dict[str, Any]] = [{"launch": self.launch_args}] if self.launch_args is not None else []
        return app or "", [*self.before, *launch, *self.after]

    def _config_step(self, index: int, step: Any) -> bool:
        """Translate one config step into setup steps; raise Skip if it cannot be."""
        if not isinstance(step, dict) or not isinstance(step.get("parameters", {}), dict):
            raise Skip(f"malformed: config step {index} is not {{type, parameters}}")
        kind, params = step.get("type"), step.get("parameters") or {}
        steps = self.after if self.launch_args is not None else self.before
        if kind == "launch":
            command = _argv(params.get("command"), params.get("shell", False))
            if not command:
                raise Skip(f"malformed: launch step {index} has no command")
            exe = PurePosixPath(command[0]).name
            if exe in CDP_HELPERS:
                self.notes.append(f"dropped launch of {exe} (Chrome remote-debugging helper)")
                return True
            profile = COMMAND_PROFILES.get(exe) or _libreoffice_profile(exe, command)
            if profile is None:
                raise Skip(f"unsupported app: launch of {exe!r} (no application profile for it)")
            flags = [a for a in command[1:] if a.startswith("-")]
            if flags:
                self.notes.append(f"dropped {exe} flags {flags} (the profile sets its own)")
            self._launch(profile, [a for a in command[1:] if not a.startswith("-")])
        elif kind == "open":
            path = params.get("path")
            if not isinstance(path, str) or not path:
                raise Skip(f"malformed: open step {index} has no path")
            profile = EXTENSION_PROFILES.get(PurePosixPath(path).suffix.lower())
            if profile is None:
                raise Skip(f"unsupported file type: open of {path!r} (no application for its type)")
            self._launch(profile, [path])
        elif kind == "download":
            steps += self._download(params, index)
        elif kind in ("execute", "command"):
            steps.append(self._execute(params, index))
        elif kind == "sleep":
            self.notes.append("dropped sleep (setup waits on conditions)")
        elif kind == "activate_window":
            name = params.get("window_name")
            if not isinstance(name, str) or not name:
                raise Skip(f"malformed: activate_window step {index} has no window_name")
            title, sep, _owner = name.rpartition(" - ")
            if sep:
                # "notes.txt - gedit": the document part is what our app's title shares.
                self.notes.append(f"activate_window {name!r} waits for a title containing {title!r}")
                pattern = re.escape(title)
            else:
                pattern = f"^{re.escape(name)}$" if params.get("strict") else re.escape(name)
            if self.launch_args is None:
                raise Skip("unsupported config: activate_window before any application is launched")
            self.after.append({"wait_window": pattern})
        else:
            raise Skip(f"unsupported config: step type {kind!r}")
        return True

    def _launch(self, profile: str, new_args: list[str]) -> None:
        if self.app is not None and self.app != profile:
            raise Skip(f"unsupported config: two applications ({self.app} and {profile}); a sandbox runs one")
        self.app, self.launch_args = profile, [*(self.launch_args or []), *new_args]

    def _default_app(self, data: Mapping[str, Any]) -> str:
        names = [str(data.get("snapshot", ""))] + [str(a) for a in data.get("related_apps") or []]
        for name in names:
            if name in SNAPSHOT_PROFILES:
                return SNAPSHOT_PROFILES[name]
        raise Skip(f"unsupported app: snapshot {data.get('snapshot')!r} has no application profile")

    def _download(self, params: Mapping[str, Any], index: int) -> list[dict[str, Any]]:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise Skip(f"malformed: download step {index} has no files")
        out = []
        for item in files:
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                raise Skip(f"malformed: download step {index} has a file without a path")
            url = item.get("url")
            if not isinstance(url, str) or not url:
                raise Skip(f"malformed: download step {index} has a file without a url")
            out.append({"write": {"path": _sandbox_path(item["path"]), "download": (url, item["path"])}})
        return out

    def _folders(self) -> list[Path]:
        assert self.cache is not None
        return [self.cache / self.task_id, self.cache]

    def _cached(self, url: str, dest: str) -> bytes | None:
        """Return a setup download's bytes from the cache, or None (recorded as missing).

        Only OSWorld's name for a setup download counts: ``<uuid5(url)>_<name>``. The plain
        name is where OSWorld saves files it collects *after* a run (an agent's result).
        """
        if self.cache is None:
            self.missing.append(f"download not cached: {url} (no --cache folder given)")
            return None
        plain = PurePosixPath(dest).name
        name = f"{uuid.uuid5(uuid.NAMESPACE_URL, url)}_{plain}"
        for folder in self._folders():
            if (folder / name).is_file():
                return (folder / name).read_bytes()
        hint = ""
        if any((folder / plain).is_file() for folder in self._folders()):
            hint = f"; {plain} there is what OSWorld collects after a run, not the starting file"
        self.missing.append(
            f"download not cached: {url} (looked for {name} in {', '.join(map(str, self._folders()))}{hint})"
        )
        return None

    def _cached_path(self, url: str, dest: str) -> Path | None:
        """Return an expected file (``cloud_file``) from the cache, or None (recorded as missing)."""
        if self.cache is None:
            self.missing.append(f"expected file not cached: {url or dest} (no --cache folder given)")
            return None
        names = list(
            dict.fromkeys(n for n in (PurePosixPath(dest).name, PurePosixPath(urlparse(url).path).name) if n)
        )
        for folder in self._folders():
            for n in names:
                if (folder / n).is_file():
                    return (folder / n).resolve()
        self.missing.append(f"expected file not cached: {url or dest} (looked for {names} in {self.cache})")
        return None

    def _execute(self, params: Mapping[str, Any], index: int) -> dict[str, Any]:
        argv = _argv(params.get("command"), params.get("shell", False))
        if not argv:
            raise Skip(f"malformed: execute step {index} has no command")
        if any("pyautogui" in a for a in argv):
            raise Skip("unsupported config: execute of a pyautogui script (GUI scripting in the setup)")
        return {"run": argv}

    # -- evaluator ----------------------------------------------------------------------------
    def validator(self, evaluator: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return the validator, or None when a metric is unsupported (its reasons recorded)."""
        funcs = evaluator.get("func")
        self._try(self._postconfig, evaluator.get("postconfig") or [])
        if not funcs:
            raise Skip("malformed: the evaluator has no func")
        multi = isinstance(funcs, list)
        func_list: list[Any] = funcs if isinstance(funcs, list) else [funcs]
        results: Any = evaluator.get("result") if multi else [evaluator.get("result")]
        expected: Any = evaluator.get("expected") if multi else [evaluator.get("expected")]
        options: Any = evaluator.get("options") if multi else [evaluator.get("options")]
        if not isinstance(results, list) or len(results) != len(func_list):
            raise Skip("malformed: 'result' does not match 'func'")
        expected = expected if isinstance(expected, list) else [None] * len(func_list)
        options = options if isinstance(options, list) else [None] * len(func_list)
        checks = [
            self._try(self._metric, str(f), r, e, o or {})
            for f, r, e, o in zip(func_list, results, expected, options, strict=False)
        ]
        conj = evaluator.get("conj", "and")
        if len(checks) > 1 and conj not in ("and", "or"):
            raise Skip(f"unsupported evaluator: conj {conj!r}")
        if any(c is None for c in checks):
            return None
        if len(checks) == 1:
            return dict(checks[0])
        return {"all" if conj == "and" else "any": checks}

    def _postconfig(self, steps: list[Any]) -> None:
        if not steps:
            return
        for step in steps:
            kind = step.get("type") if isinstance(step, dict) else None
            params = (step.get("parameters") or {}) if isinstance(step, dict) else {}
            command = " ".join(_argv(params.get("command"), params.get("shell", False)))
            is_save = kind in ("execute", "command") and _SAVE_HOTKEY.search(command) is not None
            if kind not in ("activate_window", "sleep") and not is_save:
                raise Skip(
                    f"unsupported evaluator: postconfig step {kind!r} ({command[:60] or 'no command'})"
                )
        self.notes.append("dropped postconfig (it only saves the file): the agent must save itself")

    def _metric(self, func: str, result: Any, expected: Any, options: Mapping[str, Any]) -> dict[str, Any]:
        if func not in SUPPORTED_FUNCS:
            raise Skip(f"unsupported metric: {func}")
        if not isinstance(result, dict):
            raise Skip(f"malformed: {func} has no result getter")
        rtype = result.get("type")
        if func in ("exact_match", "check_include_exclude"):
            rules = (expected or {}).get("rules") if isinstance(expected, dict) else None
            if (
                not isinstance(expected, dict)
                or expected.get("type") != "rule"
                or not isinstance(rules, dict)
            ):
                raise Skip(f"unsupported evaluator: {func} with expected of type {_type(expected)}")
            if func == "exact_match":
                if "expected" not in rules:
                    raise Skip("malformed: exact_match rules without 'expected'")
                return self._text_check(result, "equals", str(rules["expected"]))
            include = rules.get("include") or []
            exclude = rules.get("exclude") or []
            if not isinstance(include, list) or not isinstance(exclude, list) or not (include or exclude):
                raise Skip("malformed: check_include_exclude needs include/exclude lists")
            checks = [self._text_check(result, "contains", str(s)) for s in include]
            checks += [self._text_check(result, "not_contains", str(s)) for s in exclude]
            return checks[0] if len(checks) == 1 else {"all": checks}
        # file comparisons against an expected file from the cache, looked up once all else is known
        if rtype != "vm_file" or result.get("multi"):
            raise Skip(f"unsupported evaluator: {func} over a {rtype!r} result")
        if not isinstance(expected, dict) or expected.get("type") != "cloud_file" or expected.get("multi"):
            raise Skip(f"unsupported evaluator: {func} with expected of type {_type(expected)}")
        path = _sandbox_path(str(result.get("path", "")))
        if func in ("compare_text_file", "compare_csv"):
            if options:
                raise Skip(f"unsupported evaluator: {func} options {sorted(options)}")
            gold = self._cached_path(str(expected.get("path", "")), str(expected.get("dest", "")))
            if gold is None:
                return {"file_text": {"path": path, "equals": ""}}  # never used: the task is skipped
            try:
                text = gold.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise Skip(f"unsupported evaluator: {func} with a binary expected file") from None
            return {"file_text": {"path": path, "equals": text}}
        checks = self._table(path, options)
        gold = self._cached_path(str(expected.get("path", "")), str(expected.get("dest", "")))
        if gold is not None:
            self.files[_literal(str(gold))] = gold
        for check in checks:
            check["table_equals"]["expected"] = str(gold)
        return checks[0] if len(checks) == 1 else {"all": checks}

    def _text_check(self, result: Mapping[str, Any], op: str, value: str) -> dict[str, Any]:
        rtype = result.get("type")
        if rtype == "vm_command_line":
            argv = _argv(result.get("command"), result.get("shell", False))
            if not argv:
                raise Skip("malformed: vm_command_line without a command")
            return {"command": {"argv": argv, "returncode": None, f"stdout_{op}": value}}
        if rtype == "vm_file" and not result.get("multi"):
            return {"file_text": {"path": _sandbox_path(str(result.get("path", ""))), op: value}}
        raise Skip(f"unsupported getter: {rtype}")

    def _table(self, path: str, options: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Return one ``table_equals`` check per rule (``expected`` filled in by the caller)."""
        rules = options.get("rules") or [{"type": "sheet_data", "sheet_idx0": 0, "sheet_idx1": "EI0"}]
        extra = set(options) - {"rules"}
        if extra:
            raise Skip(f"unsupported evaluator: compare_table options {sorted(extra)}")
        checks = []
        for rule in rules:
            kind = rule.get("type") if isinstance(rule, dict) else None
            if kind not in ("sheet_data", "sheet_print"):
                raise Skip(f"unsupported evaluator: compare_table rule {kind!r}")
            sheet = _sheet_ref(rule.get("sheet_idx0", 0))
            gold_sheet = _sheet_ref(rule.get("sheet_idx1", "EI0"))
            check: dict[str, Any] = {"path": path, "expected": ""}
            if sheet != 0:
                check["sheet"] = sheet
            if gold_sheet != 0:
                check["expected_sheet"] = gold_sheet
            checks.append({"table_equals": check})
        return checks


def _sheet_ref(value: Any) -> int | str:
    """Map OSWorld's sheet references (0, 'RI0', 'EI1', 'RNSheet1', 'ENSheet1') to ours."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    match = re.fullmatch(r"[RE]?I(\d+)", text)
    if match:
        return int(match.group(1))
    match = re.fullmatch(r"[RE]N(.+)", text)
    if match:
        return match.group(1)
    if text.isdigit():
        return int(text)
    raise Skip(f"unsupported evaluator: sheet reference {value!r}")


def _type(value: Any) -> str:
    return repr(value.get("type")) if isinstance(value, dict) else type(value).__name__


def _argv(command: Any, shell: Any) -> list[str]:
    if isinstance(command, list) and all(isinstance(c, str | int) for c in command):
        argv = [str(c) for c in command]
        return ["sh", "-c", " ".join(argv)] if shell and len(argv) > 1 else argv
    if isinstance(command, str) and command.strip():
        if shell:
            return ["sh", "-c", command]
        try:
            return shlex.split(command)
        except ValueError:
            return ["sh", "-c", command]
    return []


def _libreoffice_profile(exe: str, command: list[str]) -> str | None:
    if exe not in ("libreoffice", "soffice"):
        return None
    if any(a == "--calc" for a in command) or any(a.endswith((".xlsx", ".ods", ".csv")) for a in command):
        return "libreoffice-calc"
    return None


def _sandbox_path(path: str) -> str:
    """Check an OSWorld VM path can be written here (HOME is /home/user in both) and return it."""
    if not path:
        raise Skip("malformed: a file step without a path")
    if path.startswith("~/"):
        path = f"{HOME}/{path[2:]}"
    if not (path.startswith(f"{HOME}/") or path.startswith("/tmp/")):
        raise Skip(f"unsupported path: {path} (only files under {HOME} or /tmp exist in a sandbox)")
    return path
