"""Near misses generated from each family's state diff all fail its validator: Chromium and Calc.

The heavy applications have a module of their own, so that the two halves run on two workers.

``cua.tasks.nearmiss.generate`` starts the task, solves it with the oracle, and makes wrong
outcomes from what changed (file, workbook, GUI and method operators); none may pass. This is
the proof CI runs for every built-in family (``cua tasks check FILE`` runs it for any task file).
"""

from __future__ import annotations

import pytest

from cua.tasks import TaskFamily
from sandbox import XvfbSandbox
from tests.cua.tasks.generated import check_family, family_params

pytestmark = [pytest.mark.x11, pytest.mark.timeout(300)]


@pytest.mark.parametrize("family", family_params({"chromium", "libreoffice-calc"}))
def test_generated_near_misses_all_fail(sb: XvfbSandbox, family: TaskFamily) -> None:
    check_family(sb, family)
