"""LoRA fine-tuning of tiny Qwen-VL checkpoints with TRL's SFTTrainer (``cua.learn.lora``).

The base is a tiny Qwen2.5-VL checkpoint overfit on the demo step (``fit_demo``: it clicks OK),
standing in for a pretrained model: a freshly initialised tiny model's frozen output layer (tied
embeddings of std 0.02, behind a fixed RMSNorm) caps its logits near 1, so a LoRA on its
projections alone cannot make any reply likely, while the fitted one has a trained output layer.
The adapter then teaches it other clicks. Everything runs on the CPU in about a minute.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from cua.actions import Click
from cua.errors import PolicyError, TrainingError
from cua.learn.lora import (
    MANIFEST_FILE,
    LoraResult,
    LoraTrainConfig,
    SFTExample,
    build_trainer,
    example_from_step,
    load_lora_policy,
    lora_targets,
    render_reply,
    train_lora,
)
from cua.models.messages import images_of, template_view
from cua.models.overfit import demo_input, fit_demo
from cua.models.tiny import TinySpec, build_tiny_model
from cua.models.transformers_policy import TransformersChatModel, TransformersPolicy, checkpoint_hash
from cua.policy import PolicyInput

FORMAT = "qwen2.5-vl"


@pytest.fixture(scope="module", autouse=True)
def _torch_settings() -> None:
    import torch
    from transformers.utils import logging as hf_logging

    # Two cores: two xdist workers get one thread each, a single process gets both.
    torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


@dataclass(frozen=True)
class Base:
    """The fitted tiny checkpoint and the resize settings its policy runs with."""

    model_dir: Path
    pixels: dict[str, int]


@dataclass(frozen=True)
class Step:
    """A policy input, the reply to teach for it, and the training example built from both."""

    inp: PolicyInput
    reply: str
    example: SFTExample


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("lora_base")
    tiny = build_tiny_model(root / "tiny", TinySpec(arch="qwen2_5_vl"))
    fitted = fit_demo(tiny, FORMAT, root / "fitted")
    return Base(fitted.model_dir, {"min_pixels": fitted.min_pixels, "max_pixels": fitted.max_pixels})


def _step(base: Base, instruction: str, point: tuple[int, int]) -> Step:
    inp = demo_input(instruction)
    reply = render_reply([Click(*point)], inp, FORMAT, thought="I click.", **base.pixels)
    return Step(inp, reply, example_from_step(inp, reply, FORMAT, **base.pixels))


@pytest.fixture(scope="module")
def steps(base: Base) -> list[Step]:
    # The fitted base answers the first input with a click on OK at (640, 400): teach it otherwise.
    return [_step(base, "Click the OK button.", (20, 10)), _step(base, "Close the dialog.", (860, 260))]


@pytest.fixture(scope="module")
def single(base: Base, steps: list[Step], tmp_path_factory: pytest.TempPathFactory) -> LoraResult:
    config = LoraTrainConfig(learning_rate=2e-2, max_steps=25, save_steps=100, **base.pixels)
    return train_lora(base.model_dir, [steps[0].example], tmp_path_factory.mktemp("single"), config)


PAIR_CONFIG = {"learning_rate": 2e-2, "max_steps": 20, "batch_size": 2, "save_steps": 10}


@pytest.fixture(scope="module")
def pair(
    base: Base, steps: list[Step], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, LoraResult]]:
    out = tmp_path_factory.mktemp("pair")
    config = LoraTrainConfig(**PAIR_CONFIG, **base.pixels)
    yield out, train_lora(base.model_dir, [s.example for s in steps], out, config)


def _reply_nll(chat: TransformersChatModel, step: Step) -> float:
    """Return the mean negative log-likelihood of the reply and its end-of-turn token after the prompt."""
    import torch

    enc = chat.encode(step.example.prompt_messages)
    tok = chat.processor.tokenizer
    target = tok(step.reply + "<|im_end|>", add_special_tokens=False, return_tensors="pt").input_ids
    ids = torch.cat([enc["input_ids"], target], dim=1)
    inputs = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "mm_token_type_ids": torch.cat([enc["mm_token_type_ids"], torch.zeros_like(target)], dim=1),
        "pixel_values": enc["pixel_values"],
        "image_grid_thw": enc["image_grid_thw"],
    }
    with torch.no_grad():
        logits = chat.model(**inputs).logits[0, -target.shape[1] - 1 : -1].float()
    return float(torch.nn.functional.cross_entropy(logits, target[0]))


def _tensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return dict(load_file(str(next(path.glob("*.safetensors")))))


def test_example_is_the_prompt_the_policy_sends(base: Base, steps: list[Step]) -> None:
    policy = TransformersPolicy(base.model_dir, FORMAT, **base.pixels)
    for step in steps:
        sent = policy.messages(step.inp)
        assert template_view(step.example.prompt_messages) == template_view(sent)
        shown = images_of(sent)
        assert [im.tobytes() for im in step.example.images] == [im.tobytes() for im in shown]
        assert step.example.completion == step.reply
        # The reply parses back into the taught click with the policy's own format.
        parsed = policy.output_format.parse(step.reply, step.inp.screen_size, step.inp.screenshot.size)
        assert len(parsed.actions) == 1 and isinstance(parsed.actions[0], Click)


def test_targets_are_the_language_model_projections_only(base: Base) -> None:
    chat = TransformersChatModel(base.model_dir)
    targets = lora_targets(chat.model)
    assert len(targets) == 2 * 7  # two decoder layers, q/k/v/o and gate/up/down each
    assert all(t.startswith("model.language_model.layers.") for t in targets)
    # Why targets are matched under the language model: the vision tower's MLP has the same names.
    names = dict(chat.model.named_modules())
    assert "model.visual.blocks.0.mlp.gate_proj" in names


def test_labels_are_the_completion_only(base: Base, steps: list[Step], tmp_path: Path) -> None:
    config = LoraTrainConfig(batch_size=2, **base.pixels)
    trainer = build_trainer(base.model_dir, [s.example for s in steps], tmp_path, config)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(steps))])
    chat = TransformersChatModel(base.model_dir, **base.pixels)
    tok = chat.processor.tokenizer
    for row, step in enumerate(steps):
        ids, labels, mask = batch["input_ids"][row], batch["labels"][row], batch["attention_mask"][row]
        # The prompt is token for token what the policy's model is given at run time.
        prompt = chat.encode(step.example.prompt_messages)["input_ids"][0]
        n, end = len(prompt), int(mask.sum())
        assert ids[:n].tolist() == prompt.tolist()
        assert (labels[:n] == -100).all()
        assert labels[n:end].tolist() == ids[n:end].tolist()
        assert tok.decode(labels[n:end]) == step.reply + "<|im_end|>\n"
        assert (labels[end:] == -100).all()  # padding
    # Only the adapter trains, and it sits on the language model alone.
    trainable = [name for name, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name and ".language_model." in name for name in trainable)


def test_loss_falls_and_replies_become_likely(
    base: Base, steps: list[Step], pair: tuple[Path, LoraResult]
) -> None:
    _, result = pair
    assert result.steps == 20 and len(result.losses) == 20
    assert all(math.isfinite(x) for x in result.losses)
    assert sum(result.losses[-3:]) / 3 < 0.4 * result.losses[0], result.losses
    before = TransformersChatModel(base.model_dir, **base.pixels)
    after = load_lora_policy(base.model_dir, result.adapter_dir, FORMAT).model
    for step in steps:
        assert _reply_nll(after, step) < 0.5 * _reply_nll(before, step)


def test_resume_continues_from_the_saved_step(
    base: Base, steps: list[Step], pair: tuple[Path, LoraResult], tmp_path: Path
) -> None:
    done, full = pair
    out = tmp_path / "run"
    shutil.copytree(done / "checkpoints", out / "checkpoints")
    shutil.copy(done / "run.json", out / "run.json")
    # As if the run had died after its step-10 checkpoint.
    shutil.rmtree(out / "checkpoints" / "checkpoint-20")
    config = LoraTrainConfig(**PAIR_CONFIG, **base.pixels)
    resumed = train_lora(base.model_dir, [s.example for s in steps], out, config, resume=True)
    assert resumed.steps == 20
    assert resumed.losses[:10] == full.losses[:10]  # restored from the checkpoint's log history
    assert resumed.losses[10:] == pytest.approx(full.losses[10:], rel=1e-3)
    # Checkpoints of another run are not resumed.
    with pytest.raises(TrainingError, match="different run"):
        train_lora(base.model_dir, [steps[1].example], out, config, resume=True)


def test_only_the_adapter_changes_the_model(base: Base, single: LoraResult) -> None:
    adapter = _tensors(single.adapter_dir)
    assert adapter and all("lora_" in k and ".language_model." in k for k in adapter)
    # LoRA's B matrices start at zero: every one moved.
    assert all(bool(v.abs().sum() > 0) for k, v in adapter.items() if "lora_B" in k)
    chat = TransformersChatModel(base.model_dir)
    expected = sum(
        single.manifest["config"]["rank"] * (m.in_features + m.out_features)
        for name, m in chat.model.named_modules()
        if name in set(lora_targets(chat.model))
    )
    assert single.trainable_params == expected
    merged = load_lora_policy(base.model_dir, single.adapter_dir, FORMAT).model.model
    before = dict(chat.model.named_parameters())
    after = dict(merged.named_parameters())
    assert before.keys() == after.keys()
    targets = tuple(f"{t}.weight" for t in lora_targets(chat.model))
    for name, value in before.items():
        if name.endswith(targets):
            assert not bool((after[name] == value).all()), name
        else:  # the vision tower, embeddings, norms: untouched
            assert bool((after[name] == value).all()), name
    assert any(name.startswith("model.visual.") for name in before)


def test_adapted_policy_gives_the_trained_reply(base: Base, steps: list[Step], single: LoraResult) -> None:
    step = steps[0]
    plain = TransformersPolicy(base.model_dir, FORMAT, **base.pixels)
    assert plain.act(step.inp).text != step.reply
    adapted = load_lora_policy(base.model_dir, single.adapter_dir, FORMAT)
    assert adapted.act(step.inp).text == step.reply
    assert adapted.model.min_pixels == base.pixels["min_pixels"]
    provenance = adapted.provenance()
    assert provenance["checkpoint_sha256"] != checkpoint_hash(base.model_dir)
    manifest = json.loads((single.adapter_dir / MANIFEST_FILE).read_text())
    assert manifest["base_checkpoint_sha256"] == checkpoint_hash(base.model_dir)
    assert manifest["examples"] == 1 and manifest["steps"] == 25 == single.steps
    assert manifest["losses"] == single.losses and len(single.losses) == 25
    assert {manifest["min_pixels"], manifest["max_pixels"]} == set(base.pixels.values())
    assert (single.adapter_dir / "adapter_model.safetensors").is_file()


def test_adapter_refuses_another_base(base: Base, single: LoraResult, tmp_path: Path) -> None:
    other = build_tiny_model(tmp_path / "other", TinySpec(arch="qwen2_5_vl", seed=1))
    with pytest.raises(PolicyError, match="trained on"):
        load_lora_policy(other, single.adapter_dir, FORMAT, merged_dir=tmp_path / "merged")


def test_qwen3_vl_trains_too(tmp_path: Path) -> None:
    tiny = build_tiny_model(tmp_path / "tiny3", TinySpec(arch="qwen3_vl"))
    chat = TransformersChatModel(tiny)
    pixels = {"min_pixels": chat.min_pixels, "max_pixels": chat.max_pixels}
    targets = lora_targets(chat.model)
    assert targets and not any("visual" in t for t in targets)
    inp = demo_input()
    reply = render_reply([Click(640, 400)], inp, "qwen3-vl", thought="I click OK.", **pixels)
    example = example_from_step(inp, reply, "qwen3-vl", **pixels)
    config = LoraTrainConfig(learning_rate=1e-2, max_steps=3, save_steps=3, **pixels)
    result = train_lora(tiny, [example], tmp_path / "out", config)
    assert result.steps == 3 and len(result.losses) == 3 and all(math.isfinite(x) for x in result.losses)
    assert all(".language_model." in k for k in _tensors(result.adapter_dir))


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="rank"):
        LoraTrainConfig(rank=0)
    with pytest.raises(ValueError, match="max_steps"):
        LoraTrainConfig(max_steps=0)
    with pytest.raises(ValueError, match="images"):
        SFTExample(
            images=[],
            prompt_messages=example_from_step(demo_input(), "x", FORMAT).prompt_messages,
            completion="x",
        )


# -- examples from the agent's own verified experience, and `cua train-lora` ---------------------

SYNTH_TASK = """\
id: synth.fake.press-ok
app: fake
instruction: Click the OK button.
generated: walk
difficulty: 1
oracle:
  - click: {role: push button, name: OK}
