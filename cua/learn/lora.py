"""LoRA fine-tuning of Qwen2.5-VL / Qwen3-VL checkpoints on policy steps, with TRL's ``SFTTrainer``.

One training example is one step of the agent: the prompt exactly as :class:`TransformersPolicy`
builds it at run time (``cua.models.messages.build_messages``: the format's system prompt, the
history window, the screenshot at the size the format says the model sees) and the reply in the
policy's output format (:func:`render_reply` writes one from typed actions with the format's own
``render``). :func:`train_lora` turns the examples into a conversational *prompt-completion*
``datasets.Dataset`` (``prompt``: messages whose images are ``{"type": "image"}`` placeholders,
``completion``: the assistant message, ``images``: the screenshots in prompt order) and trains
with ``trl.SFTTrainer`` and a ``peft.LoraConfig``:

- TRL (1.16) sees the ``images`` column, skips its tokenizing pass and collates on the fly with
  ``DataCollatorForVisionLanguageModeling``: it renders prompt and prompt + completion with the
  processor's chat template, takes the completion as the text after the prompt (the reply, then
  ``<|im_end|>`` and a newline), runs the processor on the prompt with the images (left-padded) and
  on the completion alone, concatenates them and, with ``completion_only_loss=True``, sets the
  labels of every prompt token to -100. The loss is on the reply and its end-of-turn token only.
  Qwen's ``mm_token_type_ids`` (multimodal RoPE) are carried through by that collator.
- LoRA goes on the language model only: the default targets are the attention and MLP
  projections *under the module named* ``language_model`` (resolved to full module names by
  :func:`lora_targets`), because a bare ``gate_proj``/``up_proj``/``down_proj`` would also match
  Qwen2.5-VL's vision tower, whose MLP blocks use the same names. The vision tower, the merger,
  the embeddings and the LM head stay frozen.
- The model and processor are loaded by :class:`TransformersChatModel`, the class the policy
  runs: the same dtype handling and the same pinned ``min_pixels``/``max_pixels``, so the
  processor treats a training screenshot as it treats it at run time.

Files under ``out`` (this module writes nowhere else)::

    out/run.json                  what the run is (base hash, examples hash, settings): resume checks it
    out/checkpoints/checkpoint-N  Trainer checkpoints (adapter, optimiser, scheduler, RNG, log history)
    out/adapter/                  adapter_model.safetensors + adapter_config.json + lora_manifest.json

A second :func:`train_lora` call with ``resume=True`` continues from the last checkpoint (with a
larger ``max_steps``/``epochs`` it trains on; with the same it only writes the adapter again).
:func:`load_lora_policy` merges the adapter into a full checkpoint directory next to it and
returns a plain :class:`TransformersPolicy` for it: the policy's ``provenance()`` then hashes the
weights that really run, and nothing in the policy needed to change.

Where the examples come from (:func:`lora_examples`): the agent's own verified experience only.
Every run in the trajectory store whose task is one that exploration synthesized (its
``task_hash`` is the hash of a task file ``explore.sqlite`` lists) and that a validator verdict
calls a success gives one example per recorded agent step with actions: the prompt rebuilt with
the agent loop's own ``policy_input`` from the recorded screenshots and outputs, the reply
rendered from the recorded actions. Runs of any other task (a built-in task, a person's
instruction) are skipped and counted: built-in tasks stay evaluation only. ``cua train-lora``
(``cua.cli.train_lora``) runs all of this.

Heavy libraries (torch, transformers, peft, trl, datasets) are imported inside the functions, so
importing this module is cheap; only the ``cua train-lora`` command imports it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from cua.actions import Action, ActionError, recorded_actions
from cua.agent.loop import policy_input
from cua.errors import PolicyError, TrainingError
from cua.formats import OutputFormat, ParseError, RenderError
from cua.learn.dataset import synthesized_tasks
from cua.models.messages import (
    Message,
    bind_format,
    build_messages,
    images_of,
    resize_settings,
    resolve_format,
    template_view,
)
from cua.models.transformers_policy import TransformersChatModel, TransformersPolicy, checkpoint_hash
from cua.policy import HistoryItem, PolicyInput
from cua.store import Actor, Run, ScreenshotMissing, TrajectoryStore, VerdictSource
from cua.store import Step as StoreStep
from sandbox.base import Observation

#: The language model's attention and MLP projections in Qwen2.5-VL and Qwen3-VL (leaf names).
DEFAULT_TARGET_MODULES: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)
#: The submodule of a Qwen-VL model that holds the language model (``model.language_model``).
LANGUAGE_MODEL = "language_model"
#: Written into the adapter directory beside the adapter weights.
MANIFEST_FILE = "lora_manifest.json"
#: Written into ``out``: what the run trains, so that resuming a different run is refused.
RUN_FILE = "run.json"
#: Written into a merged checkpoint: which base and adapter it was merged from.
MERGED_FROM_FILE = "merged_from.json"


@dataclass(frozen=True)
class LoraTrainConfig:
    """How one LoRA run goes: the adapter's shape, the optimiser, the schedule, the files."""

    rank: int = 8
    """LoRA rank ``r`` of every adapted projection."""
    alpha: int = 16
    """LoRA scaling numerator: the update is ``(alpha / rank) * B @ A``."""
    dropout: float = 0.0
    """Dropout on the adapter's input during training."""
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    """Leaf names of the linear layers to adapt, matched only under the language model
    (:func:`lora_targets`); the vision tower is never adapted, whatever the names."""
    learning_rate: float = 2e-4
    """AdamW peak learning rate (linear decay to 0 over the run, no warm-up: Trainer's default)."""
    epochs: int = 1
    """Passes over the examples; ignored when ``max_steps`` is set."""
    max_steps: int | None = None
    """Optimiser steps in all (counting steps of earlier, resumed calls); None: from ``epochs``."""
    batch_size: int = 1
    """Examples per forward pass."""
    grad_accum: int = 1
    """Forward passes per optimiser step (effective batch: ``batch_size * grad_accum``)."""
    seed: int = 0
    """Seed of the adapter's initialisation and of the data order."""
    save_steps: int = 50
    """A checkpoint under ``out/checkpoints`` every this many optimiser steps, and at the end."""
    save_total_limit: int | None = 2
    """Keep at most this many checkpoints (oldest deleted); None keeps all."""
    min_pixels: int | None = None
    """Smallest image area the processor resizes to; None: the checkpoint processor's own. Must be
    what the policy serving the adapter uses (:func:`load_lora_policy` reads it back)."""
    max_pixels: int | None = None
    """Largest image area the processor resizes to; None: the checkpoint processor's own."""
    dtype: str = "auto"
    """Weights' dtype when loading the base: ``auto`` (the checkpoint's), ``float32``, ``bfloat16``."""
    bf16: bool | None = None
    """bf16 mixed precision; None: on when CUDA with bf16 support is present, off on a CPU."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (saves memory on big models; slower)."""

    def __post_init__(self) -> None:
        positive = {
            "rank": self.rank,
            "alpha": self.alpha,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "grad_accum": self.grad_accum,
            "save_steps": self.save_steps,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"LoraTrainConfig.{name} must be >= 1, got {value}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"LoraTrainConfig.max_steps must be >= 1 or None, got {self.max_steps}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoraTrainConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.learning_rate <= 0:
            raise ValueError(f"LoraTrainConfig.learning_rate must be > 0, got {self.learning_rate}")
        if not self.target_modules:
            raise ValueError("LoraTrainConfig.target_modules must name at least one module")

    def run_settings(self) -> dict[str, Any]:
        """Return the settings that define the run (resuming with other values is refused).

        How long the run goes (``epochs``, ``max_steps``) and how often it saves may change
        between calls: that is how a resumed run trains on.
        """
        keep = ("epochs", "max_steps", "save_steps", "save_total_limit")
        return {k: v for k, v in asdict(self).items() if k not in keep}


@dataclass(frozen=True)
class SFTExample:
    """One policy step to learn: what the policy was shown and the reply it should give."""

    images: list[Image.Image]
    """The images of the prompt in prompt order (the screenshot(s) the policy saw, at model size)."""
    prompt_messages: list[Message]
    """The chat messages exactly as the policy builds them at run time (``build_messages``)."""
    completion: str
    """The reply in the policy's output format (thought and action), without end-of-turn token."""

    def __post_init__(self) -> None:
        if not self.completion.strip():
            raise ValueError("SFTExample.completion is empty: give the reply the policy should learn")
        if not self.prompt_messages or self.prompt_messages[-1]["role"] != "user":
            raise ValueError("SFTExample.prompt_messages must end with the user turn the reply answers")
        shown = images_of(self.prompt_messages)
        if len(shown) != len(self.images):
            raise ValueError(
                f"SFTExample has {len(self.images)} images but its prompt shows {len(shown)}; "
                "pass images_of(prompt_messages)"
            )


def _bound_format(
    format_name: str, *, factor: int | None, min_pixels: int | None, max_pixels: int | None
) -> OutputFormat:
    """Return the format bound to the resize settings, as TransformersPolicy binds it."""
    return bind_format(
        resolve_format(format_name), factor=factor, min_pixels=min_pixels, max_pixels=max_pixels
    )


def example_from_step(
    inp: PolicyInput,
    reply: str,
    format_name: str,
    *,
    history_screenshots: int = 2,
    factor: int | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> SFTExample:
    """Return the training example for one step: ``inp``'s prompt as the policy builds it, and ``reply``.

    The prompt comes from ``cua.models.messages.build_messages``, the function
    ``TransformersPolicy.messages`` calls, with the format bound the way the policy binds it. The
    resize settings default to the format's pinned ones (a ``TransformersPolicy`` given no
    ``min_pixels``/``max_pixels`` uses the same); pass the values the serving policy uses when
    they differ (a tiny checkpoint's processor, a ``--max-pixels`` override), and the same
    ``min_pixels``/``max_pixels`` in :class:`LoraTrainConfig`. ``factor`` is the checkpoint's
    patch size times merge size; None keeps the format's (28 for Qwen2.5-VL, 32 for Qwen3-VL).
    """
    fmt = _bound_format(format_name, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    messages = build_messages(inp, fmt, history_screenshots=history_screenshots)
    return SFTExample(images=images_of(messages), prompt_messages=messages, completion=reply)


def render_reply(
    actions: Sequence[Action],
    inp: PolicyInput,
    format_name: str,
    *,
    thought: str = "",
    factor: int | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> str:
    """Return ``actions`` written as the policy's reply to ``inp`` in ``format_name`` (its ``render``).

    Coordinates land in the space the model sees for ``inp``'s screenshot, so bind the resize
    settings as in :func:`example_from_step`. RenderError for an action the format cannot express.
    """
    fmt = _bound_format(format_name, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    return fmt.render(actions, inp.screen_size, inp.screenshot.size, thought=thought)


# -- examples from the agent's own verified experience -------------------------------------------

#: The feedback the agent loop gives after an output it could not parse (``Agent._agent_step``).
#: The store keeps the parse error, so the next prompt's feedback is rebuilt from it.
PARSE_FEEDBACK = "Your last output could not be parsed: {}"
#: Counts :func:`lora_examples` always reports; ``steps skipped: ...`` and ``task files skipped:
#: ...`` counts appear when something was skipped, keyed by why.
RUNS_USED = "runs used"
RUNS_NOT_SYNTHESIZED = "runs skipped: task not synthesized"
RUNS_NOT_VERIFIED = "runs skipped: not a validator-verified success"
STEPS = "steps"


def serving_resize(
    checkpoint: Path, format_name: str, *, min_pixels: int | None = None, max_pixels: int | None = None
) -> dict[str, int]:
    """Return the ``factor``/``min_pixels``/``max_pixels`` a policy serving ``checkpoint`` resizes with.

    Decided as :class:`TransformersPolicy` decides them: the given pixels, else the format's pinned
    ones, else the checkpoint processor's; the factor is the processor's patch size times its
    merge size. Pass them to :func:`lora_examples` (and the pixels to :class:`LoraTrainConfig`) so
    that the examples show the screenshots at the size the adapted policy sees them. Reads the
    image processor only; PolicyError when ``checkpoint`` has none.
    """
    pinned = resize_settings(resolve_format(format_name))
    tf: Any = importlib.import_module("transformers")
    try:
        processor = tf.AutoImageProcessor.from_pretrained(str(Path(checkpoint).expanduser()))
    except (OSError, ValueError) as exc:
        raise PolicyError(
            f"cannot read an image processor in {checkpoint} ({exc}); "
            "pass a local Qwen-VL checkpoint directory"
        ) from exc
    size = processor.size
    low = min_pixels if min_pixels is not None else pinned.get("min_pixels", int(size.shortest_edge))
    high = max_pixels if max_pixels is not None else pinned.get("max_pixels", int(size.longest_edge))
    factor = int(processor.patch_size) * int(processor.merge_size)
    return {"factor": factor, "min_pixels": int(low), "max_pixels": int(high)}


def _verified_success(run: Run) -> bool:
    """Return whether the run's current verdict is a validator's and says success."""
    verdict = run.verdict
    return verdict is not None and verdict.source == VerdictSource.VALIDATOR and verdict.success is True


def _thought_of(text: str | None, inp: PolicyInput, fmt: OutputFormat) -> str | None:
    """Return the thought of ``text`` when it is a reply in ``fmt``, else None."""
    if not text:
        return None
    try:
        return fmt.parse(text, inp.screen_size, inp.screenshot.size).thought
    except ParseError:
        return None


@dataclass(frozen=True)
class _Resize:
    """The resize settings the examples are bound to (``example_from_step``'s keywords)."""

    factor: int | None
    min_pixels: int | None
    max_pixels: int | None

    def kwargs(self) -> dict[str, int | None]:
        return {"factor": self.factor, "min_pixels": self.min_pixels, "max_pixels": self.max_pixels}


def _step_reply(
    step: StoreStep, inp: PolicyInput, format_name: str, thought: str, resize: _Resize, counts: Counter[str]
) -> str | None:
    """Return the step's actions as a reply in ``format_name``; None (counted why) when it has none."""
    try:
        actions = recorded_actions(step.action)
    except ActionError:
        counts["steps skipped: unreadable action"] += 1
        return None
    if not actions:
        why = "the output did not parse" if step.parse_error is not None else "none recorded"
        counts[f"steps skipped: no action ({why})"] += 1
        return None
    try:
        return render_reply(actions, inp, format_name, thought=thought, **resize.kwargs())
    except RenderError as exc:
        counts[f"steps skipped: cannot render ({exc})"] += 1
        return None


def _run_examples(
    store: TrajectoryStore,
    run: Run,
    format_name: str,
    history_screenshots: int,
    resize: _Resize,
    counts: Counter[str],
) -> list[SFTExample]:
    """Return the examples of one verified run's agent steps, rebuilding each prompt as the loop built it.

    The loop's history holds every earlier agent step: its output as the model wrote it (the
    recorded raw output when the run spoke ``format_name`` and the output is a reply in it; else
    the step rendered in ``format_name``, what a model of that format would have written), its
    screenshot and the feedback after it. ScreenshotMissing when a screenshot is gone.
    """
    fmt = _bound_format(format_name, **resize.kwargs())
    same_format = run.provenance.prompt_format == fmt.name
    history: list[HistoryItem] = []
    feedback: str | None = None
    after_person = False
    out: list[SFTExample] = []
    for step in store.steps(run.id):
        if step.actor is Actor.PERSON:
            counts["steps skipped: a person's step"] += 1
            after_person = True
            continue
        shot = store.screenshot(step.screenshot)
        obs = Observation(shot, (0, 0), step.window_title, True)
        inp = policy_input(run.instruction, obs, history, history_screenshots, feedback, step=len(history))
        thought = _thought_of(step.raw_output, inp, fmt) if same_format else None
        reply = _step_reply(step, inp, format_name, thought or "", resize, counts)
        if reply is not None and after_person:
            # The loop told the model what the person did; the store does not keep that feedback.
            counts["steps skipped: first after a person's take-over"] += 1
        elif reply is not None:
            out.append(
                example_from_step(
                    inp, reply, format_name, history_screenshots=history_screenshots, **resize.kwargs()
                )
            )
            counts[STEPS] += 1
        said = step.raw_output if thought is not None else reply
        feedback = None if step.parse_error is None else PARSE_FEEDBACK.format(step.parse_error)
        history.append(HistoryItem(said if said is not None else step.raw_output or "", shot, feedback))
        after_person = False
        # policy_input shows the last history_screenshots - 1 screenshots: let go of the one that left.
        gone = len(history) - max(history_screenshots - 1, 0) - 1
        if gone >= 0 and history[gone].screenshot is not None:
            history[gone] = replace(history[gone], screenshot=None)
    return out


def lora_examples(
    store: TrajectoryStore,
    listed: Iterable[tuple[str, str]],
    format_name: str,
    *,
    history_screenshots: int = 2,
    factor: int | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> tuple[list[SFTExample], dict[str, int]]:
    """Return the LoRA examples of the store's verified runs of synthesized tasks, and what was counted.

    ``listed`` holds the (task file, change kind) pairs the exploration database lists
    (``cua.explore.rounds.listed_tasks``): a run is used only when its ``task_hash`` is one of those
    tasks' and its current verdict is a validator's saying success. Every other run (a built-in
    task, a person's instruction, a failure, a run judged only by a model or a person) is skipped
    and counted. Each agent step with actions of a used run becomes one example: the prompt from
    the loop's own ``policy_input`` (instruction, the step's screenshot, the history of earlier
    steps and the parse-error feedback, as :func:`_run_examples` says; no memory) and the reply
    rendered from the recorded actions in ``format_name`` (with the model's own thought when the
    run spoke that format). Steps without actions, with actions the format cannot write, a
    person's steps and the first step after a person's take-over are skipped and counted by why.
    Feedback the store does not record (a refused action, a loop warning, a user's answer) is
    absent from the rebuilt prompts.

    The resize keywords are :func:`example_from_step`'s: pass :func:`serving_resize`'s values for
    the checkpoint to train. The counts hold :data:`RUNS_USED`, :data:`RUNS_NOT_SYNTHESIZED`,
    :data:`RUNS_NOT_VERIFIED`, :data:`STEPS` and ``... skipped: <why>`` entries.
    """
    tasks, unreadable = synthesized_tasks(listed)
    known = {st.hash for st in tasks}
    resize = _Resize(factor, min_pixels, max_pixels)
    counts: Counter[str] = Counter({RUNS_USED: 0, RUNS_NOT_SYNTHESIZED: 0, RUNS_NOT_VERIFIED: 0, STEPS: 0})
    for why, n in unreadable.items():
        counts[f"task files skipped: {why}"] += n
    examples: list[SFTExample] = []
    for run in reversed(store.list_runs()):  # oldest first
        if run.task_hash is None or run.task_hash not in known:
            counts[RUNS_NOT_SYNTHESIZED] += 1
        elif not _verified_success(run):
            counts[RUNS_NOT_VERIFIED] += 1
        else:
            step_counts: Counter[str] = Counter()
            try:
                got = _run_examples(store, run, format_name, history_screenshots, resize, step_counts)
            except ScreenshotMissing:
                counts["runs skipped: a screenshot is missing"] += 1
                continue
            examples += got
            counts.update(step_counts)
            counts[RUNS_USED] += 1
    return examples, dict(counts)


def lora_targets(model: Any, names: Sequence[str] = DEFAULT_TARGET_MODULES) -> list[str]:
    """Return the full names of the linear layers under ``model``'s language model named in ``names``.

    A layer matches when its leaf name (``q_proj``) is one of ``names``. ValueError when the model
    has no ``language_model`` submodule or nothing there matches.
    """
    nn: Any = importlib.import_module("torch.nn")
    roots = [n for n, _ in model.named_modules() if n.rsplit(".", 1)[-1] == LANGUAGE_MODEL]
    if not roots:
        raise ValueError(
            f"{type(model).__name__} has no '{LANGUAGE_MODEL}' submodule; is it a Qwen-VL model?"
        )
    root = roots[0] + "."
    wanted = set(names)
    found = [
        n
        for n, m in model.named_modules()
        if n.startswith(root) and n.rsplit(".", 1)[-1] in wanted and isinstance(m, nn.Linear)
    ]
    if not found:
        raise ValueError(f"no linear layer named {sorted(wanted)} under {roots[0]}")
    return found


def sft_dataset(examples: Sequence[SFTExample]) -> Any:
    """Return the examples as a conversational prompt-completion ``datasets.Dataset`` with ``images``.

    Image parts of the prompt become ``{"type": "image"}`` placeholders; TRL's collator puts
    ``images`` back into them, in order. Images are stored PNG-encoded (lossless), in memory.
    """
    ds: Any = importlib.import_module("datasets")
    part = {"type": ds.Value("string"), "text": ds.Value("string")}
    turns = ds.List({"role": ds.Value("string"), "content": ds.List(part)})
    features = ds.Features({"prompt": turns, "completion": turns, "images": ds.List(ds.Image())})
    rows = [
        {
            "prompt": template_view(ex.prompt_messages),
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": ex.completion}]}],
            # A copy drops a loaded file's format (JPEG), so the dataset stores it losslessly.
            "images": [im.convert("RGB") if im.mode != "RGB" else im.copy() for im in ex.images],
        }
        for ex in examples
    ]
    return ds.Dataset.from_list(rows, features=features)


def examples_hash(examples: Sequence[SFTExample]) -> str:
    """Return a sha256 over the examples' prompts, image pixels and completions (in order)."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps(template_view(ex.prompt_messages), sort_keys=True).encode())
        for im in ex.images:
            digest.update(f"{im.mode}{im.size}".encode())
            digest.update(im.tobytes())
        digest.update(b"\0" + ex.completion.encode() + b"\1")
    return digest.hexdigest()


def _sft_config(config: LoraTrainConfig, checkpoints: Path) -> Any:
    torch: Any = importlib.import_module("torch")
    trl: Any = importlib.import_module("trl")
    cuda = bool(torch.cuda.is_available())
    bf16 = config.bf16 if config.bf16 is not None else cuda and bool(torch.cuda.is_bf16_supported())
    return trl.SFTConfig(
        output_dir=str(checkpoints),
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps if config.max_steps is not None else -1,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        seed=config.seed,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=1,
        report_to="none",
        disable_tqdm=True,
        bf16=bf16,
        # transformers 5 renamed gradient checkpointing; the new name keeps its deprecation warning quiet.
        activation_checkpointing=config.gradient_checkpointing,
        # Prompt-completion rows: loss on the completion only (TRL's collator masks the prompt).
        completion_only_loss=True,
        # Truncating would cut image tokens out of a long prompt; prompts are what the policy sends.
        max_length=None,
        dataloader_pin_memory=cuda,
    )


def build_trainer(
    checkpoint: Path, examples: Sequence[SFTExample], out: Path, config: LoraTrainConfig
) -> Any:
    """Return the ``trl.SFTTrainer`` that :func:`train_lora` runs, not started (for inspection and tests).

    The base is loaded by :class:`TransformersChatModel` (the policy's loader: dtype, pinned
    pixels); the LoRA adapter is added by the trainer from a ``peft.LoraConfig`` on
    :func:`lora_targets`. Checkpoints go to ``out/checkpoints``.
    """
    if not examples:
        raise ValueError("LoRA training needs at least one example")
    peft: Any = importlib.import_module("peft")
    trl: Any = importlib.import_module("trl")
    chat = TransformersChatModel(
        checkpoint, dtype=config.dtype, min_pixels=config.min_pixels, max_pixels=config.max_pixels
    )
    lora = peft.LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=lora_targets(chat.model, config.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    trainer = trl.SFTTrainer(
        model=chat.model,
        args=_sft_config(config, Path(out) / "checkpoints"),
        train_dataset=sft_dataset(examples),
        processing_class=chat.processor,
        peft_config=lora,
    )
    # With the progress bar off, Trainer prints every log line instead; losses are in the state.
    trainer.remove_callback(importlib.import_module("transformers").PrinterCallback)
    return trainer


@dataclass(frozen=True)
class LoraResult:
    """What a LoRA run produced."""

    losses: list[float]
    """Training loss of every optimiser step since the run began (resumed calls included)."""
    adapter_dir: Path
    """The saved adapter: ``adapter_model.safetensors``, ``adapter_config.json``, the manifest."""
    trainable_params: int
    """Parameters the run trained (the LoRA matrices only)."""
    steps: int
    """Optimiser steps taken in all."""
    manifest: dict[str, Any] = field(default_factory=dict)
    """The contents of ``adapter_dir / MANIFEST_FILE``."""


def _run_record(checkpoint: Path, examples: Sequence[SFTExample], config: LoraTrainConfig) -> dict[str, Any]:
    record = {
        "base_checkpoint_sha256": checkpoint_hash(checkpoint),
        "examples_sha256": examples_hash(examples),
        "examples": len(examples),
        "settings": config.run_settings(),
    }
    # As it reads back from run.json (tuples become lists), so records compare equal.
    loaded: dict[str, Any] = json.loads(json.dumps(record))
    return loaded


def _prepare_out(out: Path, record: dict[str, Any], resume: bool) -> str | None:
    """Check or reset ``out`` for this run; return the checkpoint to resume from, if any."""
    trainer_utils: Any = importlib.import_module("transformers.trainer_utils")
    checkpoints = out / "checkpoints"
    run_file = out / RUN_FILE
    last = trainer_utils.get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if resume and last is not None:
        try:
            earlier = json.loads(run_file.read_text())
        except (OSError, ValueError):
            earlier = None
        if earlier != record:
            raise TrainingError(
                f"{out} holds checkpoints of a different run (another base checkpoint, other examples or "
                f"other settings than {run_file} records); pass resume=False to start over there, "
                "or use another output folder"
            )
        return str(last)
    if checkpoints.exists():
        shutil.rmtree(checkpoints)
    out.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return None


def _versions() -> dict[str, str]:
    return {
        name: str(getattr(importlib.import_module(name), "__version__", "?"))
        for name in ("torch", "transformers", "peft", "trl", "datasets")
    }


def train_lora(
    checkpoint: Path,
    examples: Sequence[SFTExample],
    out: Path,
    config: LoraTrainConfig | None = None,
    *,
    resume: bool = True,
) -> LoraResult:
    """Train a LoRA adapter for ``checkpoint`` on ``examples``; save it under ``out/adapter``.

    With ``resume`` and checkpoints of the same run under ``out/checkpoints``, training continues
    from the last one (TrainingError if they belong to another run: other base weights, examples
    or settings). ``resume=False`` deletes ``out/checkpoints`` and starts over. The adapter
    directory gets a manifest (:data:`MANIFEST_FILE`) with the base checkpoint's path and hash,
    the config, the number of examples, the losses and the library versions.
    """
    config = config or LoraTrainConfig()
    if not examples:
        raise ValueError("LoRA training needs at least one example")
    checkpoint = Path(checkpoint).expanduser().resolve()
    out = Path(out)
    record = _run_record(checkpoint, examples, config)
    last = _prepare_out(out, record, resume)
    trainer = build_trainer(checkpoint, examples, out, config)
    try:
        trainer.train(resume_from_checkpoint=last)
    except (RuntimeError, ValueError) as exc:
        raise TrainingError(f"LoRA training of {checkpoint} stopped: {exc}") from exc
    model = trainer.model
    adapter_dir = out / "adapter"
    model.save_pretrained(str(adapter_dir))
    losses = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
    trainable = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    image_processor = trainer.processing_class.image_processor
    manifest: dict[str, Any] = {
        "base_checkpoint": str(checkpoint),
        "base_checkpoint_sha256": record["base_checkpoint_sha256"],
        "model_type": str(model.config.model_type),
        "config": {**asdict(config), "target_modules": list(config.target_modules)},
        "target_modules": sorted(model.peft_config["default"].target_modules),
        "min_pixels": int(image_processor.size.shortest_edge),
        "max_pixels": int(image_processor.size.longest_edge),
        "examples": len(examples),
        "examples_sha256": record["examples_sha256"],
        "steps": int(trainer.state.global_step),
        "losses": losses,
        "trainable_params": trainable,
        "versions": _versions(),
    }
    (adapter_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return LoraResult(losses, adapter_dir, trainable, int(trainer.state.global_step), manifest)


def read_manifest(adapter_dir: Path) -> dict[str, Any]:
    """Return the adapter's manifest; PolicyError if the directory holds no adapter of :func:`train_lora`."""
    path = Path(adapter_dir) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PolicyError(
            f"{adapter_dir} holds no readable {MANIFEST_FILE}; pass the adapter directory train_lora wrote"
        ) from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{path} is not a LoRA manifest; pass the adapter directory train_lora wrote")
    return data


def _adapter_hash(adapter_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update(name.encode() + b"\0" + (adapter_dir / name).read_bytes())
    return digest.hexdigest()


def merge_lora(checkpoint: Path, adapter_dir: Path, out_dir: Path) -> Path:
    """Write ``checkpoint`` with the adapter merged into its weights to ``out_dir``: a plain checkpoint.

    PolicyError when the adapter was trained on other base weights than ``checkpoint``'s, or when
    ``out_dir`` holds something else than an earlier merge. A directory already merged from the
    same base and adapter is reused as it is; an earlier merge of another one is replaced.
    """
    checkpoint = Path(checkpoint).expanduser().resolve()
    adapter_dir = Path(adapter_dir)
    out_dir = Path(out_dir)
    manifest = read_manifest(adapter_dir)
    base_hash = checkpoint_hash(checkpoint)
    if manifest.get("base_checkpoint_sha256") != base_hash:
        raise PolicyError(
            f"the adapter in {adapter_dir} was trained on {manifest.get('base_checkpoint')}, whose weights "
            f"differ from {checkpoint}'s; pass the checkpoint it was trained on"
        )
    origin = {"base_checkpoint_sha256": base_hash, "adapter_sha256": _adapter_hash(adapter_dir)}
    marker = out_dir / MERGED_FROM_FILE
    if marker.is_file() and json.loads(marker.read_text()) == origin:
        return out_dir
    tf: Any = importlib.import_module("transformers")
    peft: Any = importlib.import_module("peft")
    base = tf.AutoModelForImageTextToText.from_pretrained(checkpoint, dtype="auto")
    merged = peft.PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    if out_dir.exists():
        if not marker.is_file() and any(out_dir.iterdir()):
            raise PolicyError(
                f"{out_dir} exists and holds no merge of this module's; pass an empty or new merged_dir"
            )
        shutil.rmtree(out_dir)  # an earlier merge, of another adapter or base
    out_dir.mkdir(parents=True)
    merged.save_pretrained(out_dir)
    tf.AutoProcessor.from_pretrained(checkpoint).save_pretrained(out_dir)
    marker.write_text(json.dumps(origin, indent=2, sort_keys=True) + "\n")
    return out_dir


def load_lora_policy(
    checkpoint: Path,
    adapter_dir: Path,
    format_name: str,
    *,
    merged_dir: Path | None = None,
    **policy_options: Any,
) -> TransformersPolicy:
    """Return a :class:`TransformersPolicy` running ``checkpoint`` with the adapter merged in.

    The merged checkpoint is written to ``merged_dir`` (default: ``<adapter_dir>-merged``) by
    :func:`merge_lora`, so the policy's provenance hashes the weights that run. ``min_pixels`` and
    ``max_pixels`` default to the ones the adapter was trained with (from its manifest);
    ``policy_options`` go to ``TransformersPolicy`` as they are (``history_screenshots``, ...).
    """
    adapter_dir = Path(adapter_dir)
    manifest = read_manifest(adapter_dir)
    target = (
        Path(merged_dir) if merged_dir is not None else adapter_dir.with_name(adapter_dir.name + "-merged")
    )
    merged = merge_lora(checkpoint, adapter_dir, target)
    policy_options.setdefault("min_pixels", manifest.get("min_pixels"))
    policy_options.setdefault("max_pixels", manifest.get("max_pixels"))
    return TransformersPolicy(merged, format_name, **policy_options)


__all__ = [
    "DEFAULT_TARGET_MODULES",
    "MANIFEST_FILE",
    "PARSE_FEEDBACK",
    "RUNS_NOT_SYNTHESIZED",
    "RUNS_NOT_VERIFIED",
    "RUNS_USED",
    "STEPS",
    "LoraResult",
    "LoraTrainConfig",
    "SFTExample",
    "build_trainer",
    "example_from_step",
    "examples_hash",
    "load_lora_policy",
    "lora_examples",
    "lora_targets",
    "merge_lora",
    "read_manifest",
    "render_reply",
    "serving_resize",
    "sft_dataset",
    "train_lora",
]
