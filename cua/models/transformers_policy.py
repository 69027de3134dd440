"""Local vision-language models through transformers: Qwen2.5-VL- and Qwen3-VL-architecture checkpoints.

:class:`TransformersChatModel` loads a checkpoint directory (``AutoModelForImageTextToText`` +
``AutoProcessor``) and completes neutral chat messages (:mod:`cua.models.messages`); the
loopback server and the overfit routine use it directly. :class:`TransformersPolicy` puts an
output format in front of it: it builds each step's prompt with the format's system prompt and
the history window, generates, and returns the raw text for the format's parser.

Coordinates stay right because one set of resize settings (factor, min/max pixels) is bound into
both the processor and the format (``policy.output_format``), and the message builder hands the
model screenshots already at that size. Pass the format object in ``output_format`` to the
parser, not the registry default, whenever ``min_pixels``/``max_pixels`` were overridden.

Reads only the checkpoint directory; writes nothing (``save`` writes where it is told).
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cua.errors import PolicyError
from cua.models.config import GenerationSettings, with_overrides
from cua.models.messages import (
    Message,
    bind_format,
    build_messages,
    images_of,
    resize_settings,
    resolve_format,
    template_view,
)
from cua.policy import PolicyInput, PolicyOutput

#: ``model_type`` values in config.json this backend loads, with their family names.
SUPPORTED_MODEL_TYPES: dict[str, str] = {"qwen2_5_vl": "Qwen2.5-VL", "qwen3_vl": "Qwen3-VL"}

#: File suffixes whose bytes define what a checkpoint computes (weights, configs, vocabularies).
HASHED_SUFFIXES = (".safetensors", ".bin", ".json", ".jinja", ".txt", ".model", ".tiktoken")


@dataclass(frozen=True)
class Completion:
    """One generated reply and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    finish_reason: Literal["stop", "length"]


def read_checkpoint_config(model_dir: Path) -> dict[str, Any]:
    """Return the checkpoint's config.json after checking it is one this backend loads.

    Raises PolicyError (one line: what is wrong, what to do) for a missing directory, a directory
    without config.json, unreadable JSON, or an unsupported ``model_type``.
    """
    if not model_dir.exists():
        raise PolicyError(
            f"model directory {model_dir} does not exist; pass the directory of a downloaded "
            "checkpoint (or build a tiny one with scripts/build_tiny_model.py)"
        )
    if not model_dir.is_dir():
        raise PolicyError(f"model path {model_dir} is not a directory; pass the checkpoint's directory")
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise PolicyError(
            f"{model_dir} has no config.json, so it is not a transformers checkpoint; pass the directory "
            "that holds config.json and the *.safetensors weights"
        )
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise PolicyError(
            f"cannot read {config_path}: {_first_line(exc)}; re-download the checkpoint"
        ) from exc
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in SUPPORTED_MODEL_TYPES:
        choices = ", ".join(f"{k} ({v})" for k, v in SUPPORTED_MODEL_TYPES.items())
        raise PolicyError(
            f"{model_dir} holds a {model_type!r} model, which this backend does not load; use a checkpoint "
            f"of {choices}, or serve it with vLLM and use OpenAIPolicy"
        )
    assert isinstance(config, dict)
    return config


def _first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message (PolicyError messages are one line)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _hashed_files(model_dir: Path) -> list[Path]:
    return sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in HASHED_SUFFIXES)