validator:
  file_text: {path: notes.txt, equals: "ok"}
"""
INSTRUCTION = "Click the OK button."


def _screen(i: int) -> Any:
    """The demo screen with a mark of its own, so that every recorded step's screenshot differs."""
    from PIL import ImageDraw

    img = demo_input().screenshot.copy()
    ImageDraw.Draw(img).rectangle((10 + 30 * i, 10, 30 + 30 * i, 30), fill=(200, 20 * i, 20))
    return img


@dataclass(frozen=True)
class Experience:
    """A data dir whose store holds verified and unverified runs of a synthesized task and a built-in one."""

    data: Path
    listed: list[tuple[str, str]]
    shots: dict[str, list[Any]]
    """The screenshots each run's steps saw, by run name."""
    replies: dict[str, str]
    """The model run's raw outputs, and the typed run's steps as the format writes them."""


def _record(
    store: Any,
    task: tuple[str, str],
    prompt_format: str,
    steps: list[tuple[Any, Any]],
    verdict: tuple[Any, bool] | None,
) -> str:
    from cua.store import Provenance, RunInfo, RunSource, RunStatus

    info = RunInfo(
        INSTRUCTION, "fake", Provenance(model="m", prompt_format=prompt_format), task[0], task[1],
        source=RunSource.EXPLORE,
    )  # fmt: skip
    run_id: str = store.start_run(info)
    for record, shot in steps:
        store.add_step(run_id, record, shot)
    store.finish_run(run_id, RunStatus.SUCCESS, "done")
    if verdict is not None:
        store.add_verdict(run_id, verdict[0], verdict[1], reasons=["test"])
    return run_id


