"""How a model decodes: the one generation-settings dataclass every model backend takes.

:class:`GenerationSettings` is shared by the local backend (:mod:`cua.models.transformers_policy`),
the endpoint backend (:mod:`cua.models.openai_policy`) and the loopback server
(:mod:`cua.models.server`), so a setting has one name everywhere in Python. The OpenAI wire
names (``max_tokens``, ``max_completion_tokens``) appear only in the two mapping methods here,
:meth:`GenerationSettings.to_openai` and :meth:`GenerationSettings.from_openai`.

Every field carries a docstring; :func:`field_docs` reads them, and the CLI's option help
(:mod:`cua.cli.options`) is built from them. Transport settings of an endpoint (timeouts,
retries, backoff) are not generation settings: they stay arguments of ``OpenAIPolicy``.
"""

from __future__ import annotations

import ast
import inspect
import itertools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class GenerationSettings:
    """How to decode: greedy when ``temperature`` is 0, else sampling with ``top_p``."""

    max_new_tokens: int = 256
    """Most tokens to generate for one reply (OpenAI's max_tokens)."""
    temperature: float = 0.0
    """Sampling temperature (0: greedy decoding, deterministic)."""
    top_p: float = 1.0
    """Nucleus sampling mass, in (0, 1] (only when sampling)."""
    seed: int = 0
    """Seed of the sampler (only when sampling); a policy adds the step number, so a run is reproducible."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        """True when decoding is greedy (temperature 0): ``top_p`` and ``seed`` then do not matter."""
        return self.temperature == 0

    def for_step(self, step: int) -> GenerationSettings:
        """Return these settings with the seed advanced by ``step`` (each step samples differently)."""
        return replace(self, seed=self.seed + step)

    def to_json(self) -> dict[str, Any]:
        """Return the settings as a plain dict (for provenance)."""
        return asdict(self)

    def to_openai(self) -> dict[str, Any]:
        """Return the fields of an OpenAI chat-completion request body that carry these settings."""
        return {"max_tokens": self.max_new_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "seed": self.seed}  # fmt: skip

    @classmethod
    def from_openai(cls, body: Mapping[str, Any], default_max_new_tokens: int = 256) -> GenerationSettings:
        """Read the settings from an OpenAI request body; a missing or null field takes its default.

        ``max_completion_tokens`` wins over ``max_tokens``. Raises ValueError (or TypeError) for a
        value that is not a number or is out of range.
        """
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens")) or default_max_new_tokens
        defaults = cls()
        temperature, top_p, seed = body.get("temperature"), body.get("top_p"), body.get("seed")
        return cls(
            max_new_tokens=int(max_tokens),
            temperature=float(temperature if temperature is not None else defaults.temperature),
            top_p=float(top_p if top_p is not None else defaults.top_p),
            seed=int(seed if seed is not None else defaults.seed),
        )


def with_overrides(base: GenerationSettings | None = None, **fields: Any) -> GenerationSettings:
    """Return ``base`` (default: the defaults) with the ``fields`` that are not None replaced.

    Lets a backend take a whole :class:`GenerationSettings` and single settings by their field
    names; raises ValueError for an unknown name or a value out of range.
    """
    given = {k: v for k, v in fields.items() if v is not None}
    return replace(base or GenerationSettings(), **given)


def field_docs(cls: type) -> dict[str, str]:
    """Return each dataclass field's docstring (the string literal under it), whitespace folded."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, nxt in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
        ):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


__all__ = ["GenerationSettings", "field_docs", "with_overrides"]
