"""check_sandbox() against every backend: the fake, and the Xvfb backend with real apps."""

from __future__ import annotations

import pytest

from sandbox import XvfbSandbox
from sandbox.conformance import ConformanceError, check_sandbox
from sandbox.fake import FakeSandbox


def test_fake_sandbox_conforms() -> None:
    report = check_sandbox(FakeSandbox(), "fake")
    assert "close is idempotent" in report.passed


@pytest.mark.x11
@pytest.mark.parametrize("app", ["mousepad", "xterm"])
def test_xvfb_sandbox_conforms(app: str) -> None:
    sb = XvfbSandbox()
    try:
        report = check_sandbox(sb, app)
    finally:
        sb.close()
    assert len(report.passed) >= 15


def test_checker_catches_a_broken_backend() -> None:
    class NoMove(FakeSandbox):
        def step(self, action, *, settle_s=1.0):  # type: ignore[no-untyped-def]
            obs = super().step(action, settle_s=settle_s)
            from dataclasses import replace

            return replace(obs, cursor=(0, 0))

    with pytest.raises(ConformanceError, match="step\\(Move\\)"):
        check_sandbox(NoMove(), "fake")