@pytest.fixture(scope="module")
def experience(base: Base, tmp_path_factory: pytest.TempPathFactory) -> Experience:
    from cua.actions import Done, to_json
    from cua.explore.db import ExploreDB
    from cua.store import Actor, StepRecord, TrajectoryStore, VerdictSource
    from cua.tasks import builtin_families
    from cua.tasks.spec import load_file, task_hash

    root = tmp_path_factory.mktemp("experience")
    path = root / "press-ok.yaml"
    path.write_text(SYNTH_TASK)
    synth = load_file(path)[0].instance(0)
    builtin = builtin_families()[0].tasks()[0]
    synth_key, builtin_key = (synth.id, task_hash(synth)), (builtin.id, task_hash(builtin))
    data = root / "data"
    click, done = Click(640, 400), Done()
    inp = demo_input()
    said = {
        "model click": render_reply([click], inp, FORMAT, thought="I click OK.", **base.pixels),
        "model done": render_reply([done], inp, FORMAT, thought="It is done.", **base.pixels),
        "typed click": render_reply([click], inp, FORMAT, **base.pixels),
        "typed second click": render_reply([Click(20, 10)], inp, FORMAT, **base.pixels),
        "typed done": render_reply([done], inp, FORMAT, **base.pixels),
    }
    shots = {
        name: [_screen(i) for i in range(4)] for name in ("model", "typed", "builtin", "failed", "judged")
    }
    verified = (VerdictSource.VALIDATOR, True)
    one_click = StepRecord("match", "match: click", to_json(click))
    with TrajectoryStore(data) as store:
        # (a) A model that speaks the format: an unparsable output, a click, done; verified.
        m = shots["model"]
        _record(store, synth_key, FORMAT, [
            (StepRecord("Let me look first.", "Let me look first.", None, "no tool call found"), m[0]),
            (StepRecord("I click OK.", said["model click"], to_json(click)), m[1]),
            (StepRecord("It is done.", said["model done"], to_json(done)), m[2]),
        ], verified)  # fmt: skip
        # (a') A typed-action policy of another format; a person takes over once; verified.
        t = shots["typed"]
        _record(store, synth_key, "pyautogui", [
            (StepRecord("match: click", "match: click", to_json(click)), t[0]),
            (StepRecord(None, None, to_json(Click(20, 10)), actor=Actor.PERSON), t[1]),
            (StepRecord("match: click", "match: click", to_json(Click(20, 10))), t[2]),
            (StepRecord("matched", "matched", to_json(done)), t[3]),
        ], verified)  # fmt: skip
        # (b) A built-in task: verified, but evaluation only.
        _record(store, builtin_key, "pyautogui", [(one_click, shots["builtin"][0])], verified)
        # (c) The synthesized task failed; and one success only a VLM judge vouches for.
        _record(
            store, synth_key, "pyautogui", [(one_click, shots["failed"][0])], (VerdictSource.VALIDATOR, False)
        )
        _record(store, synth_key, "pyautogui", [(one_click, shots["judged"][0])], (VerdictSource.JUDGE, True))
    db = ExploreDB(data / "explore.sqlite")
    try:
        db.open_exploration("e1", "fake", {})
        task_row = {"id": synth.id, "app": "fake", "kind": "click", "validator_key": "k",
                    "instruction": INSTRUCTION, "path": str(path), "chain": 0}  # fmt: skip
        db.record_walk("e1", 0, 0, [], "done", 1.0, [], [task_row])
    finally:
        db.close()
    return Experience(data, [(str(path), "click")], shots, said)


