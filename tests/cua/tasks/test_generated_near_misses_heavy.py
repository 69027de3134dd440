"""Near misses generated from each family's state diff all fail its validator: Chromium and Calc.

The heavy applications have a module of their own, so that the two halves run on two workers.

``cua.tasks.nearmiss.generate`` starts the task, solves it with the oracle, and makes wrong
outcomes from what changed (file, workbook, GUI and method operators); none may pass. This is
the proof CI runs for every built-in family (``cua tasks check FILE`` runs it for any task file).
"""

from __future__ import annotations

import pytest

from cua.tasks import TaskFamily
from cua.tasks.nearmiss import generate
from sandbox import XvfbSandbox
from tests.cua.tasks.generated import MIN_GENERATED, family_params

pytestmark = [pytest.mark.x11, pytest.mark.timeout(300)]


@pytest.mark.parametrize("family", family_params({"chromium", "libreoffice-calc"}))
def test_generated_near_misses_all_fail(sb: XvfbSandbox, family: TaskFamily) -> None:
    report = generate(sb, family.instance(0))
    print(report.report())  # shown with -s, and on failure
    assert report.error is None, report.report()
    assert not report.false_passes, report.report()
    assert len(report.generated) >= MIN_GENERATED, report.report()
