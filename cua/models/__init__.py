"""Policy backends behind the one :class:`~cua.policy.Policy` protocol.

- :class:`TransformersPolicy`: a local Qwen2.5-VL / Qwen3-VL checkpoint (UI-TARS-1.5, Qwen2.5-VL,
  Qwen3-VL, this project's own) through transformers.
- :class:`OpenAIPolicy`: any OpenAI-compatible chat endpoint (vLLM, llama.cpp, Ollama, LM Studio,
  :mod:`cua.models.server`).

Both model backends build the same prompt (:mod:`cua.models.messages`). :mod:`cua.models.tiny`
builds tiny checkpoints offline and :mod:`cua.models.overfit` teaches them fixed replies, for tests.
Names are imported lazily, so ``from cua.models import OpenAIPolicy`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cua.models.openai_policy import OpenAIPolicy
    from cua.models.transformers_policy import TransformersChatModel, TransformersPolicy

_EXPORTS = {
    "OpenAIPolicy": "cua.models.openai_policy",
    "TransformersChatModel": "cua.models.transformers_policy",
    "TransformersPolicy": "cua.models.transformers_policy",
}


def __getattr__(name: str) -> Any:
    """Import an exported class on first use (keeps torch out of light imports)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cua.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["OpenAIPolicy", "TransformersChatModel", "TransformersPolicy"]