def _stat_signature(files: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in files:
        st = p.stat()
        out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


_HASH_CACHE: dict[str, tuple[tuple[tuple[str, int, int], ...], str]] = {}
_HASH_LOCK = threading.Lock()


def checkpoint_hash(model_dir: Path) -> str:
    """Return a sha256 over the names and bytes of the checkpoint's weight, config and vocabulary files.

    Cached per process by directory and the files' (name, size, mtime), so a changed file is
    hashed again and an unchanged multi-gigabyte checkpoint is read once.
    """
    model_dir = Path(model_dir).resolve()
    files = _hashed_files(model_dir)
    signature = _stat_signature(files)
    key = str(model_dir)
    with _HASH_LOCK:
        cached = _HASH_CACHE.get(key)
        if cached and cached[0] == signature:
            return cached[1]
    digest = hashlib.sha256()
    for p in files:
        digest.update(p.name.encode() + b"\0" + str(p.stat().st_size).encode() + b"\0")
        with p.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    value = digest.hexdigest()
    with _HASH_LOCK:
        _HASH_CACHE[key] = (signature, value)
    return value


class TransformersChatModel:
    """A local Qwen-VL checkpoint that completes neutral chat messages (thread-safe, one at a time).

    ``min_pixels``/``max_pixels`` pin the image processor's resize range (None: keep the
    checkpoint's ``preprocessor`` settings). ``dtype`` is ``"auto"`` (the checkpoint's own) or a
    torch dtype name such as ``"float32"`` or ``"bfloat16"``.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        device: str = "cpu",
        dtype: str = "auto",
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> None:
        self.model_dir = Path(model_dir).expanduser().resolve()
        config = read_checkpoint_config(self.model_dir)
        self.model_type: str = str(config["model_type"])
        self.device = device
        self._signature = _stat_signature(_hashed_files(self.model_dir))
        self._lock = threading.Lock()
        import torch

        # transformers' loaders are untyped; use them through Any.
        tf: Any = importlib.import_module("transformers")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise PolicyError(f"device {device!r} was asked for but CUDA is not available; use device='cpu'")
        torch_dtype: Any = dtype if dtype == "auto" else getattr(torch, dtype, None)
        if torch_dtype is None:
            raise PolicyError(f"unknown dtype {dtype!r}; use 'auto', 'float32', 'bfloat16' or 'float16'")
        try:
            self.processor: Any = tf.AutoProcessor.from_pretrained(self.model_dir)
            self.model: Any = tf.AutoModelForImageTextToText.from_pretrained(
                self.model_dir, dtype=torch_dtype
            )
            self.model.to(device)
        except Exception as exc:  # safetensors, torch and transformers each raise their own types
            raise PolicyError(
                f"cannot load the checkpoint in {self.model_dir}: {_first_line(exc)}; "
                "check that its weights and processor files are complete"
            ) from exc
        self.model.eval()
        if not getattr(self.processor, "chat_template", None):
            raise PolicyError(
                f"{self.model_dir} has no chat template (chat_template.jinja or chat_template.json); "
                "copy it from the original model repository"
            )
        image_processor = self.processor.image_processor
        self.factor: int = int(image_processor.patch_size) * int(image_processor.merge_size)
        size = image_processor.size
        self.min_pixels: int = int(min_pixels if min_pixels is not None else size.shortest_edge)
        self.max_pixels: int = int(max_pixels if max_pixels is not None else size.longest_edge)
        if not 0 < self.min_pixels <= self.max_pixels:
            raise PolicyError(
                f"min_pixels {self.min_pixels} and max_pixels {self.max_pixels} must satisfy 0 < min <= max"
            )
        size_dict: Any = importlib.import_module("transformers.image_utils").SizeDict
        image_processor.size = size_dict(shortest_edge=self.min_pixels, longest_edge=self.max_pixels)

    @property
    def name(self) -> str:
        """The checkpoint directory's name (what the loopback server calls the model)."""
        return self.model_dir.name

    def checkpoint_hash(self) -> str:
        """Return the checkpoint's content hash; PolicyError if its files changed since loading."""
        if _stat_signature(_hashed_files(self.model_dir)) != self._signature:
            raise PolicyError(
                f"the files in {self.model_dir} changed after the model was loaded; load the policy again"
            )
        return checkpoint_hash(self.model_dir)

    def encode(self, messages: Sequence[Message]) -> Any:
        """Return the processor's tensors for ``messages`` followed by an open assistant turn.

        Token ids, ``mm_token_type_ids`` (needed for multimodal RoPE), pixels and image grids.
        """
        prompt = self.processor.apply_chat_template(
            template_view(messages), add_generation_prompt=True, tokenize=False
        )
        images = images_of(messages)
        return self.processor(text=[prompt], images=images or None, return_tensors="pt")

    def to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``batch`` moved to the model's device, with float tensors in the model's dtype."""
        out: dict[str, Any] = {}
        for key, value in batch.items():
            if hasattr(value, "to"):
                value = value.to(self.model.device)
                if value.is_floating_point():
                    value = value.to(self.model.dtype)
            out[key] = value
        return out

    def complete(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings,
        should_stop: Callable[[], bool] | None = None,
    ) -> Completion:
        """Generate the assistant's reply to ``messages``; PolicyError if generation fails.

        ``should_stop`` is asked between tokens; when it says so, generation ends there (the
        server uses it to stop computing a reply whose client hung up).
        """
        import torch

        with self._lock:
            started = time.perf_counter()
            try:
                batch = self.to_device(self.encode(messages))
            except (ValueError, TypeError) as exc:
                raise PolicyError(
                    f"the processor of {self.model_dir} rejected the prompt: {_first_line(exc)}"
                ) from exc
            gen = copy.deepcopy(self.model.generation_config)
            gen.max_new_tokens = settings.max_new_tokens
            gen.do_sample = settings.temperature > 0
            if gen.do_sample:
                gen.temperature = settings.temperature
                gen.top_p = settings.top_p
            else:
                gen.temperature = None
                gen.top_p = None
                gen.top_k = None
            prompt_len = int(batch["input_ids"].shape[1])
            # Seed a private copy of the RNG state, so sampling here never shifts anyone else's draws.
            device = self.model.device
            devices = [device.index or 0] if device.type == "cuda" else []
            try:
                with torch.random.fork_rng(devices=devices), torch.inference_mode():
                    torch.manual_seed(settings.seed)
                    extra = {"stopping_criteria": _stop_when(should_stop)} if should_stop else {}
                    out = self.model.generate(**batch, generation_config=gen, **extra)
            except (RuntimeError, ValueError, IndexError, TypeError) as exc:
                raise PolicyError(f"generation with {self.model_dir} failed: {_first_line(exc)}") from exc
            new = out[0, prompt_len:].tolist()
            eos = gen.eos_token_id
            eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
            stopped = False
            for n, tok in enumerate(new):
                if tok in eos_ids:
                    new = new[: n + 1]
                    stopped = True
                    break
            text = self.processor.tokenizer.decode(new, skip_special_tokens=True)
            return Completion(
                text=text,
                prompt_tokens=prompt_len,
                completion_tokens=len(new),
                latency_ms=(time.perf_counter() - started) * 1000.0,
                finish_reason="stop" if stopped else "length",
            )

    def save(self, out_dir: str | Path) -> Path:
        """Save the (possibly fine-tuned) model and processor, with the pinned pixels, into ``out_dir``."""
        path = Path(out_dir)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        self.processor.save_pretrained(path)
        return path


class TransformersPolicy:
    """A :class:`~cua.policy.Policy` running a local Qwen2.5-VL / Qwen3-VL checkpoint.

    ``format_name`` is a ``cua.formats`` registry name (``ui-tars-1.5``, ``qwen2.5-vl``,
    ``qwen3-vl``, ``pyautogui``...). Resize settings: ``min_pixels``/``max_pixels`` when given,
    else the format's pinned values, else the checkpoint processor's; the factor is always the
    checkpoint's (patch size x merge size). ``history_screenshots`` earlier screenshots are shown
    as images, older steps as text. ``generation`` says how to decode (default: greedy, 256 new
    tokens); ``max_new_tokens``, ``temperature``, ``top_p`` and ``seed``, when given, override its
    fields. Sampling is seeded with ``seed + step`` so a run is reproducible.
    """

    def __init__(
        self,
        model_dir: str | Path,
        format_name: str,
        *,
        history_screenshots: int = 2,
        generation: GenerationSettings | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        seed: int | None = None,
        device: str = "cpu",
        dtype: str = "auto",
        name: str | None = None,
    ) -> None:
        try:
            fmt = resolve_format(format_name)
            self.settings = with_overrides(
                generation, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
            )
        except ValueError as exc:
            raise PolicyError(f"{exc}") from None
        if history_screenshots < 0:
            raise PolicyError(f"history_screenshots must be >= 0, got {history_screenshots}")
        pinned = resize_settings(fmt)
        self.model = TransformersChatModel(
            model_dir,
            device=device,
            dtype=dtype,
            min_pixels=min_pixels if min_pixels is not None else pinned.get("min_pixels"),
            max_pixels=max_pixels if max_pixels is not None else pinned.get("max_pixels"),
        )
        self.output_format = bind_format(
            fmt, factor=self.model.factor, min_pixels=self.model.min_pixels, max_pixels=self.model.max_pixels
        )
        self.format_name = fmt.name
        self.history_screenshots = history_screenshots
        self.name = name or f"transformers:{self.model.name}"

    def messages(self, inp: PolicyInput) -> list[Message]:
        """Return the prompt this policy sends for ``inp`` (also what overfitting trains on)."""
        return build_messages(inp, self.output_format, history_screenshots=self.history_screenshots)

    def act(self, inp: PolicyInput) -> PolicyOutput:
        """Generate the next reply; PolicyError if the model cannot."""
        done = self.model.complete(self.messages(inp), self.settings.for_step(inp.step))
        usage = {
            "prompt_tokens": done.prompt_tokens,
            "completion_tokens": done.completion_tokens,
            "latency_ms": done.latency_ms,
        }
        return PolicyOutput(text=done.text, usage=usage)

    def provenance(self) -> dict[str, Any]:
        """Describe the model exactly: checkpoint hash, format, resize and generation settings."""
        return {
            "backend": "transformers",
            "model_dir": str(self.model.model_dir),
            "model_type": self.model.model_type,
            "checkpoint_sha256": self.model.checkpoint_hash(),
            "format": self.output_format.name,
            "format_version": self.output_format.version,
            "factor": self.model.factor,
            "min_pixels": self.model.min_pixels,
            "max_pixels": self.model.max_pixels,
            "history_screenshots": self.history_screenshots,
            "generation": self.settings.to_json(),
            "dtype": str(self.model.model.dtype).removeprefix("torch."),
            "device": self.model.device,
        }


__all__ = [
    "HASHED_SUFFIXES",
    "SUPPORTED_MODEL_TYPES",
    "Completion",
    "GenerationSettings",
    "TransformersChatModel",
    "TransformersPolicy",
    "checkpoint_hash",
    "read_checkpoint_config",
]


def _stop_when(check: Callable[[], bool]) -> Any:
    """Return a transformers StoppingCriteriaList that ends every sequence once ``check()`` is true."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Interrupt(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), check(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([Interrupt()])
