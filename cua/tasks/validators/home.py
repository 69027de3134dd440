"""What changed under HOME: listings with content hashes, the ``changes`` check and the side-effect guard.

A task's start records HOME's listing (every file's SHA-256, every link's target) in the
baseline; at validation the listing is read again and the two are compared. The ``changes``
check states the whole expected difference (created, deleted, modified, moved, copied) and
that nothing else changed; the side-effect guard, which ``cua.tasks.runner.validate`` adds to
every task, says only that paths the task's checks do not judge are unchanged.

What the application itself changes as it runs (caches, settings saved on exit, lock files) is
listed as ``volatile`` in its profile: those paths are neither read nor judged. The listing is
read inside the sandbox by the system's ``python3`` (one exec), so a backend needs nothing else.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cua.tasks.errors import Where
from cua.tasks.params import HOME
from cua.tasks.validators.base import Check, Context, NoBaseline, ValidatorVerdict, fail, ok
from cua.tasks.validators.fields import read_mapping, read_path
from sandbox.base import Sandbox

#: Files larger than this are compared by size and modification time instead of a hash.
HASH_LIMIT = 256 * 1024 * 1024
#: How many differences a reason lists before it says "and N more".
SHOWN = 6

# Walks HOME (argv[1]: the volatile patterns as JSON, argv[2]: the hash limit) and prints
# {relative path: [kind, size, digest or link target]} as JSON. Kinds: f file, d folder,
# l symbolic link, o anything else (sockets, fifos), ? unreadable. Volatile folders are pruned,
# by ``is_volatile`` itself (its source is sent along, see ``read_home``).
_LIST = r"""
import hashlib, json, os, stat, sys
home = os.path.expanduser("~")
pats = json.loads(sys.argv[1])
limit = int(sys.argv[2])
out = {}
for root, dirs, files in os.walk(home):
    keep = []
    for name in sorted(dirs + files):
        full = os.path.join(root, name)
        rel = os.path.relpath(full, home)
        if is_volatile(rel, pats):
            continue
        try:
            st = os.lstat(full)
        except OSError:
            out[rel] = ["?", 0, ""]
            continue
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ["l", 0, os.readlink(full)]
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ["d", 0, ""]
            keep.append(name)
        elif stat.S_ISREG(st.st_mode):
            if st.st_size > limit:
                out[rel] = ["f", st.st_size, "mtime:%d" % st.st_mtime_ns]
                continue
            h = hashlib.sha256()
            try:
                with open(full, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                out[rel] = ["f", st.st_size, h.hexdigest()]
            except OSError:
                out[rel] = ["?", st.st_size, ""]
        else:
            out[rel] = ["o", 0, ""]
    dirs[:] = [d for d in dirs if d in keep]
json.dump(out, sys.stdout)
"""


@dataclass(frozen=True)
class Entry:
    """One path under HOME: its kind (f, d, l, o, ?), size, and SHA-256 or link target."""

    kind: str
    size: int = 0
    digest: str = ""

    def describe(self) -> str:
        """Return a short reading for a reason: 'a folder', 'a file of 12 bytes'."""
        return {
            "d": "a folder",
            "l": f"a link to {self.digest}",
            "o": "a special file",
            "?": "unreadable",
        }.get(self.kind, f"a file of {self.size} bytes")


@dataclass(frozen=True)
class HomeListing:
    """HOME's listing (relative paths), read without the ``exclude`` patterns (volatile paths)."""

    entries: Mapping[str, Entry]
    exclude: tuple[str, ...] = ()


def is_volatile(path: str, patterns: Iterable[str]) -> bool:
    """Return whether a HOME-relative ``path`` matches one of the volatile ``patterns``."""
    for pattern in patterns:
        if pattern.endswith("/**"):
            base = pattern[:-3]
            if path == base or path.startswith(base + "/") or fnmatch.fnmatchcase(path, base):
                return True
        if fnmatch.fnmatchcase(path, pattern):
            return True
    return False


def read_home(sandbox: Sandbox, exclude: Sequence[str] = ()) -> HomeListing | str:
    """Return HOME's listing in ``sandbox`` without the ``exclude`` patterns, or why it could not be read.

    A backend with a ``home_listing()`` method (the FakeSandbox test double) answers itself.
    """
    fast = getattr(sandbox, "home_listing", None)
    if callable(fast):
        listed = fast()
        return HomeListing(
            {k: Entry(*v) for k, v in listed.items() if not is_volatile(k, exclude)}, tuple(exclude)
        )
    script = f"from __future__ import annotations\nimport fnmatch\n{inspect.getsource(is_volatile)}{_LIST}"
    result = sandbox.exec(
        ["python3", "-c", script, json.dumps(list(exclude)), str(HASH_LIMIT)], timeout_s=120
    )
    if not result.ok:
        err = result.stderr.decode(errors="replace").strip()[-300:]
        return f"listing HOME failed (exit {result.returncode}): {err}"
    try:
        raw = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        return f"listing HOME printed no JSON ({exc.msg})"
    entries = {str(k): Entry(str(v[0]), int(v[1]), str(v[2])) for k, v in raw.items()}
    return HomeListing(entries, tuple(exclude))


def relative(path: str) -> str | None:
    """Return a sandbox path relative to HOME ('notes/a.txt'), or None when it is outside HOME."""
    path = path.rstrip("/")
    if path.startswith(HOME + "/"):
        path = path[len(HOME) + 1 :]
    elif path == HOME or path.startswith("/"):
        return None
    while path.startswith("./"):
        path = path[2:]
    return path or None


@dataclass(frozen=True)
class Diff:
    """What differs between two listings: created, deleted and modified relative paths."""

    created: tuple[str, ...]
    deleted: tuple[str, ...]
    modified: tuple[str, ...]

    def all(self) -> tuple[str, ...]:
        """Return every changed path, sorted."""
        return tuple(sorted({*self.created, *self.deleted, *self.modified}))


def diff(before: HomeListing, after: HomeListing) -> Diff:
    """Compare two listings; a folder is modified only by becoming something else."""
    b, a = before.entries, after.entries
    return Diff(
        tuple(sorted(set(a) - set(b))),
        tuple(sorted(set(b) - set(a))),
        tuple(sorted(p for p in set(a) & set(b) if a[p] != b[p] and not (a[p].kind == b[p].kind == "d"))),
    )


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def explain(path: str, before: HomeListing, after: HomeListing) -> str:
    """Return how ``path`` changed, for a reason: 'notes.txt deleted (was a file of 5 bytes)'."""
    old, new = before.entries.get(path), after.entries.get(path)
    if old is None and new is not None:
        return f"{path} created ({new.describe()})"
    if new is None and old is not None:
        return f"{path} deleted (was {old.describe()})"
    assert old is not None and new is not None
    if old.kind != new.kind:
        return f"{path} changed from {old.describe()} to {new.describe()}"
    return f"{path} modified"


def _listed(items: Sequence[str], more: int) -> str:
    return "; ".join(items) + (f"; and {more} more" if more > 0 else "")


@dataclass
class HomeReads:
    """The final listing of one validation, read once (checks and the guard share it)."""

    listing: HomeListing | str | None = None


def home_now(ctx: Context, before: HomeListing) -> HomeListing | str:
    """Return HOME's listing now, read once per validation with the baseline's exclusions."""
    reads: HomeReads = ctx.extra.setdefault("home", HomeReads())
    if reads.listing is None:
        reads.listing = read_home(ctx.sandbox, before.exclude)
    return reads.listing


def _baseline_home(ctx: Context) -> HomeListing:
    if ctx.baseline is None:
        raise NoBaseline(
            "no baseline was recorded for this validation (start the task with cua.tasks.runner.start)"
        )
    if not isinstance(ctx.baseline.home, HomeListing):
        raise NoBaseline(f"HOME could not be listed at the task's start: {ctx.baseline.home}")
    return ctx.baseline.home


def _listings(ctx: Context) -> tuple[HomeListing, HomeListing] | str:
    """Return HOME's listing at the start and now, or why one of them is missing."""
    try:
        before = _baseline_home(ctx)
    except NoBaseline as exc:
        return str(exc)
    after = home_now(ctx, before)
    return after if isinstance(after, str) else (before, after)


def _allowed(path: str, kind: str | None, roots: Iterable[str]) -> bool:
    """Whether a change at ``path`` is the task's: at or under a judged path, or a folder above one."""
    return any(_under(path, r) or (kind == "d" and _under(r, path)) for r in roots)


@dataclass(frozen=True)
class SideEffects:
    """The guard: paths under HOME that no check judges, and that are not volatile, are unchanged.

    ``judged``: the HOME-relative paths the task's checks name (a change at, under, or a folder
    created above one of them is the task's to judge). ``allow``: more patterns a family lets
    change, with its reason.
    """

    judged: tuple[str, ...]
    allow: tuple[str, ...] = ()

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Compare HOME with the baseline's listing."""
        got = _listings(ctx)
        if isinstance(got, str):
            return fail(f"nothing else under HOME changed: {got}")
        before, after = got
        changes = diff(before, after)
        stray = [
            p
            for p in changes.all()
            if not is_volatile(p, self.allow)
            and not _allowed(p, (after.entries.get(p) or before.entries[p]).kind, self.judged)
        ]
        if not stray:
            return ok("nothing else under HOME changed")
        shown = [explain(p, before, after) for p in stray[:SHOWN]]
        return fail(f"nothing else under HOME changed: {_listed(shown, len(stray) - SHOWN)}")


@dataclass(frozen=True)
class Changes(Check):
    """The whole difference under HOME since the start: exactly these changes, and nothing else.

    ``created``/``deleted``/``modified``: paths that must be new / gone / different. ``moved``:
    source → target, the source gone and the target holding the source's start bytes (a folder
    moves with everything in it); ``copied``: the same, with the source unchanged. ``others``:
    ``unchanged`` (default: any other change fails) or ``any``. Folders created above a listed
    path need not be listed. Contents are judged by other checks (file_text, sheet).
    """

    created: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    moved: tuple[tuple[str, str], ...] = ()
    copied: tuple[tuple[str, str], ...] = ()
    others: str = "unchanged"
    kind: ClassVar[str] = "changes"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        m = read_mapping(value, at, [], ["created", "deleted", "modified", "moved", "copied", "others"])
        if not any(m.get(k) for k in ("created", "deleted", "modified", "moved", "copied")):
            raise at.error("at least one of created, deleted, modified, moved, copied", value)
        others = m.get("others", "unchanged")
        if others not in ("unchanged", "any"):
            raise at.at("others").error("'unchanged' or 'any'", others)
        return cls(
            _paths(m.get("created", []), at.at("created")),
            _paths(m.get("deleted", []), at.at("deleted")),
            _paths(m.get("modified", []), at.at("modified")),
            _pairs(m.get("moved", {}), at.at("moved")),
            _pairs(m.get("copied", {}), at.at("copied")),
            others,
        )

    def to_json(self) -> Any:
        """Return the mapping form."""
        data: dict[str, Any] = {}
        for key in ("created", "deleted", "modified"):
            if getattr(self, key):
                data[key] = list(getattr(self, key))
        for key in ("moved", "copied"):
            if getattr(self, key):
                data[key] = dict(getattr(self, key))
        if self.others != "unchanged":
            data["others"] = self.others
        return data

    def paths(self) -> tuple[str, ...]:
        """Return every path named (sources and targets too)."""
        pairs = [p for pair in (*self.moved, *self.copied) for p in pair]
        return (*self.created, *self.deleted, *self.modified, *pairs)

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Compare HOME with the baseline's listing."""
        label = "changes under HOME"
        got = _listings(ctx)
        if isinstance(got, str):
            return fail(f"{label}: {got}")
        before, after = got
        b, a = before.entries, after.entries
        wrong: list[str] = []
        expected: set[str] = set()
        for path in self.created:
            rel = relative(path) or path
            expected.add(rel)
            if rel in b:
                wrong.append(f"{rel} was to be created: it existed at the start")
            elif rel not in a:
                wrong.append(f"{rel} was to be created: it does not exist")
        for path in self.deleted:
            rel = relative(path) or path
            expected.update(p for p in b if _under(p, rel))
            if rel in a:
                wrong.append(f"{rel} was to be deleted: it still exists")
        for path in self.modified:
            rel = relative(path) or path
            expected.add(rel)
            if rel not in a:
                wrong.append(f"{rel} was to be modified: it does not exist")
            elif a[rel] == b.get(rel):
                wrong.append(f"{rel} was to be modified: it is unchanged")
        for pairs, verb in ((self.moved, "moved"), (self.copied, "copied")):
            for src_path, dst_path in pairs:
                src, dst = relative(src_path) or src_path, relative(dst_path) or dst_path
                wrong += _transfer(b, a, src, dst, verb, expected)
        if self.others == "unchanged":
            changes = diff(before, after)
            stray = [p for p in changes.all() if p not in expected and not _created_above(p, a, b, expected)]
            wrong += [explain(p, before, after) + ", which the task does not ask for" for p in stray]
        if not wrong:
            return ok(f"{label}: exactly the expected ones")
        return fail(f"{label}: {_listed(wrong[:SHOWN], len(wrong) - SHOWN)}")


def _created_above(path: str, a: Mapping[str, Entry], b: Mapping[str, Entry], expected: set[str]) -> bool:
    """Return whether ``path`` is a folder created above an expected path (``mkdir -p`` of a target)."""
    entry = a.get(path)
    new_dir = entry is not None and entry.kind == "d" and path not in b
    return new_dir and any(_under(e, path) for e in expected)


def _transfer(
    b: Mapping[str, Entry], a: Mapping[str, Entry], src: str, dst: str, verb: str, expected: set[str]
) -> list[str]:
    """Check that ``src`` (and all under it) arrived at ``dst`` unchanged; gone from ``src`` if moved."""
    if src not in b:
        return [f"{src} was to be {verb} to {dst}: it did not exist at the start"]
    wrong = []
    for path in sorted(p for p in b if _under(p, src)):
        target = dst + path[len(src) :]
        expected.add(target)
        if verb == "moved":
            expected.add(path)
        if a.get(target) != b[path]:
            got = a.get(target)
            what = "it is missing" if got is None else f"it is {got.describe()} with other contents"
            wrong.append(f"{path} was to be {verb} to {target}: {what}")
        if verb == "moved" and path in a:
            wrong.append(f"{path} was to be moved to {target}: it is still at {path} (copied, not moved?)")
        if verb == "copied" and a.get(path) != b[path]:
            wrong.append(f"{path} was to be copied to {target}: the original changed or is gone")
    return wrong


def _paths(value: Any, at: Where) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise at.error("a list of paths under HOME", value)
    return tuple(read_path(v, at.at(i)) for i, v in enumerate(value))


def _pairs(value: Any, at: Where) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise at.error("a mapping of source path to target path", value)
    return tuple((read_path(k, at), read_path(v, at.at(str(k)))) for k, v in value.items())
