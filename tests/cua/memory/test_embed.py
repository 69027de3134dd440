"""Text encoders and the index's record of which encoder made its vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cua.errors import CuaError, UsageError
from cua.memory import ExperienceIndex, MiniLMEncoder, NewItem, StaticEncoder, StepNote, TextEncoder
from cua.memory.index import MemoryIndexError
from cua.models import embed

PARAPHRASES = [
    ("In the file manager, create a folder named reports.", "Using the file browser, make a dir reports."),
    ("With the calculator, compute 12 plus 30.", "On the calculator app, add 12 and 30."),
    ("In the browser, open the Pricing page by clicking its link.", "Follow the Pricing link in Chromium."),
]


@pytest.fixture(scope="module")
def minilm() -> MiniLMEncoder:
    return MiniLMEncoder()


def item(encoder: TextEncoder, n: int, instruction: str) -> NewItem:
    screen = np.zeros((1, embed.SCREEN_DIM), np.float32)
    return NewItem("success", f"fam.{n}", "fake", instruction, (StepNote("done"),), f"sig{n}",
                   encoder.encode([instruction])[0], screen[0], screen, f"run{n}", f"fam.{n}/0")  # fmt: skip


@pytest.mark.parametrize("which", ["static", "minilm"])
def test_encoders_make_unit_rows_and_paraphrases_land_closest(
    which: str, encoder: TextEncoder, minilm: MiniLMEncoder
) -> None:
    enc: TextEncoder = encoder if which == "static" else minilm
    stored = enc.encode([a for a, _ in PARAPHRASES])
    queries = enc.encode([b for _, b in PARAPHRASES])
    assert stored.shape == (3, enc.dim) and stored.dtype == np.float32
    assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)
    assert list(np.argmax(queries @ stored.T, axis=1)) == [0, 1, 2]  # each paraphrase finds its original
    alone = enc.encode([PARAPHRASES[0][0]])
    assert np.array_equal(enc.encode([PARAPHRASES[0][0]]), alone)  # deterministic
    # Batched with others (padded), a row may differ in the last float bits, not more.
    assert np.allclose(alone, stored[:1], atol=1e-5)


def test_static_encoder_edge_cases_and_names(encoder: TextEncoder, minilm: MiniLMEncoder) -> None:
    assert not np.any(encoder.encode([""]))  # nothing to embed: a zero row, similar to nothing
    assert encoder.encode([]).shape == (0, embed.TEXT_DIM)
    assert encoder.name != minilm.name and "static" in encoder.name
    with pytest.raises(UsageError, match="unknown text encoder 'bm25'"):
        embed.make_encoder("bm25")


def test_static_table_is_cached_and_a_broken_cache_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[int] = []
    table = np.random.default_rng(0).standard_normal((30522, embed.TEXT_DIM)).astype(np.float32)

    def fake_distill(folder: Path | None = None) -> np.ndarray:
        built.append(1)
        return table

    monkeypatch.setattr(embed, "distill_token_table", fake_distill)
    first = StaticEncoder(cache=tmp_path)
    second = StaticEncoder(cache=tmp_path)
    assert len(built) == 1  # built once, then read from the cache
    assert np.array_equal(first.encode(["save the file"]), second.encode(["save the file"]))
    (cached,) = tmp_path.glob("minilm-static-*.npy")
    cached.write_bytes(b"not a numpy file")
    with pytest.raises(CuaError, match=r"unreadable.*removed it"):
        StaticEncoder(cache=tmp_path)
    assert not cached.exists()
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(CuaError, match="CUA_CACHE_DIR"):
        StaticEncoder(cache=blocked / "sub")


def test_index_records_its_encoder_and_reembeds_for_another(
    tmp_path: Path, encoder: TextEncoder, minilm: MiniLMEncoder
) -> None:
    with ExperienceIndex(tmp_path / "mem") as index:
        assert index.encoder_name is None
        index.add([item(minilm, n, a) for n, (a, _) in enumerate(PARAPHRASES)], encoder=minilm.name)
        assert index.encoder_name == minilm.name
        with pytest.raises(MemoryIndexError, match="bind_encoder"):
            index.add([item(encoder, 9, "press OK")], encoder=encoder.name)
        assert index.bind_encoder(encoder) == 3
        assert index.bind_encoder(encoder) == 0  # already bound: nothing to do
        assert index.encoder_name == encoder.name
        stored = index.arrays().text
        assert np.allclose(stored, encoder.encode([a for a, _ in PARAPHRASES]), atol=1e-6)
    with ExperienceIndex(tmp_path / "mem") as reopened:  # the record survives a reopen
        assert reopened.encoder_name == encoder.name


def test_an_index_from_before_the_record_counts_as_minilm(tmp_path: Path, minilm: MiniLMEncoder) -> None:
    with ExperienceIndex(tmp_path / "mem") as index:
        index.add([item(minilm, 0, PARAPHRASES[0][0])])  # no encoder named, as older code did
        assert index.encoder_name == "all-MiniLM-L6-v2"
        assert index.bind_encoder(minilm) == 0


def test_building_the_table_without_torch_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_torch(folder: Path | None = None) -> np.ndarray:
        raise ModuleNotFoundError("No module named 'torch'")

    monkeypatch.setattr(embed, "distill_token_table", no_torch)
    with pytest.raises(CuaError, match=r"needs torch and transformers.*\.\[model\]"):
        StaticEncoder(cache=tmp_path)
    assert not list(tmp_path.glob("*.npy"))  # nothing half-written is left to be read later
