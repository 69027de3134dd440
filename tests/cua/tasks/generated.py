"""Shared by the generated-near-miss test modules: the families of some applications as params."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from cua.tasks import TaskFamily, builtin_families
from cua.tasks.nearmiss import generate
from sandbox.base import Sandbox

#: The fewest generated near misses a built-in family must have (issue: at least 5 per family).
MIN_GENERATED = 5


def family_params(apps: Collection[str]) -> list[object]:
    """Return one pytest param per built-in family of ``apps`` (instance 0), by id."""
    return [
        pytest.param(family, id=family.id)
        for family in sorted(builtin_families(), key=lambda f: (f.app, f.id))
        if family.app in apps
    ]


def check_family(sb: Sandbox, family: TaskFamily) -> None:
    """Generate instance 0's near misses: it must run, and none may pass; at least MIN_GENERATED."""
    report = generate(sb, family.instance(0))
    print(report.report())  # shown with -s, and on failure
    assert report.error is None, report.report()
    assert not report.false_passes, report.report()
    assert len(report.generated) >= MIN_GENERATED, report.report()
