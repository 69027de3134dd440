"""A walk for applications without an accessibility tree: shell commands typed into a terminal.

A terminal (xterm) shows its content only as pixels, so the tree walk of ``cua.synth.walk`` has
nothing to act on. Here the moves are commands typed at the shell prompt, and everything the
walk knows comes from the sandbox itself:

- **Which commands.** ``compgen -c`` (bash's own list of what it can run), intersected with the
  programs of GNU coreutils as the coreutils manual installed in the sandbox lists them (its
  ``* NAME invocation::`` menu in ``/usr/share/info/coreutils.info.gz``; the man pages' ``.TH``
  line naming GNU coreutils when the manual is absent).
- **Which arguments.** Each command's ``--help``: its ``Usage:`` and ``or:`` lines are parsed
  into forms (``cp [OPTION]... [-T] SOURCE DEST``: two slots, ``SOURCE`` and ``DEST``; options
  are never used). Which *kind* of value each slot takes (a new name, an existing file, an
  existing folder) is not written down per command: every binding of the slots is tried once
  in a scratch folder under the sandbox's ``/tmp`` (``probe``), twice, with stdin held open. A
  form is kept when a binding exits 0 within a second, reproduces itself, and either changes
  the scratch folder (only plain files and folders) or prints something; commands that wait on
  stdin, loop, or give a different result each time are dropped by that trial.
- **Printed output into files.** A form that only prints is typed with bash's own ``>`` (a new
  file) or ``>>`` (append to an existing one): the one piece of shell grammar the walk knows
  without reading it from a help text.
- **Which names.** Before a move that needs existing names, the walk clears the screen
  (``ctrl+l``), types ``ls -p`` and reads the listing with OCR (``sandbox.ocr``; a trailing ``/``
  marks a folder). Only when OCR reads no name does it fall back to HOME's listing, and the
  walk counts that. New names come from the word list (``cua.synth.words``).

Each move is recorded as oracle steps (``type`` the command, ``key Return`` with an ``until`` on
what the command did to the files: a path that appeared, disappeared or changed), so it replays
through ``cua.tasks.oracle.OracleRunner`` like a tree walk. The look at the listing is not a
move: it changes nothing a validator reads, and no demonstration carries it. The states around
each move are ``cua.synth.state`` snapshots (HOME with content hashes; the window title), so
``cua.synth.derive`` and ``cua.synth.admit`` treat a shell walk like any other.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shlex
import threading
import time
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cua.synth.admit import RandomMove
from cua.synth.state import Snapshot, snapshot
from cua.synth.walk import Move, Novelty, Walk
from cua.synth.words import file_stem, words
from cua.tasks.errors import OracleFailed, Where
from cua.tasks.oracle import OracleRunner, parse_steps
from cua.tasks.params import HOME
from cua.tasks.validators.home import HomeListing, diff
from sandbox.actions import Key, TypeText
from sandbox.base import Sandbox, TextBox
from sandbox.errors import SandboxError
from sandbox.ocr import ocr_available
from sandbox.profile import AppProfile

#: Kinds of value a slot takes: a name nothing has yet, an existing file, an existing folder.
NEW, FILE, DIR = "new", "file", "dir"
KINDS = (NEW, FILE, DIR)
#: Effects of a form, as the probe saw them: it changes files, prints one line, prints more.
CHANGES, PRINTS, PRINTS_LINES = "changes", "prints", "prints lines"
#: The longest printed line the walk writes into a file (an instruction quotes a file's text).
MAX_LINE = 80
#: Forms with more slots than this are not probed (3 kinds each: 9 bindings at two slots).
MAX_SLOTS = 2
#: How long a replayed command's ``until`` waits for its effect on the files (a coreutils command
#: on a small file takes milliseconds; a demonstration with a move left out may never get there).
UNTIL_S = 5.0
#: How long admission gives a replayed demonstration's failing outcome to change still: each
#: command already waited for its effect (its ``until``), so only a stray late write is left.
STABLE_S = 0.5
#: Shells that have ``compgen`` (bash's builtin): a profile running one can be walked by commands.
SHELLS = frozenset({"bash"})
#: What the trial binds to each kind, inside the scratch folder.
PROBE_VALUES = {NEW: "fresh", FILE: "old.txt", DIR: "box"}
#: Seconds a trial may run; longer means it waits on stdin or loops.
PROBE_TIMEOUT_S = 1
#: Probes run side by side (the trials are independent; a sandbox has a few cores).
PROBE_WORKERS = 3

_COREUTILS = r"""
info=/usr/share/info/coreutils.info.gz
if [ -r "$info" ]; then
  echo "source: $info"
  zcat "$info" | sed -n 's/^\* \([a-z0-9[]*\) invocation::.*/\1/p' | sort -u
