r"""The safety guard: stops dangerous actions and turns them into a question to the person.

Two checks, one guard per episode (stateful: it keeps the command line typed so far):

* **Deny rules**, everywhere. Typed text is matched against regular expressions with a reason
  (:data:`DEFAULT_RULES`: recursive deletes, moves, permission changes and shredding of the home
  folder, of ``/`` or of a system folder; ``find ~ -delete``; script one-liners that ``rmtree``
  the home folder; formatting or overwriting disks; fork bombs; downloaded scripts piped to a
  shell; clobbered dotfiles; ...). The guard keeps the line typed so far (until Enter), so a
  command typed in pieces is caught when the piece that completes it is typed or when Enter
  would run it. Each rule is tried on the line as typed and on a normalised copy (quotes and
  backslashes removed, ``${HOME}`` spelled ``$HOME``, repeated slashes collapsed), so quoting
  does not slip past. A deny list is never complete: inside a sandbox it is a speed bump.
* **Approval on the real screen** (``SafetyGuard(real_screen=True)``; off in a sandbox, which is
  disposable). Every command line submitted in a terminal window (text typed and then Enter,
  while the focused window's title or accessibility tree says terminal) and every answer to a
  dialog that looks like a delete / overwrite / replace confirmation (a click, Enter, Space or
  an Alt mnemonic while the focused window title or an active dialog's accessible text says so)
  is put to the person first, unless an ``[[allow]]`` entry covers it.

Users extend both in a TOML file (``cua run --safety-rules FILE``)::

    [[rule]]                       # one more deny rule; searched in each typed line
    name = "no-sudo"
    pattern = '\bsudo\b'
    reason = "runs a command as root"

    [[allow]]                      # run these without asking, on the real screen
    name = "read-only-git"
    pattern = 'git (status|log|diff)( .*)?'
    reason = "read-only"
    on = "command"                 # the default

    [[allow]]
    name = "replace-in-scratch"
    pattern = 'scratch\.txt'
    on = "dialog"

An ``on = "command"`` pattern must match a whole simple command: the line is split at ``;``,
``&``, ``|``, parentheses, backticks and ``$(``, and every part must match some allow pattern
(so ``git status.*`` does not let ``git status; rm -rf x`` through). A pattern of ``.*``
switches the approval of command lines off. An ``on = "dialog"`` pattern is searched in the
dialog's text (window title, then the dialog's accessible text). Allow entries never override a
deny rule, and a line edited with keys the guard cannot follow (history, completion, paste)
is always asked about.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from cua import actions as act
from cua.errors import UsageError
from sandbox.base import Observation
from sandbox.guest.keys import canonical_key


@dataclass(frozen=True)
class GuardRule:
    """One dangerous pattern, matched against the current command line being typed."""

    name: str
    pattern: str
    reason: str

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise UsageError(f"safety rule {self.name!r}: bad regex {self.pattern!r}: {exc}") from exc


@dataclass(frozen=True)
class AllowRule:
    """What the person lets run on the real screen without being asked (never a deny rule)."""

    name: str
    pattern: str
    reason: str = ""
    on: Literal["command", "dialog"] = "command"
    """``command``: a whole simple command typed into a terminal; ``dialog``: searched in the dialog."""

    def __post_init__(self) -> None:
        if self.on not in ("command", "dialog"):
            raise UsageError(f"allow entry {self.name!r}: 'on' is 'command' or 'dialog', not {self.on!r}")
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise UsageError(f"allow entry {self.name!r}: bad regex {self.pattern!r}: {exc}") from exc

    def covers(self, text: str) -> bool:
        """Return whether this entry lets ``text`` (one simple command, or a dialog's text) through."""
        if self.on == "command":
            return re.fullmatch(self.pattern, text) is not None
        return re.search(self.pattern, text) is not None


# -- building blocks of the default rules (matched against one line, usually normalised) -------
_END = r"(?=$|[\s;&|)}\],])"
"""Where a path argument ends."""
_HOME = r"(?:~[\w.-]*|\$HOME|/home(?:/[^/\s;&|),]+)?|/root|/Users(?:/[^/\s;&|),]+)?)"
_SYSTEM = r"/(?:bin|boot|dev|etc|lib\w*|opt|proc|sbin|srv|sys|usr|var)"
_TOP = rf"(?:/\*?|(?:{_HOME}|{_SYSTEM})(?:/(?:\*|\.\*|\.?\[[^\]\s]*\]\*)?)?){_END}"
"""``/``, the home folder (``~``, ``~user``, ``$HOME``, ``/home/NAME``, ``/root``) or a system folder,
itself, with a trailing slash, or every entry in it (``/*``, ``/.*``); not a path deeper inside."""
_ARGS = r"[^;&|\n]*"
"""The rest of one simple command."""
_CMD = r"(?<![\w.-])"
"""A command name starts here (``/bin/rm`` and ``sudo rm`` count, ``git-rm`` does not)."""
_RECURSIVE = rf"(?={_ARGS}\s(?:-(?!-)\w*[rR]|--recursive\b))"
_HOME_REF = rf"(?:[\s(=,\[{{]{_TOP}|\bHOME\b|expanduser|Path\.home|homedir|Dir\.home)"
_DELETE_CALL = r"\b(?:rmtree|remove_tree|rmSync|rm_rf|rimraf|removedirs|remove|unlink|rmdir)\b"

DEFAULT_RULES: tuple[GuardRule, ...] = (
    GuardRule("rm-recursive-root", rf"{_CMD}rm\b{_RECURSIVE}(?={_ARGS}\s{_TOP})",
              "recursively deletes the root, home or a system folder"),
    GuardRule("rm-no-preserve-root", r"--no-preserve-root", "disables rm's protection of /"),
    GuardRule("rm-glob-in-home",
              rf"\bcd(?:\s+(?:~/?|\$HOME/?|/home/[^/\s;&|]+/?|/))?\s*(?:;|&&)\s*(?:sudo\s+)?rm\b"
              rf"{_RECURSIVE}(?={_ARGS}\s(?:\*|\.\*|\.){_END})",
              "goes to the home or root folder and recursively deletes everything in it"),
    GuardRule("find-delete-home",
              rf"{_CMD}find\b(?={_ARGS}\s{_TOP})(?={_ARGS}\s-(?:delete\b|(?:exec|execdir|ok)\s+"
              r"(?:sudo\s+)?(?:rm|shred|unlink|truncate|chmod|chown|mv|dd)\b))",
              "deletes or rewrites everything found under the root, home or a system folder"),
    GuardRule("xargs-delete-home",
              rf"\s{_TOP}[^|]*\|\s*(?:sudo\s+)?xargs\b[^|;&]*\b(?:rm|shred|unlink|truncate|chmod|chown)\b",
              "feeds the root, home or a system folder to a destructive command"),
    GuardRule("chmod-home-or-root", rf"{_CMD}(?:chmod|chown|chgrp|chattr|setfacl)\b(?={_ARGS}\s{_TOP})",
              "changes permissions or owner of the root, home or a system folder"),
    GuardRule("shred-many", rf"{_CMD}(?:shred|srm|wipe)\b(?={_ARGS}(?:\s{_TOP}|\s/dev/|\*))",
              "irrecoverably overwrites many files, a folder or a device"),
    GuardRule("truncate-many", rf"{_CMD}truncate\b(?={_ARGS}(?:\s{_TOP}|\*))", "empties many files"),
    GuardRule("mv-home-or-root", rf"{_CMD}mv\b(?={_ARGS}\s{_TOP}(?={_ARGS}\s[^\s-]))",
              "moves the root, home or a system folder away"),
    GuardRule("mv-onto-dev-null", rf"{_CMD}mv\b{_ARGS}\s/dev/null{_END}", "moves files onto /dev/null"),
    GuardRule("rsync-delete-home", rf"{_CMD}rsync\b(?={_ARGS}--delete)(?={_ARGS}\s{_TOP})",
              "mirrors over the root, home or a system folder, deleting what is not in the source"),
    GuardRule("script-deletes-home", rf"{_DELETE_CALL}\s*\(\s*(?:{_TOP}|Path\.home\(\)|"
              r"(?:os\.path\.)?expanduser\(\s*~/?\s*\)|os\.environ\[HOME\]|(?:os\.)?getenv\(HOME\)|"
              r"\$ENV\{HOME\}|(?:os\.)?homedir\(\)|process\.env\.HOME|Dir\.home)",
              "deletes the root, home or a system folder from a script"),
    GuardRule("one-liner-deletes-home",
              rf"\b(?:python[\d.]*|perl|ruby|node|php)\b(?=.*{_DELETE_CALL})(?=.*{_HOME_REF})",
              "runs a script one-liner that deletes files in the home folder"),
    GuardRule("clobber-dotfile", r"(?<!>)>(?!>)\|?\s*(?:~|\$HOME|/home/[^/\s;&|]+|/root)/\.[\w.-]",
              "overwrites a configuration file in the home folder"),
    GuardRule("clobber-system-file", r"(?<!>)>(?!>)\|?\s*/(?:etc|boot|usr|bin|sbin|lib\w*)/\S",
              "overwrites a system file"),
    GuardRule("mkfs", r"\bmkfs(\.\w+)?\b", "formats a file system"),
    GuardRule("disk-tools", rf"{_CMD}(?:wipefs|fdisk|sfdisk|cfdisk|parted|sgdisk|gdisk|blkdiscard|mkswap)\b"
              rf"(?!\s+-l\b)(?={_ARGS}\s/dev/)", "rewrites a disk's partitions or signatures"),
    GuardRule("dd-to-device", r"\bdd\b.*\bof=/dev/", "overwrites a block device"),
    GuardRule("fork-bomb", r":\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:", "a fork bomb"),
    GuardRule("power", r"(^|[;&|]\s*|\bsudo\s+)\s*(shutdown|reboot|poweroff|halt)\b",
              "shuts the machine down"),
    GuardRule("kill-everything", r"\bkill\s+(?:-\w+\s+)*-1\s*(?:$|[;&|])", "kills every process of the user"),
    GuardRule("crontab-remove", r"\bcrontab\s+(?:-\w+\s+)*-\w*r", "deletes every scheduled job"),
    GuardRule("pipe-to-shell", r"\b(curl|wget)\b[^|]*\|\s*(sudo\s+)?(ba|z|da)?sh\b",
              "runs a downloaded script"),
    GuardRule("shell-runs-download", r"\b(?:ba|z|da)?sh\s+-c\s+.*\$\(\s*(?:curl|wget)\b",
              "runs a downloaded script"),
    GuardRule("decode-to-shell",
              r"\b(?:base64\s+(?:-\w+\s+)*(?:-d|--decode)|xxd\s+-r)\b[^|]*\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b",
              "runs a hidden (encoded) script"),
    GuardRule("sql-drop", r"(?i)\b(drop\s+(table|database|schema)|truncate\s+table)\b",
              "drops or empties a database object"),
    GuardRule("git-force-push", r"\bgit\s+push\b.*(--force|-f\b)", "rewrites a remote branch"),
    GuardRule("redirect-to-device", r">\s*/dev/(sd|nvme|vd)\w*", "writes over a disk device"),
)  # fmt: skip

TERMINAL_TITLE = re.compile(
    r"(?i)\b(terminal|xterm|uxterm|u?rxvt|konsole|terminator|tilix|alacritty|kitty|wezterm|"
    r"lxterminal|qterminal|sakura|guake|tilda|yakuake|tmux)\b"
    r"|^\s*(sudo\s+)?(ba|z|da|k|tc|c|fi)?sh\b"  # xterm -e bash shows the shell's name
    r"|^[\w.-]+@[\w.-]+:"  # user@host: ~/dir (gnome-terminal, xfce4-terminal)
    r"|^\s*[~/]\S*\s*$"  # a bare working directory
)
"""A focused window title that says terminal (when no accessibility tree says so)."""
CONFIRM_TEXT = re.compile(
    r"(?i)\b(delet\w*|remov\w*|replac\w*|overwrit\w*|confirm\w*|eras\w*|discard\w*|trash|"
    r"permanently|are you sure|already exists)\b"
)
"""Words of a delete / overwrite / replace confirmation, in a title or a dialog's text."""
EDITING_TOOL = re.compile(r"(?i)\b(find|search)\b.{0,7}\breplace\b")
"""Titles with confirmation words that name a tool window, not a confirmation (Find & Replace)."""
_ALLOW_SPLIT = re.compile(r"\$\(|[;&|()`\n]")
_SUBMIT_KEYS = (("ctrl", "j"), ("ctrl", "m"))
_CLEAR_KEYS = (("ctrl", "c"), ("ctrl", "u"), ("escape",))


@dataclass(frozen=True)
class GuardVerdict:
    """Why an action was stopped until the person allows it."""

    rule: str
    reason: str
    text: str
    """The command line that matched (kind ``rule`` or ``command``), or the action (``dialog``)."""
    kind: Literal["rule", "command", "dialog"] = "rule"
    """``rule``: a deny rule matched; ``command`` / ``dialog``: real-screen approval."""
    window: str | None = None
    """The focused window title (``command``) or the dialog's text (``dialog``)."""

    def question(self) -> str:
        """Return the question put to the person instead of running the action."""
        if self.kind == "command":
            return (
                f"The agent wants to run this command line in a terminal on your screen "
                f"({self.window or 'untitled window'}): {self.text!r}. Allow it?"
            )
        if self.kind == "dialog":
            return (
                f"The agent wants to {self.text} in what looks like a delete/overwrite/replace "
                f"confirmation on your screen: {self.window!r}. Allow it?"
            )
        return f"The agent wants to run a command that {self.reason} ({self.rule}): {self.text!r}. Allow it?"


@dataclass(frozen=True)
class _Line:
    """What the guard knows of the command line being typed."""

    text: str = ""
    edited: bool = False
    """Keys the guard cannot follow (history, completion, paste, cursor moves) touched the line."""
    approved: str | None = None
    """The line as the person allowed it (not asked again until it changes)."""


class SafetyGuard:
    """Checks actions against the deny rules and, on the real screen, asks before running commands.

    Stateful per episode (``reset``). ``check`` returns a verdict to put to the person, or None;
    after the person allows a verdict, call ``allowed(verdict)`` so that the guard's idea of the
    command line follows the action that ran.
    """

    def __init__(
        self,
        rules: Iterable[GuardRule] = DEFAULT_RULES,
        *,
        allow: Iterable[AllowRule] = (),
        real_screen: bool = False,
    ) -> None:
        """Use ``rules`` (default: :data:`DEFAULT_RULES`); ``real_screen`` turns the approval on."""
        self.rules = tuple(rules)
        self.allow = tuple(allow)
        self.real_screen = real_screen
        self._state = _Line()
        self._pending: tuple[GuardVerdict, _Line] | None = None

    @classmethod
    def from_file(
        cls, path: str | Path, *, keep_defaults: bool = True, real_screen: bool = False
    ) -> SafetyGuard:
        """Load ``[[rule]]`` and ``[[allow]]`` tables (name, pattern, reason; ``on`` for allow)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"{path}: cannot read safety rules: {exc}") from exc
        rules = list(DEFAULT_RULES) if keep_defaults else []
        for i, item in enumerate(data.get("rule", [])):
            if not isinstance(item, dict) or not all(
                isinstance(item.get(k), str) for k in ("name", "pattern")
            ):
                raise UsageError(
                    f"{path}: rule {i + 1} needs string fields 'name' and 'pattern' (and 'reason')"
                )
            rules.append(GuardRule(item["name"], item["pattern"], str(item.get("reason", "matches a rule"))))
        allow = []
        for i, item in enumerate(data.get("allow", [])):
            if not isinstance(item, dict) or not all(
                isinstance(item.get(k), str) for k in ("name", "pattern")
            ):
                raise UsageError(
                    f"{path}: allow entry {i + 1} needs string fields 'name' and 'pattern' "
                    "(and 'reason', 'on')"
                )
            on = item.get("on", "command")
            if on not in ("command", "dialog"):
                raise UsageError(f"{path}: allow entry {item['name']!r}: 'on' is 'command' or 'dialog'")
            allow.append(AllowRule(item["name"], item["pattern"], str(item.get("reason", "")), on))
        return cls(rules, allow=allow, real_screen=real_screen)

    def reset(self) -> None:
        """Forget the line typed so far (at the start of an episode)."""
        self._state = _Line()
        self._pending = None

    # -- the entry points ---------------------------------------------------------------------
    def check(self, action: act.Action, obs: Observation | None = None) -> GuardVerdict | None:
        """Check ``action`` about to run on the screen ``obs`` shows; None: it may run."""
        terminal = dialog = None
        if self.real_screen and obs is not None:
            if _in_terminal(obs):
                terminal = obs.window_title or "terminal"
            else:
                dialog = _confirmation_text(obs)
        state = self._state
        verdict: GuardVerdict | None = None
        if isinstance(action, act.TypeText):
            verdict, state = self._typed(state, action.text, terminal)
        elif isinstance(action, act.Key | act.Hotkey):
            keys = [action.key] if isinstance(action, act.Key) else list(action.keys)
            verdict, state = self._keys(state, keys, terminal)
        elif isinstance(action, act.Click) and action.button != "left":
            state = replace(state, edited=True)  # a middle click pastes into a terminal
        if (
            verdict is None
            and dialog is not None
            and _answers_dialog(action)
            and not any(rule.covers(dialog) for rule in self.allow if rule.on == "dialog")
        ):
            verdict = GuardVerdict(
                "real-screen-dialog",
                "answers a delete/overwrite/replace confirmation on your screen",
                _describe(action),
                "dialog",
                dialog,
            )
        return self._settle(verdict, state)

    def wants_a11y(self, action: act.Action) -> bool:
        """Return whether ``check`` would judge ``action`` better with the accessibility tree."""
        return self.real_screen and _answers_dialog(action)

    def allowed(self, verdict: GuardVerdict) -> None:
        """Note that the person allowed ``verdict``: the action runs, so the command line follows it."""
        if self._pending is not None and self._pending[0] is verdict:
            self._state = self._pending[1]
        self._pending = None

    def check_text(self, text: str) -> GuardVerdict | None:
        """Check typing ``text`` against the deny rules; on success it is added to the current line."""
        return self._settle(*self._typed(self._state, text, None))

    def check_keys(self, keys: Iterable[str]) -> GuardVerdict | None:
        """Check pressing ``keys``; Enter runs the current line, so it is checked again."""
        return self._settle(*self._keys(self._state, list(keys), None))

    # -- the line -------------------------------------------------------------------------------
    def _settle(self, verdict: GuardVerdict | None, state: _Line) -> GuardVerdict | None:
        if verdict is None:
            self._state, self._pending = state, None
        else:
            self._pending = (verdict, state)
        return verdict

    def _match(self, line: str) -> GuardVerdict | None:
        plain = _normalise(line)
        for rule in self.rules:
            if re.search(rule.pattern, line) or re.search(rule.pattern, plain):
                return GuardVerdict(rule.name, rule.reason, line.strip())
        return None

    def _typed(self, state: _Line, text: str, terminal: str | None) -> tuple[GuardVerdict | None, _Line]:
        lines = (state.text + text).split("\n")
        submitted, rest = lines[:-1], lines[-1]
        after = _Line(rest, state.edited and not submitted)
        for i, line in enumerate(lines):
            if i == 0 and line == state.approved:
                continue
            verdict = self._match(line)
            if verdict is not None:
                shown = "\n".join(lines).strip() if submitted else verdict.text
                return replace(verdict, text=shown), replace(after, approved=rest)
        if terminal is not None:
            edited = bool(submitted) and state.edited and submitted[0] != state.approved
            ask = [
                line
                for i, line in enumerate(submitted)
                if (i == 0 and edited)
                or (
                    line.strip()
                    and not (i == 0 and line == state.approved)
                    and not self._allows_command(line)
                )
            ]
            if ask:
                return self._command_verdict("\n".join(ask), edited, terminal), after
        return None, after

    def _keys(self, state: _Line, keys: list[str], terminal: str | None) -> tuple[GuardVerdict | None, _Line]:
        combo = tuple(canonical_key(k) or k.lower() for k in keys)
        if combo and (combo[-1] == "enter" or combo in _SUBMIT_KEYS):
            line = state.text
            if line == state.approved:
                return None, _Line()
            verdict = self._match(line)
            if (
                verdict is None
                and terminal is not None
                and (state.edited or (line.strip() and not self._allows_command(line)))
            ):
                verdict = self._command_verdict(line, state.edited, terminal)
            return verdict, _Line()
        if combo in _CLEAR_KEYS:
            return None, _Line()
        if combo in (("shift",), ("ctrl",), ("alt",), ("super",)):
            return None, state
        return None, replace(state, edited=True, approved=None)

    def _command_verdict(self, line: str, edited: bool, terminal: str) -> GuardVerdict:
        if edited:
            line = f"{line.strip()} (edited with keys the guard cannot follow: check the screen)"
        return GuardVerdict(
            "real-screen-command", "runs a command line in a terminal on your screen", line.strip(),
            "command", terminal,
        )  # fmt: skip

    def _allows_command(self, line: str) -> bool:
        rules = [rule for rule in self.allow if rule.on == "command"]
        parts = [part.strip() for part in _ALLOW_SPLIT.split(line) if part.strip()]
        return bool(rules and parts) and all(any(rule.covers(part) for rule in rules) for part in parts)


def _normalise(line: str) -> str:
    """Spell a command line plainly: no quotes or backslashes, ``$HOME`` for ``${HOME}``, single slashes."""
    plain = re.sub(r"""["'\\]""", "", line).replace("${HOME}", "$HOME")
    return re.sub(r"/{2,}", "/", plain)


def _in_terminal(obs: Observation) -> bool:
    if obs.a11y and any(n.role == "terminal" and "focused" in n.states for n in obs.a11y):
        return True
    return bool(obs.window_title and TERMINAL_TITLE.search(obs.window_title))


def _confirmation_text(obs: Observation) -> str | None:
    """Return the text that makes the focused window look like a destructive confirmation, or None."""
    title = obs.window_title or ""
    if CONFIRM_TEXT.search(title) and not EDITING_TOOL.search(title):
        return title
    nodes = obs.a11y or ()
    for i, node in enumerate(nodes):
        if node.role not in ("dialog", "alert") or not ("active" in node.states or node.name == title):
            continue
        words = [node.name, node.text]
        for inner in nodes[i + 1 :]:
            if inner.depth <= node.depth:
                break
            words += [inner.name, inner.text]
        text = " ".join(w for w in words if w).strip()
        if CONFIRM_TEXT.search(text) and not EDITING_TOOL.search(text):
            return text if len(text) <= 200 else text[:197] + "..."
    return None


def _answers_dialog(action: act.Action) -> bool:
    """Return whether ``action`` could answer a dialog (or submit a command line)."""
    if isinstance(action, act.Click):
        return True
    if isinstance(action, act.TypeText):
        return "\n" in action.text
    if isinstance(action, act.Key):
        return action.key in ("enter", "space")
    if isinstance(action, act.Hotkey):
        return (
            action.keys[-1] in ("enter", "space") or "alt" in action.keys[:-1] or action.keys in _SUBMIT_KEYS
        )
    return False


def _describe(action: act.Action) -> str:
    if isinstance(action, act.Click):
        return f"click at ({action.x}, {action.y})"
    if isinstance(action, act.TypeText):
        return f"type {action.text!r}"
    if isinstance(action, act.Key):
        return f"press {action.key}"
    if isinstance(action, act.Hotkey):
        return f"press {'+'.join(action.keys)}"
    return action.type
