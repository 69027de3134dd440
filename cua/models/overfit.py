"""Overfit a (tiny) checkpoint until greedy decoding reproduces given replies exactly.

Tests and demos need a model that really runs through transformers and still emits a known,
valid action in a given format. This routine takes (prompt messages, target text) examples,
fully fine-tunes the loaded model on them, supervising only the assistant tokens (the target
and the end-of-turn token), and stops as soon as every target token wins by a logit margin
under teacher forcing *and* greedy generation reproduces every target; margin first because it
is free (the training forward pass computes it), generation last because it is the real check.

Recipe (the 64-wide, 2-layer tiny models on two CPU cores): full fine-tuning, AdamW, lr 1e-2,
no weight decay, full batch, margin 2.0. One demo example (a 470-920-token prompt) takes 50-110
steps, 1-9 s on an idle machine; two examples of an episode about 4 s. Writes nothing itself; use
``TransformersChatModel.save`` to keep the result.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from cua.errors import TrainingError
from cua.formats import OutputFormat
from cua.models.messages import Message
from cua.models.transformers_policy import GenerationSettings, TransformersChatModel
from cua.policy import PolicyInput


@dataclass(frozen=True)
class OverfitExample:
    """One prompt (neutral messages, as the policy builds them) and the exact reply to learn."""

    messages: Sequence[Message]
    target: str


@dataclass(frozen=True)
class OverfitConfig:
    """Optimiser and stopping settings."""

    lr: float = 1e-2
    """AdamW learning rate (no weight decay: the point is to memorise)."""
    max_steps: int = 400
    """Give up (TrainingError) after this many full-batch steps."""
    margin: float = 2.0
    """Each target token's logit must beat every other token's by this much under teacher forcing."""
    time_limit_s: float = 300.0
    """Give up (TrainingError) after this many seconds."""
    seed: int = 0
    """Seed of torch's global RNG before training."""


@dataclass
class OverfitResult:
    """What training took and what the model now generates."""

    steps: int
    seconds: float
    loss: float
    outputs: list[str] = field(default_factory=list)


def _training_batch(model: TransformersChatModel, example: OverfitExample) -> tuple[dict[str, Any], Any]:
    """Return (model inputs for prompt + target, labels with -100 on the prompt)."""
    import torch

    enc = model.encode(example.messages)
    tokenizer = model.processor.tokenizer
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    target = tokenizer(example.target, add_special_tokens=False, return_tensors="pt").input_ids
    target = torch.cat([target, torch.tensor([[end]])], dim=1)
    ids = torch.cat([enc["input_ids"], target], dim=1)
    labels = torch.cat([torch.full_like(enc["input_ids"], -100), target], dim=1)
    batch: dict[str, Any] = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if "mm_token_type_ids" in enc:
        batch["mm_token_type_ids"] = torch.cat([enc["mm_token_type_ids"], torch.zeros_like(target)], dim=1)
    for key in ("pixel_values", "image_grid_thw"):
        if key in enc:
            batch[key] = enc[key]
    return model.to_device(batch), labels.to(model.model.device)


def overfit(
    model: TransformersChatModel,
    examples: Sequence[OverfitExample],
    config: OverfitConfig | None = None,
) -> OverfitResult:
    """Train ``model`` in place until greedy decoding reproduces every example's target.

    Raises TrainingError naming the examples still wrong when ``max_steps`` or ``time_limit_s``
    runs out. The model is left in eval mode either way.
    """
    import torch

    config = config or OverfitConfig()
    if not examples:
        raise ValueError("overfit needs at least one example")
    torch.manual_seed(config.seed)
    batches = [_training_batch(model, ex) for ex in examples]
    net = model.model
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=0.0)
    greedy = GenerationSettings(max_new_tokens=max(int(lb.shape[1]) for _, lb in batches) + 8)
    started = time.perf_counter()
    loss_value = float("inf")
    outputs: list[str] = []
    try:
        for step in range(1, config.max_steps + 1):
            net.train()
            optimiser.zero_grad(set_to_none=True)
            total = 0.0
            confident = 0
            for inputs, labels in batches:
                logits = net(**inputs).logits[0, :-1].float()
                wanted = labels[0, 1:]
                mask = wanted != -100
                scores, gold = logits[mask], wanted[mask]
                loss = torch.nn.functional.cross_entropy(scores, gold)
                (loss / len(batches)).backward()  # type: ignore[no-untyped-call]
                total += float(loss.detach())
                with torch.no_grad():
                    gold_score = scores.gather(1, gold[:, None])[:, 0]
                    rival = scores.scatter(1, gold[:, None], float("-inf")).max(dim=1).values
                    confident += bool(((gold_score - rival) > config.margin).all())
            loss_value = total / len(batches)
            if confident == len(batches):
                net.eval()
                outputs = [model.complete(ex.messages, greedy).text for ex in examples]
                if all(out == ex.target for out, ex in zip(outputs, examples, strict=True)):
                    return OverfitResult(step, time.perf_counter() - started, loss_value, outputs)
            optimiser.step()
            if time.perf_counter() - started > config.time_limit_s:
                break
        net.eval()
        outputs = [model.complete(ex.messages, greedy).text for ex in examples]
        wrong = [i for i, (o, ex) in enumerate(zip(outputs, examples, strict=True)) if o != ex.target]
        if not wrong:
            return OverfitResult(config.max_steps, time.perf_counter() - started, loss_value, outputs)
        raise TrainingError(
            f"overfitting stopped after {time.perf_counter() - started:.1f}s (loss {loss_value:.4f}) with "
            f"examples {wrong} still wrong, e.g. {outputs[wrong[0]]!r} "
            f"instead of {examples[wrong[0]].target!r}; "
            "raise max_steps or lr, or make the prompts differ more"
        )
    finally:
        net.eval()


