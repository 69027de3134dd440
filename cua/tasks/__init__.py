"""Tasks with executable validators, oracle solutions as data, and built-in suites.

A ``TaskSpec`` says what to ask, how to set the sandbox up, how to check the outcome (a
validator run against the sandbox's final state) and how to solve it through the GUI (an
oracle: actions on accessibility targets). Families turn one template into many seeded tasks.
See ``cua.tasks.spec`` for the file format, ``cua.tasks.validators`` for the checks,
``cua.tasks.oracle`` for the oracle steps and ``cua.tasks.osworld`` for the OSWorld importer.
"""

import importlib
from typing import TYPE_CHECKING, Any

from cua.tasks.errors import OracleFailed, TaskError, TaskSpecError, UnknownTask
from cua.tasks.oracle import OracleRun
from cua.tasks.runner import Proof, prove, run_oracle, start, validate
from cua.tasks.spec import NearMiss, TaskFamily, TaskSpec, load_file, load_path, parse_document, task_hash
from cua.tasks.validators import Check, ValidatorVerdict, parse_check

if TYPE_CHECKING:
    from cua.tasks.builtin import builtin_families, builtin_tasks, find_family, find_task, resolve_task

#: Names served by ``cua.tasks.builtin``, imported only when asked for: code that never touches
#: the built-in suites (task synthesis) must be able to import ``cua.tasks`` without them.
_BUILTIN = frozenset({"builtin_families", "builtin_tasks", "find_family", "find_task", "resolve_task"})


def __getattr__(name: str) -> Any:
    if name in _BUILTIN:
        # By name, at first use: the static import graph (import-linter) keeps no edge from
        # cua.tasks to the suites, and tests/cua/synth/test_isolation.py checks it at run time.
        return getattr(importlib.import_module("cua.tasks.builtin"), name)
    raise AttributeError(f"module 'cua.tasks' has no attribute {name!r}")


__all__ = [
    "Check",
    "NearMiss",
    "OracleFailed",
    "OracleRun",
    "Proof",
    "TaskError",
    "TaskFamily",
    "TaskSpec",
    "TaskSpecError",
    "UnknownTask",
    "ValidatorVerdict",
    "builtin_families",
    "builtin_tasks",
    "find_family",
    "find_task",
    "load_file",
    "load_path",
    "parse_check",
    "parse_document",
    "prove",
    "resolve_task",
    "run_oracle",
    "start",
    "task_hash",
    "validate",
]