else
  echo "source: /usr/share/man/man1 (.TH GNU coreutils)"
  for c in $(compgen -c | sort -u); do
    m=/usr/share/man/man1/$c.1.gz
    [ -r "$m" ] && zcat "$m" | grep -m1 '^\.TH' | grep -q 'GNU coreutils' && echo "$c"
  done
fi
"""

_HELP = r"""
for c in "$@"; do
  p=$(type -P "$c") || continue
  echo "@@@ $c"
  LC_ALL=C timeout 2 "$p" --help </dev/null 2>&1 | head -12
done
"""

# Runs each trial twice in a fresh scratch folder (a text file old.txt, an empty folder box)
# with stdin held open by a fifo, and prints per trial: id, run, exit status, a digest of the
# output, a digest of the folder afterwards, how many entries are neither file nor folder, the
# output's length and its line breaks. The two runs differ only in the entries' dates.
_PROBE = r"""
set -u
root=$1; rm -rf "$root"; mkdir -p "$root/template/box"; mkfifo "$root/stdin"
# old.txt: short lines and a long one, so a command that reflows or wraps text prints several
# lines here as it would on the files of a seed state.
printf 'alpha beta\ngamma\n%s\n' "$(seq -s ' ' 1000 1030)" > "$root/template/old.txt"
sleep 600 > "$root/stdin" & holder=$!
exec 3< "$root/stdin"
listing() {
  (find . -mindepth 1 -printf '%y %p\n' | sort; find . -type f -exec sha256sum {} + | sort) |
    sha256sum | cut -c1-16
}
cd "$root/template"; echo "base $(listing)"
while IFS= read -r line; do
  id=${line%% *}; cmd=${line#* }
  for run in 1 2; do
    cd "$root"; rm -rf w; cp -a template w; cd w
    # The second run's entries carry another date: output that shows times differs, and drops.
    [ $run -eq 2 ] && touch -d @1000000000 old.txt box
    out=$(timeout TIMEOUT bash --norc -c "$cmd" <&3 2>/dev/null); rc=$?
    if [ $rc -ne 0 ]; then echo "$id $run $rc - - - - -"; break; fi
    odd=$(find . -mindepth 1 ! -type f ! -type d | wc -l)
    breaks=${out//[!$'\n']/}
    echo "$id $run $rc $(printf %s "$out" | sha256sum | cut -c1-16) $(listing) $odd ${#out} ${#breaks}"
  done
done
kill $holder 2>/dev/null; exec 3<&-; cd /; rm -rf "$root"
""".replace("TIMEOUT", str(PROBE_TIMEOUT_S))


# Deals the trials (stdin) round-robin to PROBE_WORKERS probes, each in its own scratch root.
_PARALLEL = r"""
probe=$1; n=$2; dir=$(mktemp -d /tmp/cua-probe.XXXXXX); cat > "$dir/all"
for i in $(seq 0 $((n - 1))); do
  awk -v n="$n" -v i="$i" 'NR % n == i' "$dir/all" > "$dir/in$i"
  bash --norc -c "$probe" cua-probe "$dir/root$i" < "$dir/in$i" > "$dir/out$i" &
done
wait; cat "$dir"/out*; rm -rf "$dir"
"""


@dataclass(frozen=True)
class UsageForm:
    """One way to call a command, from a ``Usage:``/``or:`` line: literal words and slots.

    ``words`` holds the command, literal flags (``-t``) and slot names (``SOURCE``); ``slots``
    the indexes of the slots in ``words``.
    """

    command: str
    words: tuple[str, ...]
    slots: tuple[int, ...]
    line: str
    """The usage line it was read from."""

    @property
    def slot_names(self) -> tuple[str, ...]:
        """Return the slots' names as the help text writes them."""
        return tuple(self.words[i] for i in self.slots)

    def render(self, values: Sequence[str]) -> str:
        """Return the command line with ``values`` in the slots (quoted for the shell)."""
        out = list(self.words)
        for i, value in zip(self.slots, values, strict=True):
            out[i] = shlex.quote(value)
        return " ".join(out)

    @property
    def key(self) -> str:
        """Return the form as written, slots included: ``cp SOURCE DEST``."""
        return " ".join(self.words)


@dataclass(frozen=True)
class Form:
    """A usage form with what the probe found: the bindings that work and what they do."""

    usage: UsageForm
    bindings: tuple[tuple[tuple[str, ...], str], ...]
    """(slot kinds, effect) of every binding that worked, effect CHANGES or PRINTS."""


@dataclass(frozen=True)
class Vocabulary:
    """What a walk may type: the commands the sandbox's shell lists that coreutils provides."""

    commands: tuple[str, ...]
    """``compgen -c`` ∩ coreutils, sorted."""
    forms: tuple[Form, ...]
    """The usable forms (at least one working binding)."""
    source: str
    """Where the coreutils list came from (the manual, or the man pages)."""
    tried: int = 0
    """Usage forms probed (the rest had a required option, or too many slots)."""

    def moves(self) -> list[tuple[Form, tuple[str, ...], str]]:
        """Return every (form, binding kinds, effect) a walk may draw from.

        Output of several lines is left out: written into a file, no instruction could quote it
        (a copy is made with ``cp``, which is in the vocabulary anyway).
        """
        return [(f, k, effect) for f in self.forms for k, effect in f.bindings if effect != PRINTS_LINES]


# -- the vocabulary, from the sandbox ---------------------------------------------------------
def _sh(sandbox: Sandbox, script: str, *args: str, timeout_s: float = 60) -> str:
    result = sandbox.exec(["bash", "--norc", "-c", script, "cua-shell", *args], timeout_s=timeout_s)
    if not result.ok:
        raise SandboxError(f"shell vocabulary: bash exited {result.returncode}: {result.stderr[-500:]!r}")
    return result.stdout.decode("utf-8", "replace")


def listed_commands(sandbox: Sandbox, path: str | None = None) -> tuple[set[str], set[str], str]:
    """Return (what ``compgen -c`` lists, the coreutils programs, where that list came from).

    ``path``: the directories the shell searches, when not the sandbox's own ``PATH``.
    """
    listing = "compgen -c" if path is None else 'PATH="$1" compgen -c'
    shell = set(_sh(sandbox, listing, *([path] if path is not None else [])).split())
    out = _sh(sandbox, _COREUTILS).splitlines()
    source = out[0].removeprefix("source: ") if out else ""
    return shell, {line.strip() for line in out[1:] if line.strip()}, source


def help_texts(sandbox: Sandbox, commands: Sequence[str]) -> dict[str, str]:
    """Return the first lines of ``COMMAND --help`` for each command, run inside the sandbox."""
    texts: dict[str, str] = {}
    current: str | None = None
    for line in _sh(sandbox, _HELP, *commands, timeout_s=120).splitlines():
        if line.startswith("@@@ "):
            current = line[4:]
            texts[current] = ""
        elif current is not None:
            texts[current] += line + "\n"
    return texts


_OPTION_WORD = re.compile(r"^((SHORT|LONG)-)?OPTIONS?(\.\.\.)?$|^-")


def parse_usage(command: str, text: str) -> list[UsageForm]:
    """Return the forms of ``command``'s ``Usage:``/``or:`` lines in a ``--help`` text.

    ``[OPTION]...`` and bracketed flags are left out (a walk uses no options); a required
    ``OPTION...`` makes the form unusable; a required literal flag (``-t``) stays as a word. The
    slots are the required names, or, where there is none, the first optional name (``cat
    [FILE]...``: without it the command would read the keyboard). ``SOURCE...`` is one slot.
    """
    forms: list[UsageForm] = []
    for raw in text.splitlines():
        m = re.match(r"^\s*(?:usage:|or:)\s*(\S+)\s*(.*)$", raw, re.IGNORECASE)
        if m is None:
            continue
        items = _bracketed(re.findall(r"\[|\]|[^\s\[\]]+", m.group(2)))
        if items is None:
            continue
        words_: list[str] = [command]
        slots: list[int] = []
        optional: str | None = None
        usable = True
        for item in items:
            if isinstance(item, list):
                first = _first_word(item)
                if first is not None and not _OPTION_WORD.match(first) and optional is None:
                    optional = first
                continue
            if _OPTION_WORD.match(item) and not re.match(r"^-\w$", item):
                usable = False  # a required option the walk does not know how to give
                break
            if item.startswith("-"):
                words_.append(item)
            elif item != "...":
                slots.append(len(words_))
                words_.append(_slot_name(item))
        if not usable:
            continue
        if not slots and optional is not None:
            slots.append(len(words_))
            words_.append(_slot_name(optional))
        if not slots:
            continue  # nothing to name: the screen has no say in it
        form = UsageForm(command, tuple(words_), tuple(slots), raw.strip())
        if form.key not in {f.key for f in forms}:
            forms.append(form)
    return forms


def _slot_name(word: str) -> str:
    return re.sub(r"\.\.\.$|[<>]", "", word)


def _first_word(group: list[Any]) -> str | None:
    for item in group:
        if isinstance(item, list):
            return _first_word(item)
        return str(item)
    return None


def _bracketed(tokens: list[str]) -> list[Any] | None:
    """Nest ``[ ... ]`` groups; None when the brackets do not match."""
    stack: list[list[Any]] = [[]]
    for tok in tokens:
        if tok == "[":
            stack.append([])
        elif tok == "]":
            if len(stack) == 1:
                return None
            group = stack.pop()
            stack[-1].append(group)
        elif tok.startswith("...") and stack[-1]:
            continue  # a repeat mark after a group or a name: one value is enough
        else:
            stack[-1].append(tok)
    return stack[0] if len(stack) == 1 else None


def probe(sandbox: Sandbox, usages: Sequence[UsageForm]) -> list[Form]:
    """Try every binding of every form's slots in a scratch folder; return the forms that work."""
    trials: list[tuple[UsageForm, tuple[str, ...]]] = []
    for usage in usages:
        if len(usage.slots) > MAX_SLOTS:
            continue
        for kinds in _product(KINDS, len(usage.slots)):
            trials.append((usage, kinds))
    lines = "".join(
        f"{i} {usage.render([PROBE_VALUES[k] for k in kinds])}\n" for i, (usage, kinds) in enumerate(trials)
    )
    result = sandbox.exec(
        ["bash", "--norc", "-c", _PARALLEL, "cua-probe", _PROBE, str(PROBE_WORKERS)],
        timeout_s=60 + 3 * len(trials),
        stdin=lines.encode(),
    )
    runs: dict[int, list[list[str]]] = {}
    base = ""
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if parts[:1] == ["base"] and len(parts) == 2:
            base = parts[1]
        elif len(parts) == 8 and parts[0].isdigit():
            runs.setdefault(int(parts[0]), []).append(parts[2:])
    found: dict[UsageForm, list[tuple[tuple[str, ...], str]]] = {}
    for i, (usage, kinds) in enumerate(trials):
        effect = _effect(runs.get(i, []), base)
        if effect is not None:
            found.setdefault(usage, []).append((kinds, effect))
    forms: dict[tuple[Any, ...], Form] = {}
    for usage, bound in found.items():
        # `cp SOURCE DEST` and `cp SOURCE DIRECTORY` type the same lines: one form is enough.
        shape = (usage.command, *(w if i not in usage.slots else "" for i, w in enumerate(usage.words)))
        forms.setdefault((shape, tuple(bound)), Form(usage, tuple(bound)))
    return list(forms.values())


def _effect(runs: list[list[str]], base: str) -> str | None:
    """Return what a trial did (CHANGES, PRINTS), or None: it failed, varied or made odd files."""
    if len(runs) != 2 or any(r[0] != "0" for r in runs) or runs[0] != runs[1]:
        return None
    _rc, _out, listing, odd, size, breaks = runs[0]
    if odd != "0":
        return None
    if listing != base:
        return CHANGES
    if size == "0":
        return None
    return PRINTS if breaks == "0" and int(size) <= MAX_LINE else PRINTS_LINES


def _product(items: Sequence[str], n: int) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [()]
    for _ in range(n):
        out = [(*t, i) for t in out for i in items]
    return out


_CACHE: dict[str, tuple[tuple[Form, ...], int]] = {}
_CACHE_LOCK = threading.Lock()
_BY_SANDBOX: weakref.WeakKeyDictionary[Sandbox, Vocabulary] = weakref.WeakKeyDictionary()


def vocabulary(sandbox: Sandbox, path: str | None = None) -> Vocabulary:
    """Return what a walk may type in ``sandbox``'s shell (``path``: search these directories instead).

    The command list and help texts are read from each sandbox once; the probe's result is
    kept per process for identical help texts (the same programs behave the same).
    """
    if path is None and sandbox in _BY_SANDBOX:
        return _BY_SANDBOX[sandbox]
    shell, coreutils, source = listed_commands(sandbox, path)
    commands = tuple(sorted(shell & coreutils))
    texts = help_texts(sandbox, commands)
    key = hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()
    with _CACHE_LOCK:  # parallel walkers wait for one probe rather than each running theirs
        if key not in _CACHE:
            usages = [u for c in commands for u in parse_usage(c, texts.get(c, ""))]
            _CACHE[key] = (tuple(probe(sandbox, usages)), len(usages))
        forms, tried = _CACHE[key]
    vocab = Vocabulary(commands, forms, source, tried)
    if path is None:
        _BY_SANDBOX[sandbox] = vocab
    return vocab


def shell_of(profile: AppProfile) -> str | None:
    """Return the shell a profile's terminal runs, when it is one a walk can use (bash), or None."""
    for word in profile.command[1:]:
        name = word.rsplit("/", 1)[-1]
        if name in SHELLS:
            return name
    return None


def route(profile: AppProfile) -> tuple[str | None, str]:
    """Return how exploration walks ``profile`` ("tree", "shell") or (None, why it cannot)."""
    if profile.expect_a11y_tree:
        return "tree", ""
    if shell_of(profile) is not None:
        if not ocr_available():
            return None, "no accessibility tree, and no OCR engine ('ocr' extra) to read the terminal"
        return "shell", ""
    return None, "no accessibility tree and no shell to type commands into: nothing a walk can read or act on"


# -- reading names off the screen -------------------------------------------------------------
_NAME = re.compile(r"^[\w.+-]+/?$")


def names_on_screen(boxes: Sequence[TextBox], command: str = "ls -p") -> list[str]:
    """Return the names a listing shows below the line where ``command`` was typed.

    OCR reads a row of names as one box; each word of it is a name (``ls -p`` marks a folder
    with a trailing ``/``). Prompt lines and anything above the command are left out. OCR drops
    the spaces of a short line (``$ls-p``), so the command is found with spaces ignored, and it
    misreads the case of single letters of small text (``goLd.txt``): a word mostly in lower
    case is read as all lower case (``_as_read``).
    """
    rows = sorted(boxes, key=lambda b: (b.bbox[1], b.bbox[0]))
    squeezed = command.replace(" ", "")
    typed = [b for b in rows if squeezed in b.text.replace(" ", "")]
    if not typed:
        return []
    below = typed[-1].bbox[1] + typed[-1].bbox[3] // 2
    out: list[str] = []
    for box in rows:
        if box.bbox[1] <= below or box.text.lstrip().startswith("$"):
            continue
        for word in box.text.split():
            name = _as_read(word)
            if _NAME.match(name) and name not in out:
                out.append(name)
    return out


def _as_read(word: str) -> str:
    """Return ``word`` in lower case when most of its letters are (a stray capital is a misread)."""
    upper = sum(c.isupper() for c in word)
    lower = sum(c.islower() for c in word)
    return word.lower() if 0 < upper < lower else word


def read_names(sandbox: Sandbox, settle_s: float) -> list[str]:
    """Clear the terminal, list HOME with ``ls -p`` and return the names OCR reads (folders end in /)."""
    sandbox.step(Key(("ctrl", "l")), settle_s=settle_s)
    sandbox.step(TypeText("ls -p\n"), settle_s=settle_s)
    deadline = time.monotonic() + 2.0
    while True:
        names = names_on_screen(sandbox.observe(ocr=True).text)
        if names or time.monotonic() >= deadline:
            return names
        time.sleep(0.2)


def _home_names(listing: HomeListing | None) -> list[str]:
    if listing is None:
        return []
    top = [(p, e) for p, e in listing.entries.items() if "/" not in p and not p.startswith(".")]
    return sorted(p + ("/" if e.kind == "d" else "") for p, e in top)


def _untouched(start: Snapshot, now: Snapshot) -> list[str]:
    """Return the files of the start state's HOME listing that are still as they were."""
    if start.home is None or now.home is None:
        return []
    was, now_ = start.home.entries, now.home.entries
    return [n for n in _home_names(start.home) if not n.endswith("/") and now_.get(n) == was.get(n)]


# -- the walk ---------------------------------------------------------------------------------
@dataclass
class ShellWalk(Walk):
    """A walk of typed commands, with where its names came from."""

    names: Counter[str] = field(default_factory=Counter)
    """``ocr``: listings OCR read names from; ``home``: listings OCR read nothing from (HOME's
    listing used instead); ``misread``: names OCR read that HOME does not hold."""


def choose_command(
    vocab: Vocabulary,
    names: Sequence[str],
    rng: random.Random,
    novelty: Novelty,
    appendable: Sequence[str] = (),
) -> tuple[str, str] | None:
    """Draw a command line the names allow (untried forms first); return (line, form key) or None.

    A one-line output goes into a new file (``>``), or is appended (``>>``) to one of
    ``appendable``: files the walk found at its start, whose earlier lines a task can leave
    unquoted (the instruction names the added line; a file the walk wrote would have to be
    quoted whole, which a second line forbids).
    """
    files = [n for n in names if not n.endswith("/")]
    dirs = [n.rstrip("/") for n in names if n.endswith("/")]
    options = [
        (form, kinds, effect)
        for form, kinds, effect in vocab.moves()
        if (FILE not in kinds or files) and (DIR not in kinds or dirs)
    ]
    if not options:
        return None
    weights = [1.0 / (1 + novelty.counts[("shell", f.usage.key)]) for f, _, _ in options]
    form, kinds, effect = rng.choices(options, weights)[0]
    values = [_value(kind, files, dirs, rng) for kind in kinds]
    line = form.usage.render(values)
    if effect == PRINTS:
        others = [f for f in files if f not in values and f in appendable]
        if others and rng.random() < 0.4:
            line += f" >> {shlex.quote(rng.choice(others))}"
        else:
            line += f" > {shlex.quote(_new_name(rng, suffix=True))}"
    return line, form.usage.key


def _value(kind: str, files: Sequence[str], dirs: Sequence[str], rng: random.Random) -> str:
    if kind == FILE:
        return rng.choice(list(files))
    if kind == DIR:
        return rng.choice(list(dirs))
    return _new_name(rng, suffix=rng.random() < 0.5)


def _new_name(rng: random.Random, *, suffix: bool) -> str:
    stem = file_stem(rng) if rng.random() < 0.6 else words(rng, 1)[0]
    return stem + (".txt" if suffix else "")


def command_steps(line: str) -> list[dict[str, Any]]:
    """Return the oracle steps that type ``line`` at the prompt and run it."""
    return [{"type": line}, {"key": "Return", "timeout_s": UNTIL_S}]


def _add_until(steps: list[dict[str, Any]], before: Snapshot, after: Snapshot) -> None:
    """Make the Return wait, on replay, for what the command did to the files under HOME."""
    if before.home is None or after.home is None:
        return
    d = diff(before.home, after.home)
    if d.created:
        steps[-1]["until"] = {"file_exists": f"{HOME}/{d.created[0]}"}
    elif d.deleted:
        steps[-1]["until"] = {"file_absent": f"{HOME}/{d.deleted[0]}"}
    elif d.modified:
        steps[-1]["until"] = {"file_changed": f"{HOME}/{d.modified[0]}"}


def shell_walk(
    sandbox: Sandbox,
    volatile: Sequence[str],
    rng: random.Random,
    *,
    moves: int,
    novelty: Novelty,
    settle_s: float = 0.2,
    vocab: Vocabulary | None = None,
    script: Sequence[str] | None = None,
) -> ShellWalk:
    """Walk the shell of the terminal already started in ``sandbox`` for up to ``moves`` commands.

    ``script``: command lines to type instead of drawn ones (a scripted walk, for tests); the
    walk still reads the listing before each of them, as it would.
    """
    vocab = vocab if vocab is not None else vocabulary(sandbox)
    start = snapshot(sandbox, volatile, ())
    out = ShellWalk(start)
    current = start
    runner = OracleRunner(sandbox, settle_s=settle_s)
    queue = list(script) if script is not None else None
    for _ in range(moves):
        if queue is not None and not queue:
            break
        try:
            names = read_names(sandbox, settle_s)
        except SandboxError as exc:
            out.ended = f"reading the listing: {exc}"
            break
        home = _home_names(current.home)
        if names:
            out.names["ocr"] += 1
            out.names["misread"] += sum(1 for n in names if n not in home)
        else:
            out.names["home"] += 1
            names = home
        if queue is not None:
            line, key = queue.pop(0), "script"
        else:
            chosen = choose_command(vocab, names, rng, novelty, _untouched(start, current))
            if chosen is None:
                out.ended = "no command fits the names on screen"
                break
            line, key = chosen
        steps = command_steps(line)
        try:
            runner.run(parse_steps(steps, Where("shell walk")))
            time.sleep(settle_s)  # the command itself: coreutils finish within a frame or two
            after = snapshot(sandbox, volatile, (), current)
        except (OracleFailed, SandboxError) as exc:
            out.ended = f"{line}: {exc}"
            break
        novelty.counts[("shell", key)] += 1
        _add_until(steps, current, after)
        out.moves.append(Move(steps, f"type {line!r}", current, after))
        current = after
        if not sandbox.observe().app_running:
            out.ended = f"the terminal closed after {line!r}"
            break
    return out


def random_commands(vocab: Vocabulary, start: Snapshot) -> RandomMove:
    """Return a drawer of random single commands on the start state's names (the triviality test)."""
    names = _home_names(start.home)
    fresh = Novelty()

    def draw(rng: random.Random) -> tuple[list[dict[str, Any]], str] | None:
        chosen = choose_command(vocab, names, rng, fresh, names)
        if chosen is None:
            return None
        return command_steps(chosen[0]), f"type {chosen[0]!r}"

    return draw