#: Where the demo screen's OK button is (its centre, in screen pixels of a 1280x800 screen).
DEMO_OK_CENTRE = (640, 400)


def demo_screen(size: tuple[int, int] = (1280, 800)) -> Image.Image:
    """Return a synthetic screenshot: a grey desktop with a dialog and a blue OK button in the centre."""
    img = Image.new("RGB", size, (236, 236, 236))
    draw = ImageDraw.Draw(img)
    cx, cy = size[0] // 2, size[1] // 2
    draw.rectangle((cx - 220, cy - 140, cx + 220, cy + 60), fill=(255, 255, 255), outline=(80, 80, 80))
    draw.rectangle((cx - 60, cy - 20, cx + 60, cy + 20), fill=(30, 90, 200))
    draw.text((cx - 10, cy - 6), "OK", fill=(255, 255, 255))
    return img


def demo_input(instruction: str = "Click the OK button.") -> PolicyInput:
    """Return the demo step: :func:`demo_screen` on a 1280x800 screen, no history."""
    shot = demo_screen()
    return PolicyInput(instruction=instruction, screenshot=shot, screen_size=shot.size)


def demo_target(output_format: OutputFormat, screen: tuple[int, int] = (1280, 800)) -> str:
    """Return the demo reply in ``output_format``: a thought, then a click on the OK button.

    Written by the format's own ``render``, so its coordinates are in the format's space (pass the
    format bound to the policy's resize settings) and its parser maps them back onto the button.
    """
    from cua.actions import Click

    return output_format.render([Click(*DEMO_OK_CENTRE)], screen, screen, thought="I click OK.")


@dataclass(frozen=True)
class FittedModel:
    """A checkpoint overfit on the demo step, and how to call it so it gives the target back."""

    model_dir: Path
    format_name: str
    min_pixels: int
    max_pixels: int
    target: str
    result: OverfitResult


def fit_demo(
    model_dir: Path,
    format_name: str,
    out_dir: Path,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    config: OverfitConfig | None = None,
) -> FittedModel:
    """Overfit the checkpoint in ``model_dir`` on the demo step in ``format_name``; save it to ``out_dir``.

    Resize settings default to the checkpoint processor's own (for a tiny checkpoint: a few dozen
    patches), and are saved with the processor; a ``TransformersPolicy`` for ``out_dir`` given
    the returned ``min_pixels``/``max_pixels`` answers :func:`demo_input` with ``target``.
    """
    from cua.models.transformers_policy import TransformersPolicy

    if min_pixels is None or max_pixels is None:
        tf: Any = importlib.import_module("transformers")
        size = tf.AutoImageProcessor.from_pretrained(model_dir).size
        min_pixels = int(size.shortest_edge) if min_pixels is None else min_pixels
        max_pixels = int(size.longest_edge) if max_pixels is None else max_pixels
    policy = TransformersPolicy(model_dir, format_name, min_pixels=min_pixels, max_pixels=max_pixels)
    target = demo_target(policy.output_format)
    result = overfit(policy.model, [OverfitExample(policy.messages(demo_input()), target)], config)
    policy.model.save(out_dir)
    return FittedModel(Path(out_dir), policy.format_name, min_pixels, max_pixels, target, result)


__all__ = [
    "DEMO_OK_CENTRE",
    "FittedModel",
    "OverfitConfig",
    "OverfitExample",
    "OverfitResult",
    "demo_input",
    "demo_screen",
    "demo_target",
    "fit_demo",
    "overfit",
]
