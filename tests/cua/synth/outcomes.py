"""A synthesized task's outcome reached another way and judged: the synthesis tests' fooling helper."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cua.tasks.runner import run_oracle, start, validate
from cua.tasks.spec import parse_document
from sandbox.xvfb import XvfbSandbox


def judged(sb: XvfbSandbox, document: Mapping[str, Any], *commands: str, run: bool = False) -> bool:
    """Start ``document``'s task, run its oracle when ``run``, then shell ``commands`` in HOME; validate."""
    task = parse_document(dict(document))[0].instance(0)
    start(sb, task)
    if run:
        run_oracle(sb, task)
    for cmd in commands:
        assert sb.exec(["sh", "-c", f"cd /home/user && {cmd}"], timeout_s=10).ok, cmd
    return validate(sb, task).passed
