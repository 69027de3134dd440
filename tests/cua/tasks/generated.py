"""Shared by the generated-near-miss test modules: the families of some applications as params."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from cua.tasks import builtin_families

#: The fewest generated near misses a built-in family must have (issue: at least 5 per family).
MIN_GENERATED = 5


def family_params(apps: Collection[str]) -> list[object]:
    """Return one pytest param per built-in family of ``apps`` (instance 0), by id."""
    return [
        pytest.param(family, id=family.id)
        for family in sorted(builtin_families(), key=lambda f: (f.app, f.id))
        if family.app in apps
    ]
