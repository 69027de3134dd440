"""The exception tree drawn in ``cua/errors.py`` is the real one: every class, its parent, its home.

Like httpx's ``_exceptions.py``: one drawing a reader can hold in their head. This test imports
every module of ``cua``, collects every exception class defined there, and checks it against
the drawing, so a new exception cannot be added without drawing it (and making it a CuaError).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

import pytest

import cua
import cua.errors
import sandbox.errors
from cua.errors import CuaError
from cua.formats import get_format
from cua.formats.errors import UnknownFormat
from cua.models.messages import MessageError, from_openai

_ROW = re.compile(r"^ {4}(?P<lines>[ │├└─]*)(?P<name>_?[A-Z]\w*) +(?P<module>[\w.]+) +(?P<what>\S.*)$")


@dataclass(frozen=True)
class Drawn:
    name: str
    parent: str | None
    module: str
    what: str


def drawn_tree() -> tuple[dict[str, Drawn], dict[str, Drawn]]:
    """Parse cua.errors' docstring: (the tree's rows by name, the control-flow rows by name)."""
    doc = cua.errors.__doc__ or ""
    tree_part, _, flow_part = doc.partition("Control-flow exceptions")
    tree: dict[str, Drawn] = {}
    stack: list[str] = []
    for line in tree_part.splitlines():
        row = _ROW.match(line)
        if row is None:
            continue
        depth = len(row["lines"]) // 5  # "├── " under "│    ": five columns per level
        del stack[depth:]
        tree[row["name"]] = Drawn(row["name"], stack[-1] if stack else None, row["module"], row["what"])
        stack.append(row["name"])
    flow = {}
    for line in flow_part.splitlines():
        row = _ROW.match(line)
        if row is not None:
            flow[row["name"]] = Drawn(row["name"], None, row["module"], row["what"])
    return tree, flow


def defined_exceptions() -> dict[str, type[BaseException]]:
    """Import every module of cua; return each exception class by the name it is defined under."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(cua.__path__, "cua."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                assert value.__name__ not in found, f"two exception classes named {value.__name__}"
                found[value.__name__] = value
    return found


TREE, FLOW = drawn_tree()
DEFINED = defined_exceptions()


def test_the_drawn_names_are_pinned() -> None:
    assert list(TREE) == [
        "CuaError",
        "UsageError",
        "UnknownSeedApp",
        "PolicyError",
        "TrainingError",
        "ActionError",
        "ActionJSONError",
        "MessageError",
        "UnknownFormat",
        "ParseError",
        "NoAction",
        "MalformedAction",
        "UnknownAction",
        "BadArgument",
        "CoordinateOutOfRange",
        "UnsupportedAction",
        "RenderError",
        "TaskError",
        "TaskSpecError",
        "UnknownTask",
        "OracleFailed",
        "NoBaseline",
        "ReplayError",
        "DatasetError",
        "WordListMissing",
        "StoreError",
        "StoreFull",
        "StoreLocked",
        "StoreCorrupt",
        "SchemaTooNew",
        "RunNotFound",
        "RunStateError",
        "ScreenshotMissing",
        "ExportError",
        "RegistryError",
        "MemoryIndexError",
        "SandboxError",
    ]
    assert sorted(FLOW) == [
        "Skip", "_BadRequest", "_ClientGone", "_Diverged", "_NotApplicable", "_RequestFailed", "_Stop",
    ]  # fmt: skip


def test_every_exception_of_cua_is_a_cua_error_or_drawn_control_flow() -> None:
    strays = [
        f"{cls.__module__}.{name}"
        for name, cls in DEFINED.items()
        if not issubclass(cls, CuaError) and name not in FLOW
    ]
    assert strays == [], "make these CuaError subclasses and draw them in cua/errors.py"


def test_every_cua_error_is_drawn_under_its_parent_in_its_module() -> None:
    for name, cls in DEFINED.items():
        if not issubclass(cls, CuaError):
            continue
        assert name in TREE, f"{cls.__module__}.{name} is not drawn in cua/errors.py"
        row = TREE[name]
        assert row.module == cls.__module__, f"{name} is drawn in {row.module}, defined in {cls.__module__}"
        parents = [b.__name__ for b in cls.__bases__ if issubclass(b, CuaError)]
        expected = parents[0] if parents else None
        assert row.parent == expected, f"{name} is drawn under {row.parent}, subclasses {expected}"
        assert len(parents) <= 1, f"{name} has two CuaError parents: the tree cannot draw it"


def test_every_drawn_name_exists() -> None:
    missing = [name for name in TREE if name != "SandboxError" and name not in DEFINED]
    assert missing == []
    assert TREE["SandboxError"].parent is None
    assert cua.errors.SandboxError is sandbox.errors.SandboxError
    reexported = [name for name in cua.errors.__all__ if hasattr(sandbox.errors, name)]
    sandbox_classes = [
        name
        for name, value in vars(sandbox.errors).items()
        if isinstance(value, type) and issubclass(value, sandbox.errors.SandboxError)
    ]
    assert sorted(reexported) == sorted(sandbox_classes), "cua.errors re-exports the whole sandbox tree"
    for name in reexported:
        assert getattr(cua.errors, name) is getattr(sandbox.errors, name), name


def test_builtin_bases_are_noted_in_the_drawing() -> None:
    for name, cls in DEFINED.items():
        if not issubclass(cls, CuaError):
            continue
        builtins_ = [b.__name__ for b in cls.__mro__ if b.__module__ == "builtins"]
        extra = [b for b in builtins_ if b not in ("Exception", "BaseException", "object")]
        for base in extra:
            assert f"also {base}" in TREE[name].what, f"{name} is also a {base}: say so in the drawing"


def test_control_flow_exceptions_are_not_cua_errors_and_live_where_drawn() -> None:
    for name, row in FLOW.items():
        assert name in DEFINED, f"{name} is drawn but not defined"
        assert DEFINED[name].__module__ == row.module
        assert not issubclass(DEFINED[name], CuaError)


def test_errors_that_were_builtins_stay_catchable_as_before() -> None:
    with pytest.raises(ValueError, match="choose one of") as format_error:
        get_format("no-such-format")
    assert isinstance(format_error.value, UnknownFormat)
    with pytest.raises(ValueError, match="non-empty list") as message_error:
        from_openai([])
    assert isinstance(message_error.value, MessageError)
    assert issubclass(UnknownFormat, CuaError) and issubclass(MessageError, CuaError)