def _expected_inputs(experience: Experience) -> list[PolicyInput]:
    """The inputs the agent loop gave the policy at each step that teaches, built by hand."""
    from cua.learn.lora import PARSE_FEEDBACK
    from cua.policy import HistoryItem

    m, t, said = experience.shots["model"], experience.shots["typed"], experience.replies
    unparsed = PARSE_FEEDBACK.format("no tool call found")
    first = HistoryItem("Let me look first.", m[0], unparsed)
    return [
        PolicyInput(INSTRUCTION, m[1], m[1].size, (first,), unparsed, step=1),
        PolicyInput(INSTRUCTION, m[2], m[2].size,
                    (replace(first, screenshot=None), HistoryItem(said["model click"], m[1])), step=2),
        PolicyInput(INSTRUCTION, t[0], t[0].size, (), step=0),
        # The person's step is not in the history; the step right after it is not taught.
        PolicyInput(INSTRUCTION, t[3], t[3].size,
                    (HistoryItem(said["typed click"]), HistoryItem(said["typed second click"], t[2])),
                    step=2),
    ]  # fmt: skip


def test_examples_come_only_from_verified_runs_of_synthesized_tasks(
    base: Base, experience: Experience
) -> None:
    from cua.actions import Done
    from cua.learn.lora import RUNS_NOT_SYNTHESIZED, RUNS_NOT_VERIFIED, RUNS_USED, STEPS, lora_examples
    from cua.store import TrajectoryStore

    with TrajectoryStore(experience.data) as store:
        examples, counts = lora_examples(store, experience.listed, FORMAT, **base.pixels)
    assert counts == {
        RUNS_USED: 2,  # (a) and (a')
        RUNS_NOT_SYNTHESIZED: 1,  # (b), the built-in task
        RUNS_NOT_VERIFIED: 2,  # (c): failed, and judged by a model only
        STEPS: 4,
        "steps skipped: no action (the output did not parse)": 1,
        "steps skipped: a person's step": 1,
        "steps skipped: first after a person's take-over": 1,
    }
    said = experience.replies
    # The model's own replies keep their thought; a typed policy's note is not a thought.
    assert [ex.completion for ex in examples] == [
        said["model click"], said["model done"], said["typed click"], said["typed done"]
    ]  # fmt: skip
    policy = TransformersPolicy(base.model_dir, FORMAT, **base.pixels)
    wanted = [[Click(640, 400)], [Done()], [Click(640, 400)], [Done()]]
    for ex, inp, actions in zip(examples, _expected_inputs(experience), wanted, strict=True):
        sent = policy.messages(inp)
        assert template_view(ex.prompt_messages) == template_view(sent)
        assert [im.tobytes() for im in ex.images] == [im.tobytes() for im in images_of(sent)]
        parsed = policy.output_format.parse(ex.completion, inp.screen_size, inp.screenshot.size)
        assert parsed.actions == actions
    # Nothing of the built-in, failed or judged runs: their screens are in no example.
    others = {experience.shots[name][0].tobytes() for name in ("builtin", "failed", "judged")}
    assert not others & {im.tobytes() for ex in examples for im in ex.images}
    # Without the exploration's task list nothing trains.
    with TrajectoryStore(experience.data) as store:
        none, counts = lora_examples(store, [], FORMAT, **base.pixels)
    assert none == [] and counts[RUNS_NOT_SYNTHESIZED] == 5 and counts[STEPS] == 0


