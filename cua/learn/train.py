"""Full fine-tuning of the bundled policy on training rows (torch, CPU or GPU), resumable.

:func:`train_bundled` featurizes every row once (the same ``screen_features.featurize`` the
policy runs), builds the vocabularies (keys and typed-text templates mined from the rows, beside
the base keys), starts from a parent checkpoint when one is given and its vocabularies fit
(rows of new keys or templates then train fresh head rows), and minimises, per row:

- cross-entropy of the action kind;
- of the option pointed at (pointer kinds), the key (key kind), the template and the span (type);
- with ``aux_weight`` > 0, the early-experience loss: binary cross-entropy of "this step's action
  changes this option" for every option on the screen (re-enacted transitions; no reward needed).

Every ``checkpoint_every`` epochs the network, the optimiser and the epoch go to
``<out>/train_state.pt``; a later call with the same folder continues from there.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cua.errors import UsageError
from cua.learn.dataset import Row, manifest
from cua.policies import screen_features as sf
from cua.policies.bundled import BundledConfig, build_net, collate, load_checkpoint, save_checkpoint

STATE_FILE = "train_state.pt"
#: Most typed-text templates a checkpoint keeps (the most frequent in the rows).
MAX_TEMPLATES = 96


@dataclass(frozen=True)
class TrainConfig:
    """How one training run of the bundled policy goes."""

    epochs: int = 40
    """Passes over the rows."""
    batch_size: int = 32
    """Rows per optimiser step."""
    learning_rate: float = 2e-3
    """AdamW learning rate (constant)."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    aux_weight: float = 0.2
    """Weight of the early-experience loss (0 turns it off: the ablation)."""
    hidden: int = 128
    """Width of the network (a fresh network only; a parent keeps its own)."""
    seed: int = 0
    """Seeds the row order and the initialisation."""
    checkpoint_every: int = 10
    """Epochs between resumable checkpoints."""

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0 or self.aux_weight < 0:
            raise UsageError(
                "training settings: epochs and batch size must be at least 1, the learning rate "
                f"positive and the auxiliary weight non-negative (got {self})"
            )


@dataclass
class TrainResult:
    """What a training run produced."""

    folder: Path
    losses: list[float] = field(default_factory=list)
    """Mean loss of each epoch."""
    accuracy: float = 0.0
    """Share of rows whose whole target the trained network predicts (on the training rows)."""
    rows: int = 0
    epochs_run: int = 0
    seconds: float = 0.0
    dataset: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "folder": str(self.folder), "losses": [round(x, 4) for x in self.losses],
            "accuracy": round(self.accuracy, 4), "rows": self.rows, "epochs_run": self.epochs_run,
            "seconds": round(self.seconds, 1),
        }  # fmt: skip


