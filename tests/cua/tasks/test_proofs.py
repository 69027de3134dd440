"""Every built-in task family is solvable by its oracle and checkable by its validator.

Each family is proven on instance 0 (set ``CUA_PROVE_ALL=1`` to prove every instance): doing
nothing fails, every near miss fails, and the oracle, driving the real application through the
GUI, passes. The tests share the module's sandbox (``reset`` switches tasks and applications).
Each application's families are one xdist group, so under ``--dist loadgroup`` the applications
spread over the workers; under ``--dist loadfile`` the whole module runs on one.
"""

from __future__ import annotations

import os

import pytest

from cua.tasks import TaskFamily, builtin_families, prove
from sandbox import XvfbSandbox

#: Applications whose start alone takes seconds; their proofs are also marked slow.
SLOW_APPS = frozenset({"libreoffice-calc", "chromium"})

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]


def proof_params() -> list[object]:
    """Return pytest params (family, instance) for every built-in family, grouped by application."""
    every = os.environ.get("CUA_PROVE_ALL") == "1"
    return [
        pytest.param(
            family,
            index,
            id=f"{family.id}/{index}",
            marks=[pytest.mark.xdist_group(f"proofs-{family.app}")]
            + ([pytest.mark.slow] if family.app in SLOW_APPS else []),
        )
        for family in sorted(builtin_families(), key=lambda f: f.app)
        for index in (range(family.instances) if every else [0])
    ]


@pytest.mark.parametrize(("family", "index"), proof_params())
def test_family_is_proven(sb: XvfbSandbox, family: TaskFamily, index: int) -> None:
    proof = prove(sb, family, index)
    print(proof.report())  # shown with -s, and on failure
    assert proof.ok, "\n".join(proof.problems()) + "\n" + proof.report()
    assert proof.near_misses, f"{family.id} has no near miss to prove"
