"""Application profiles: what to launch in a sandbox and how to know it is ready.

A profile is a TOML file a user can add (see ``docs/profiles.md``). Profiles are looked up by name
in, in order: the folders of ``$CUA_PROFILE_PATH`` (colon separated), ``$XDG_CONFIG_HOME/cua/profiles``
(``~/.config/cua/profiles``), and the built-in ``sandbox/profiles`` folder. Setup steps are
sandbox-level types too, so a sandbox never needs to know about tasks.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from sandbox.errors import GuestError, ProfileError

BUILTIN_DIR = Path(__file__).parent / "profiles"
NetworkPolicy = Literal["none", "loopback", "full"]
NETWORK_POLICIES: tuple[str, ...] = ("none", "loopback", "full")


@dataclass(frozen=True)
class ReadyCheck:
    """When the application counts as started: a mapped window whose class or title matches."""

    wm_class: str | None = None
    """Regex searched in the window's WM_CLASS (instance and class, space separated)."""
    title: str | None = None
    """Regex searched in the window's title (_NET_WM_NAME)."""
    timeout_s: float = 20.0
    """How long to wait for the window before raising AppNotReady."""
    paint: bool = False
    """Also wait until the window shows more than one colour (apps that map a blank window first)."""


@dataclass(frozen=True)
class SettleWindows:
    """How long a step waits for this application's screen to settle (see docs/profiles.md).

    With the X DAMAGE extension the guest ends a step ``quiet_ms`` after the last drawing, or
    ``idle_ms`` after the action if nothing was drawn at all; ``step(settle_s=...)`` bounds both.
    Applications that repaint late (a spreadsheet recalculating) need longer windows. Sooner
    than either, a step ends once the sandbox is calm: nothing drawn, no thread running, and no
    timer due within ``timer_ms`` (a button's release animation, a debounced search).
    """

    quiet_ms: float = 60.0
    """Quiet time after the last damage that ends the wait once something was drawn."""
    idle_ms: float = 100.0
    """Time after the action that ends the wait when nothing was drawn at all."""
    timer_ms: float = 250.0
    """A timer of the application due this soon keeps the wait going past a calm moment."""


@dataclass(frozen=True)
class AppProfile:
    """Everything a sandbox needs to start one application, loaded from a TOML file."""

    name: str
    """Short identifier used on the command line and in task files."""
    command: tuple[str, ...]
    """argv of the application; a task may append arguments."""
    description: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for the application."""
    home_template: Path | None = None
    """Folder copied into the sandbox's private HOME on every reset (None: empty HOME)."""
    ready: ReadyCheck = field(default_factory=ReadyCheck)
    accessibility: bool = True
    """Start the AT-SPI bridge for this application."""
    accessibility_env: Mapping[str, str] = field(default_factory=dict)
    """Environment that switches on this toolkit's accessibility (GTK2 modules, LibreOffice plugin)."""
    expect_a11y_tree: bool = True
    """Whether the application is known to expose a non-empty accessibility tree."""
    network: NetworkPolicy = "none"
    """'none' and 'loopback': a private network namespace (own loopback only); 'full': host network."""
    locale: str = "C.UTF-8"
    screen: tuple[int, int] = (1280, 800)
    source: Path | None = None
    """The file this profile was loaded from."""
    volatile: tuple[str, ...] = ()
    """HOME-relative glob patterns of what the application itself changes as it runs (caches,
    settings it saves on exit, recent-files lists, lock files): the task validators' side-effect
    guard neither reads nor judges them. ``dir/**`` covers a folder and everything under it."""
    chromium_policies: Mapping[str, Any] = field(default_factory=dict)
    """Chromium enterprise policies (name to JSON value) in force while this profile runs: the
    sandbox shows them as the only file in ``/etc/chromium/policies/managed``, which Chromium
    obeys and the sandbox cannot change (e.g. ``URLBlocklist``, ``DeveloperToolsAvailability``)."""
    settle: SettleWindows = field(default_factory=SettleWindows)
    """The ``[settle]`` table: how long a step waits for the screen to settle."""

    def launch_env(self) -> dict[str, str]:
        """Return the environment the application is started with (profile env over a11y env)."""
        env = dict(self.accessibility_env) if self.accessibility else {"NO_AT_BRIDGE": "1"}
        env.update(self.env)
        return env