def vocabularies(
    rows: Sequence[Row], parent: BundledConfig | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return (keys, templates): the parent's (or the base keys and '{}'), then new ones from the rows."""
    keys = list(parent.keys if parent else sf.BASE_KEYS)
    templates = list(parent.templates if parent else ("{}",))
    for k in sorted({str(r.target["key"]) for r in rows if r.target.get("key")}):
        if k not in keys:
            keys.append(k)
    counts = Counter(str(r.target["template"]) for r in rows if r.target.get("kind") == "type")
    for t, _ in counts.most_common():
        if t not in templates and len(templates) < MAX_TEMPLATES:
            templates.append(t)
    return tuple(keys), tuple(templates)


def featurize_rows(rows: Sequence[Row], encode: sf.Encode) -> list[sf.Features]:
    """Return the features of each row (what the policy would see at that step)."""
    return [sf.featurize(r.policy_input(), encode) for r in rows]


def _labels(rows: Sequence[Row], config: BundledConfig) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        t = r.target
        out.append({
            "kind": sf.KINDS.index(t["kind"]),
            "option": t.get("option", -1),
            "key": _index(config.keys, t.get("key")),
            "template": _index(config.templates, t.get("template")),
            "span": t.get("span", -1) if t.get("span") is not None else -1,
            "changed": r.changed,
        })  # fmt: skip
    return out


def _index(vocabulary: Sequence[str], value: object) -> int:
    return vocabulary.index(value) if isinstance(value, str) and value in vocabulary else -1


def _loss(net: Any, feats: Sequence[sf.Features], labels: Sequence[dict[str, Any]], aux: float) -> Any:
    import torch
    from torch.nn import functional

    batch = collate(feats)
    out = net(batch)
    kind = torch.tensor([lab["kind"] for lab in labels])
    loss = functional.cross_entropy(out["kind"], kind)
    for head in ("option", "key", "template", "span"):
        logits = out["pointer" if head == "option" else head]
        want = torch.tensor([lab[head] for lab in labels])
        ok = want >= 0
        if head == "option":
            ok &= torch.tensor([sf.KINDS[lab["kind"]] in sf.POINTER_KINDS for lab in labels])
        if ok.any():
            loss = loss + functional.cross_entropy(logits[ok], want[ok])
    if aux > 0:
        mask = batch["option_mask"].clone()
        mask &= torch.tensor([sf.KINDS[lab["kind"]] != "done" for lab in labels])[:, None]
        if mask.any():
            target = torch.zeros_like(mask, dtype=torch.float32)
            for i, lab in enumerate(labels):
                for j in lab["changed"]:
                    if j < target.shape[1]:
                        target[i, j] = 1.0
            logits = net.change_logits(out["hidden"], kind)
            loss = loss + aux * functional.binary_cross_entropy_with_logits(logits[mask], target[mask])
    return loss


def predict(net: Any, feats: Sequence[sf.Features], config: BundledConfig) -> list[sf.Target]:
    """Return the network's target for each step (the policy's own decoding)."""
    import torch

    from cua.policies.bundled import decode

    out = []
    with torch.inference_mode():
        for f in feats:
            target, _ = decode(net(collate([f])), f, config)
            out.append(target)
    return out


def accuracy(net: Any, feats: Sequence[sf.Features], rows: Sequence[Row], config: BundledConfig) -> float:
    """Return the share of rows whose whole target the network predicts."""
    if not rows:
        return 0.0
    hits = 0
    for target, r, f in zip(predict(net, feats, config), rows, feats, strict=True):
        want = r.target_of()
        if target.kind != want.kind:
            continue
        if want.kind == "type":
            hits += target.text(f.span_texts) == want.text(f.span_texts)
        else:
            hits += target == want
    return hits / len(rows)


def train_bundled(
    rows: Sequence[Row],
    out: Path,
    config: TrainConfig = TrainConfig(),
    *,
    parent: Path | None = None,
    encoder: Any = None,
    resume: bool = True,
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train the bundled policy on ``rows`` into checkpoint folder ``out``; return the losses and accuracy.

    ``parent``: a checkpoint to start from (its weights and vocabularies, extended by the rows').
    UsageError for no rows. With ``resume`` an interrupted run in ``out`` continues.
    """
    import torch

    from cua.models.embed import make_encoder

    if not rows:
        raise UsageError(
            "no training rows: explore an application first (`cua explore --app APP`), so that "
            "synthesized tasks and verified runs exist"
        )
    t0 = time.monotonic()
    parent_net, parent_config = load_checkpoint(parent) if parent is not None else (None, None)
    keys, templates = vocabularies(rows, parent_config)
    data = manifest(rows)
    base = parent_config or BundledConfig(hidden=config.hidden)
    bconfig = BundledConfig(keys, templates, base.hidden, base.role_dim, base.text_dim, base.encoder,
                            _short_manifest(data))  # fmt: skip
    enc = encoder or make_encoder(bconfig.encoder)
    feats = featurize_rows(rows, enc.encode)
    labels = _labels(rows, bconfig)
    torch.manual_seed(config.seed)
    net = build_net(bconfig)
    if parent_net is not None:
        _load_fitting(net, parent_net.state_dict())
    opt = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    result = TrainResult(out, rows=len(rows), dataset=data)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE_FILE
    first = 0
    if resume and state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        if state.get("config") == asdict(config) and state.get("dataset") == data["sha256"]:
            net.load_state_dict(state["net"])
            opt.load_state_dict(state["opt"])
            first, result.losses = int(state["epoch"]), list(state["losses"])
    rng = random.Random(config.seed)
    order = list(range(len(rows)))
    for epoch in range(first, config.epochs):
        net.train()
        rng.seed(config.seed * 100_003 + epoch)
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            loss = _loss(net, [feats[i] for i in idx], [labels[i] for i in idx], config.aux_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        result.losses.append(total / len(rows))
        if progress is not None:
            progress(epoch + 1, result.losses[-1])
        if (epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == config.epochs:
            torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "epoch": epoch + 1,
                        "losses": result.losses, "config": asdict(config), "dataset": data["sha256"]},
                       state_path)  # fmt: skip
    net.eval()
    result.epochs_run = config.epochs - first
    result.accuracy = accuracy(net, feats, rows, bconfig)
    save_checkpoint(net, bconfig, out)
    result.seconds = time.monotonic() - t0
    record = {"config": asdict(config), "result": result.as_dict(), "parent": str(parent) if parent else None}
    (out / "train.json").write_text(json.dumps(record, indent=1) + "\n")
    return result


def _short_manifest(data: dict[str, Any]) -> dict[str, Any]:
    """Return the manifest as a checkpoint keeps it: the task hashes counted, not listed."""
    return {k: v for k, v in data.items() if k != "tasks"} | {"task_count": len(data["tasks"])}


def _load_fitting(net: Any, state: dict[str, Any]) -> None:
    """Copy the parent's weights into ``net``; a head whose vocabulary grew keeps the parent's rows."""
    own = net.state_dict()
    for name, value in state.items():
        if name not in own:
            continue
        if own[name].shape == value.shape:
            own[name] = value.clone()
        elif own[name].dim() == value.dim() and own[name].shape[1:] == value.shape[1:]:
            n = min(own[name].shape[0], value.shape[0])
            own[name][:n] = value[:n]
    net.load_state_dict(own)


__all__ = [
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "featurize_rows",
    "predict",
    "train_bundled",
    "vocabularies",
]
