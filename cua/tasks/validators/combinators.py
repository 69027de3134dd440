"""Checks made of checks: all, any and not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cua.tasks.errors import Where
from cua.tasks.validators.base import Check, Context, ValidatorVerdict, parse_check


def _indent(verdicts: Sequence[ValidatorVerdict]) -> tuple[str, ...]:
    return tuple("  " + line for v in verdicts for line in v.reasons)


@dataclass(frozen=True)
class _Group(Check):
    """A list of child checks (no kind of its own: All and AnyOf score it)."""

    checks: tuple[Check, ...]

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        return cls(_children(value, at))

    def to_json(self) -> Any:
        """Return the list of children."""
        return [c.data() for c in self.checks]

    def children(self) -> tuple[Check, ...]:
        """Return the child checks."""
        return self.checks


@dataclass(frozen=True)
class All(_Group):
    """Every child must pass; the score is the mean of the children's (partial credit)."""

    kind: ClassVar[str] = "all"

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Run every child (no short cut: the reasons list all failures)."""
        results = [c.run(ctx) for c in self.checks]
        passed = sum(r.passed for r in results)
        score = sum(r.score for r in results) / len(results)
        if passed < len(results):
            score = min(score, 1.0 - 1e-6)
        head = f"{'PASS' if passed == len(results) else 'FAIL'} all ({passed}/{len(results)} passed)"
        return ValidatorVerdict(score, (head, *_indent(results)))


@dataclass(frozen=True)
class AnyOf(_Group):
    """At least one child must pass; the score is the best child's."""

    kind: ClassVar[str] = "any"

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Run every child and keep the best score."""
        results = [c.run(ctx) for c in self.checks]
        best = max(r.score for r in results)
        ok = any(r.passed for r in results)
        head = f"{'PASS' if ok else 'FAIL'} any ({sum(r.passed for r in results)}/{len(results)} passed)"
        return ValidatorVerdict(best, (head, *_indent(results)))


@dataclass(frozen=True)
class Not(Check):
    """Passes exactly when the child fails (score 1 - child's score, rounded to pass/fail)."""

    check: Check
    kind: ClassVar[str] = "not"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        return cls(parse_check(value, at))

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Invert the child."""
        inner = self.check.run(ctx)
        ok = not inner.passed
        return ValidatorVerdict(1.0 if ok else 0.0, (f"{'PASS' if ok else 'FAIL'} not", *_indent([inner])))

    def to_json(self) -> Any:
        """Return the child."""
        return self.check.data()

    def children(self) -> tuple[Check, ...]:
        """Return the child check."""
        return (self.check,)


def _children(value: Any, at: Where) -> tuple[Check, ...]:
    if not isinstance(value, list) or not value:
        raise at.error("a non-empty list of checks", value)
    return tuple(parse_check(item, at.at(i)) for i, item in enumerate(value))