# -- setup steps: the one vocabulary of what is done to a fresh sandbox ----------------------
# Task files (``cua.tasks.spec``) parse into these same types, and every backend's ``reset`` and
# the task runner (steps after the launch) execute them through ``apply``/``run_setup``.
class _CommandResult(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def returncode(self) -> int: ...
    @property
    def stderr(self) -> bytes: ...


class SetupTarget(Protocol):
    """What setup steps need of a sandbox (every ``sandbox.base.Sandbox`` is one)."""

    def write_file(self, path: str, content: bytes, mode: int = 0o644) -> None:
        """Write a file inside the sandbox."""

    def exec(self, argv: Sequence[str], *, timeout_s: float = 30.0) -> _CommandResult:
        """Run a command inside the sandbox."""


@dataclass(frozen=True)
class WriteFile:
    """Write ``content`` to ``path`` inside the sandbox (relative paths are under HOME)."""

    path: str
    content: bytes
    mode: int = 0o644

    def apply(self, sandbox: SetupTarget, where: str = "") -> None:
        """Write the file into ``sandbox`` (``where`` prefixes error messages, as for every step)."""
        sandbox.write_file(self.path, self.content, self.mode)


@dataclass(frozen=True)
class RunCommand:
    """Run ``argv`` inside the sandbox; a failing command fails the setup (GuestError)."""

    argv: tuple[str, ...]
    timeout_s: float = 30.0

    def apply(self, sandbox: SetupTarget, where: str = "") -> None:
        """Run the command in ``sandbox``; GuestError (``where`` first) with stderr's tail if it fails."""
        result = sandbox.exec(list(self.argv), timeout_s=self.timeout_s)
        if not result.ok:
            raise GuestError(
                f"{where}setup command {list(self.argv)} exited with {result.returncode}: "
                f"{result.stderr.decode(errors='replace')[-300:]}"
            )


SetupStep = WriteFile | RunCommand

_KNOWN = {
    "name", "description", "command", "env", "home_template", "ready", "accessibility",
    "network", "locale", "screen", "volatile", "chromium_policies", "settle",
}  # fmt: skip


def load_profile(path: str | Path) -> AppProfile:
    """Load and validate one profile file; raise ProfileError naming the file and the field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ProfileError(f"{path}: profile file not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from exc
    return parse_profile(data, source=path)


def parse_profile(data: Mapping[str, Any], source: Path | None = None) -> AppProfile:
    """Validate a profile already parsed from TOML (or built in code)."""
    where = str(source) if source else "<profile>"

    def fail(fieldname: str, expected: str) -> ProfileError:
        return ProfileError(f"{where}: field '{fieldname}': expected {expected}, got {data.get(fieldname)!r}")

    unknown = set(data) - _KNOWN
    if unknown:
        raise ProfileError(f"{where}: unknown fields {sorted(unknown)}; allowed: {sorted(_KNOWN)}")
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", name):
        raise fail("name", "a lower-case identifier like 'mousepad'")
    command = data.get("command")
    if isinstance(command, str):
        command = [command]
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise fail("command", "a non-empty list of strings")
    env = _str_map(data.get("env", {}), f"{where}: field 'env'")
    template = data.get("home_template")
    home_template: Path | None = None
    if template is not None:
        if not isinstance(template, str):
            raise fail("home_template", "a folder path (relative to the profile file)")
        home_template = (source.parent if source else Path.cwd()) / template
        if not home_template.is_dir():
            raise ProfileError(f"{where}: field 'home_template': folder {home_template} does not exist")
    ready = _parse_ready(data.get("ready", {}), where)
    a11y = data.get("accessibility", {})
    if not isinstance(a11y, dict):
        raise fail("accessibility", "a table with 'enabled', 'expect_tree' and 'env'")
    bad = set(a11y) - {"enabled", "expect_tree", "env"}
    if bad:
        raise ProfileError(f"{where}: field 'accessibility': unknown keys {sorted(bad)}")
    enabled, expect = a11y.get("enabled", True), a11y.get("expect_tree", True)
    if not isinstance(enabled, bool) or not isinstance(expect, bool):
        raise ProfileError(f"{where}: field 'accessibility': 'enabled' and 'expect_tree' are true/false")
    a11y_env = _str_map(a11y.get("env", {}), f"{where}: field 'accessibility.env'")
    network = data.get("network", "none")
    if network not in NETWORK_POLICIES:
        raise fail("network", f"one of {NETWORK_POLICIES}")
    locale = data.get("locale", "C.UTF-8")
    if not isinstance(locale, str):
        raise fail("locale", "a locale name like 'C.UTF-8'")
    screen = data.get("screen", [1280, 800])
    if (
        not isinstance(screen, list)
        or len(screen) != 2
        or not all(isinstance(v, int) and 320 <= v <= 7680 for v in screen)
    ):
        raise fail("screen", "[width, height] in pixels, each between 320 and 7680")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "a string")
    volatile = data.get("volatile", [])
    if not isinstance(volatile, list) or not all(isinstance(v, str) and v.strip() for v in volatile):
        raise fail("volatile", "a list of HOME-relative glob patterns such as '.cache/**'")
    policies = data.get("chromium_policies", {})
    if not isinstance(policies, dict) or not _is_json(policies):
        raise fail("chromium_policies", "a table of Chromium policy names to JSON values (no dates)")
    return AppProfile(
        name=name,
        command=tuple(command),
        description=description,
        env=env,
        home_template=home_template,
        ready=ready,
        accessibility=enabled,
        accessibility_env=a11y_env,
        expect_a11y_tree=expect and enabled,
        network=network,
        locale=locale,
        screen=(screen[0], screen[1]),
        source=source,
        volatile=tuple(volatile),
        chromium_policies=policies,
        settle=_parse_settle(data.get("settle", {}), where),
    )


def _str_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ProfileError(f"{where}: expected a table of string values, got {value!r}")
    return dict(value)


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):  # TOML dates and times have no JSON form
        return False
    return True


def _parse_settle(value: Any, where: str) -> SettleWindows:
    keys = ("quiet_ms", "idle_ms", "timer_ms")
    if not isinstance(value, dict) or set(value) - set(keys):
        raise ProfileError(f"{where}: field 'settle': expected a table with {', '.join(keys)}")
    defaults = SettleWindows()
    out = {}
    for key in keys:
        v = value.get(key, getattr(defaults, key))
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 10000:
            raise ProfileError(f"{where}: field 'settle.{key}': expected milliseconds between 0 and 10000")
        out[key] = float(v)
    return SettleWindows(**out)


def _parse_ready(value: Any, where: str) -> ReadyCheck:
    if not isinstance(value, dict) or set(value) - {"wm_class", "title", "timeout_s", "paint"}:
        raise ProfileError(f"{where}: field 'ready': expected a table with wm_class, title, timeout_s, paint")
    if not isinstance(value.get("paint", False), bool):
        raise ProfileError(f"{where}: field 'ready.paint': expected true or false")
    for key in ("wm_class", "title"):
        pattern = value.get(key)
        if pattern is not None:
            if not isinstance(pattern, str):
                raise ProfileError(f"{where}: field 'ready.{key}': expected a regex string")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ProfileError(f"{where}: field 'ready.{key}': bad regex {pattern!r}: {exc}") from exc
    timeout = value.get("timeout_s", 20.0)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ProfileError(f"{where}: field 'ready.timeout_s': expected a positive number of seconds")
    if value.get("wm_class") is None and value.get("title") is None:
        raise ProfileError(f"{where}: field 'ready': give wm_class or title so readiness can be checked")
    return ReadyCheck(value.get("wm_class"), value.get("title"), float(timeout), value.get("paint", False))


def profile_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Return the folders searched for profiles, highest priority first."""
    environ = os.environ if environ is None else environ
    dirs = [Path(p) for p in environ.get("CUA_PROFILE_PATH", "").split(os.pathsep) if p]
    config = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")).expanduser() / ".config")
    dirs.append(Path(config) / "cua" / "profiles")
    dirs.append(BUILTIN_DIR)
    return dirs


def list_profiles(environ: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Return every profile name found, mapped to the file that wins for it."""
    found: dict[str, Path] = {}
    for folder in reversed(profile_dirs(environ)):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found[path.stem] = path
    return dict(sorted(found.items()))


def find_profile(name: str | Path | AppProfile, environ: Mapping[str, str] | None = None) -> AppProfile:
    """Resolve a profile given by name, by file path, or already loaded."""
    if isinstance(name, AppProfile):
        return name
    if isinstance(name, Path) or str(name).endswith(".toml"):
        return load_profile(name)
    profiles = list_profiles(environ)
    if name not in profiles:
        raise ProfileError(
            f"unknown application profile {name!r}; known: {', '.join(profiles) or 'none'} "
            f"(add a TOML file to one of: {', '.join(str(d) for d in profile_dirs(environ))})"
        )
    return load_profile(profiles[name])


def as_setup(steps: Sequence[SetupStep]) -> tuple[SetupStep, ...]:
    """Check that every item is a setup step; raise ProfileError otherwise."""
    for step in steps:
        if not isinstance(step, WriteFile | RunCommand):
            raise ProfileError(f"not a setup step: {step!r}; use WriteFile or RunCommand")
    return tuple(steps)


def run_setup(sandbox: SetupTarget, steps: Sequence[SetupStep], where: str = "") -> None:
    """Apply ``steps`` to ``sandbox`` in order (checked first: ProfileError for a non-step).

    ``where`` starts every error message (e.g. ``"task mousepad.save/0: "``).
    """
    for step in as_setup(steps):
        step.apply(sandbox, where)