def test_serving_resize_is_what_the_policy_uses(base: Base) -> None:
    from cua.learn.lora import serving_resize

    for pixels in ({}, base.pixels):
        chat = TransformersPolicy(base.model_dir, FORMAT, **pixels).model
        got = serving_resize(base.model_dir, FORMAT, **pixels)
        assert got == {"factor": chat.factor, "min_pixels": chat.min_pixels, "max_pixels": chat.max_pixels}


def test_train_lora_command_needs_verified_experience(base: Base, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cua.cli import app
    from cua.errors import UsageError
    from cua.explore.db import ExploreDB

    runner = CliRunner()
    empty = tmp_path / "empty"
    args = ["train-lora", "--model", str(tmp_path / "X"), "--out", str(tmp_path / "Y")]
    result = runner.invoke(app, [*args, "--data-dir", str(empty)])
    assert isinstance(result.exception, UsageError), result.output
    message = str(result.exception)
    assert "cua explore --app APP" in message and "only verified runs of synthesized tasks train" in message
    # Explored, but no verified run yet: the same advice, with the counts.
    ExploreDB(empty / "explore.sqlite").close()
    result = runner.invoke(app, ["train-lora", "--model", str(base.model_dir), "--out", str(tmp_path / "Y"),
                                 "--data-dir", str(empty), "--format", FORMAT])  # fmt: skip
    assert isinstance(result.exception, UsageError), result.output
    assert "no training example" in str(result.exception) and "cua explore" in str(result.exception)
    assert not (tmp_path / "Y").exists()
    result = runner.invoke(app, ["train-lora", "--out", str(tmp_path / "Y"), "--data-dir", str(empty)])
    assert isinstance(result.exception, UsageError) and "--model" in str(result.exception)


def test_train_lora_command_trains_an_adapter(base: Base, experience: Experience, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cua.cli import app
    from cua.learn.lora import RUNS_NOT_SYNTHESIZED, STEPS

    out = tmp_path / "out"
    args = [
        "train-lora", "--data-dir", str(experience.data), "--model", str(base.model_dir), "--out", str(out),
        "--format", FORMAT, "--max-steps", "2", "--min-pixels", str(base.pixels["min_pixels"]),
        "--max-pixels", str(base.pixels["max_pixels"]), "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(result.stdout[result.stdout.index("{") :])
    adapter = Path(report["adapter_dir"])
    assert adapter == out / "adapter" and (adapter / "adapter_model.safetensors").is_file()
    assert report["steps"] == 2 and len(report["losses"]) == 2 and report["examples"] == 4
    assert report["counts"][STEPS] == 4 and report["counts"][RUNS_NOT_SYNTHESIZED] == 1
    manifest = json.loads((adapter / MANIFEST_FILE).read_text())
    assert manifest["examples"] == 4 and manifest["min_pixels"] == base.pixels["min_pixels"]
    # Text mode: the losses, the adapter and the counts.
    text = CliRunner().invoke(app, [a for a in args if a != "--json"])
    assert text.exit_code == 0, (text.output, text.exception)
    assert f"adapter: {adapter}" in text.stdout and "loss " in text.stdout and "runs used: 2" in text.stdout
