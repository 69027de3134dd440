"""The check of a command run in the sandbox: its exit status and its output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from cua.tasks.errors import Where
from cua.tasks.validators.base import QUOTE, Check, Context, ValidatorVerdict, fail, ok, quote
from cua.tasks.validators.fields import TEXT_OPS, compare_text, read_mapping, read_one_op


@dataclass(frozen=True)
class Command(Check):
    """A command run in the sandbox exits with ``returncode`` and its output satisfies ``op``."""

    argv: tuple[str, ...]
    returncode: int | None = 0
    op: str | None = None
    value: str = ""
    timeout_s: float = 30.0
    kind: ClassVar[str] = "command"

    @classmethod
    def from_json(cls, value: Any, at: Where) -> Check:
        """Read the task-file form (the value under the kind key)."""
        ops = [f"stdout_{op}" for op in TEXT_OPS]
        m = read_mapping(value, at, ["argv"], ["returncode", "timeout_s", *ops])
        argv = m["argv"]
        if isinstance(argv, str):
            argv = ["sh", "-c", argv]
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str | int) for a in argv):
            raise at.at("argv").error("a non-empty list of strings (or one shell command string)", argv)
        rc = m.get("returncode", 0)
        if rc is not None and (not isinstance(rc, int) or isinstance(rc, bool)):
            raise at.at("returncode").error("an integer, or null for any", rc)
        timeout = m.get("timeout_s", 30.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise at.at("timeout_s").error("a positive number of seconds", timeout)
        op: str | None = None
        text = ""
        if any(k in m for k in ops):
            op, text = read_one_op(m, at, TEXT_OPS, prefix="stdout_")
        return cls(tuple(str(a) for a in argv), rc, op, text, float(timeout))

    def run(self, ctx: Context) -> ValidatorVerdict:
        """Run the command and compare."""
        result = ctx.sandbox.exec(list(self.argv), timeout_s=self.timeout_s)
        shown = " ".join(self.argv)
        label = f"`{shown[:QUOTE]}`"
        if self.returncode is not None and result.returncode != self.returncode:
            err = result.stderr.decode(errors="replace").strip()
            return fail(f"{label} exits {self.returncode}: it exited {result.returncode} {quote(err)}")
        if self.op is None:
            return ok(f"{label} exits {self.returncode}")
        out = result.text.strip()
        expected = self.value.strip() if self.op == "equals" else self.value
        label += f" output {self.op.replace('_', ' ')} {quote(self.value)}"
        return (
            ok(label) if compare_text(out, self.op, expected) else fail(f"{label}: it printed {quote(out)}")
        )

    def to_json(self) -> Any:
        """Return the mapping form."""
        data: dict[str, Any] = {"argv": list(self.argv)}
        if self.returncode != 0:
            data["returncode"] = self.returncode
        if self.op is not None:
            data[f"stdout_{self.op}"] = self.value
        return data
