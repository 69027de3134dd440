"""The built-in task suites: the YAML files in ``cua/tasks/suites``, one per application.

Loaded once per process and checked on load (every instance of every family is rendered and
parsed). Families marked ``split: eval`` are held out: evaluation only, never training data.
``resolve_task`` also finds tasks in the user's own task files (``cua run --task FILE``).
"""

from __future__ import annotations

import functools
from pathlib import Path

from cua.tasks.errors import UnknownTask
from cua.tasks.spec import TASK_SUFFIXES, TaskFamily, TaskSpec, load_file, load_path

SUITES_DIR = Path(__file__).parent / "suites"


@functools.cache
def builtin_families() -> tuple[TaskFamily, ...]:
    """Return every built-in family, suite by suite (files in name order)."""
    families: list[TaskFamily] = []
    for path in sorted(SUITES_DIR.glob("*.yaml")):
        families.extend(load_file(path))
    ids = [f.id for f in families]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise UnknownTask(f"built-in suites define these family ids twice: {dupes}")
    return tuple(families)


def builtin_tasks(split: str | None = None) -> list[TaskSpec]:
    """Return every built-in task (optionally only the 'train' or the 'eval' split)."""
    return [t for f in builtin_families() if split in (None, f.split) for t in f.tasks()]


def find_family(family_id: str) -> TaskFamily:
    """Return the built-in family with this id; raise UnknownTask naming close matches."""
    for family in builtin_families():
        if family.id == family_id:
            return family
    close = [f.id for f in builtin_families() if family_id.split(".")[0] in f.id][:8]
    hint = f"; did you mean one of {close}?" if close else "; `cua tasks list` shows them"
    raise UnknownTask(f"no built-in task family {family_id!r}{hint}")


def find_task(task_id: str) -> tuple[TaskFamily, TaskSpec]:
    """Return (family, task) for an id such as ``mousepad.save-as/2`` (a bare family id means /0)."""
    family_id, _, index = task_id.partition("/")
    family = find_family(family_id)
    if index and not index.isdigit():
        raise UnknownTask(f"task id {task_id!r}: the part after '/' is an instance number")
    number = int(index or 0)
    if number >= family.instances:
        raise UnknownTask(f"task {task_id!r}: family {family.id} has instances 0 to {family.instances - 1}")
    return family, family.instance(number)


def is_task_path(ref: str) -> bool:
    """Return whether ``ref`` names a task file or folder rather than a built-in id or suite."""
    where = ref.partition("#")[0]
    return Path(where).exists() or where.endswith(TASK_SUFFIXES) or "#" in ref


def resolve_task(ref: str) -> tuple[TaskFamily, TaskSpec]:
    """Return (family, task) for a built-in id, a task file or folder, or ``PATH#TASK_ID``.

    A file or folder must hold exactly one task unless ``#TASK_ID`` picks one (a family id
    means its instance 0). Errors say which ids there are.
    """
    if not is_task_path(ref) or any(f.id == ref.partition("/")[0] for f in builtin_families()):
        return find_task(ref)
    where, _, wanted = ref.partition("#")
    families = load_path(where)
    if wanted:
        family_id, _, index = wanted.partition("/")
        for family in families:
            if family.id == family_id:
                if index and not index.isdigit():
                    raise UnknownTask(f"task id {wanted!r}: the part after '/' is an instance number")
                number = int(index or 0)
                if number >= family.instances:
                    raise UnknownTask(
                        f"task {wanted!r}: family {family.id} has instances 0 to {family.instances - 1}"
                    )
                return family, family.instance(number)
        ids = [f.id for f in families]
        raise UnknownTask(f"{where} has no task family {family_id!r}; it has {_shown(ids)}")
    tasks = [(family, task) for family in families for task in family.tasks()]
    if len(tasks) != 1:
        ids = [task.id for _, task in tasks]
        raise UnknownTask(
            f"{where} holds {len(tasks)} tasks; pick one as {where}#TASK_ID (one of {_shown(ids)})"
        )
    return tasks[0]


def _shown(ids: list[str], most: int = 8) -> str:
    return ", ".join(ids[:most]) + (f" and {len(ids) - most} more" if len(ids) > most else "")
