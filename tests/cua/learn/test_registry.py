"""The model registry over real SQLite files: lineage, decisions, the current model, bad files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cua.errors import CuaError, UsageError
from cua.learn.gate import GateConfig, decide
from cua.learn.registry import ModelEntry, ModelRegistry, RegistryError, content_hash
from cua.store.errors import SchemaTooNew, StoreCorrupt, StoreError, StoreLocked


class Clock:
    """A clock the test moves: one second per reading."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def checkpoint(where: Path, content: str) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "config.json").write_text('{"layers": 2}')
    (where / "weights" / "part1.bin").parent.mkdir(exist_ok=True)
    (where / "weights" / "part1.bin").write_bytes(content.encode())
    return where


def register(registry: ModelRegistry, tmp_path: Path, name: str, parent: str | None = None) -> ModelEntry:
    return registry.register(
        "bundled",
        checkpoint(tmp_path / "ckpt" / name, name),
        parent=parent,
        dataset={"runs": [f"run-{name}"], "rows": 120},
        config={"lr": 1e-4, "epochs": 2},
        metrics={"loss": 0.31},
        note=f"model {name}",
    )


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[ModelRegistry]:
    with ModelRegistry(tmp_path / "data", clock=Clock()) as reg:
        yield reg


def test_register_gives_sequential_ids_from_the_content_hash(registry: ModelRegistry, tmp_path: Path) -> None:
    a = register(registry, tmp_path, "a")
    b = register(registry, tmp_path, "b", parent=a.id)
    assert a.id == f"m0001-{content_hash(a.path)[:8]}" and a.content_hash == content_hash(a.path)
    assert b.id.startswith("m0002-") and b.id != a.id
    assert a.status == b.status == "candidate"
    assert b.parent == a.id and b.dataset == {"runs": ["run-b"], "rows": 120}
    assert b.config == {"lr": 1e-4, "epochs": 2} and b.metrics == {"loss": 0.31} and b.note == "model b"
    assert registry.path == tmp_path / "data" / "models" / "registry.sqlite"
    assert registry.get(a.id) == a
    assert [e.id for e in registry.list()] == [a.id, b.id]
    journal = sqlite3.connect(registry.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


def test_the_content_hash_is_of_the_files_wherever_they_lie(tmp_path: Path) -> None:
    one = checkpoint(tmp_path / "one", "same")
    two = checkpoint(tmp_path / "elsewhere" / "two", "same")
    assert content_hash(one) == content_hash(two)
    (two / "weights" / "part1.bin").write_bytes(b"other")
    assert content_hash(one) != content_hash(two)
    with pytest.raises(UsageError, match="no checkpoint"):
        content_hash(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="has no files"):
        content_hash(tmp_path / "empty")


def test_a_checkpoint_written_under_models_is_moved_to_its_id(registry: ModelRegistry) -> None:
    new = checkpoint(registry.new_checkpoint_dir(), "trained here")
    entry = registry.register("bundled", new, parent=None, dataset={}, config={}, metrics={})
    assert entry.path == registry.models_dir.absolute() / entry.id
    assert not new.exists() and (entry.path / "weights" / "part1.bin").read_bytes() == b"trained here"
    assert entry.content_hash == content_hash(entry.path)


def test_registering_refuses_bad_input(registry: ModelRegistry, tmp_path: Path) -> None:
    a = register(registry, tmp_path, "a")
    with pytest.raises(UsageError, match="already registered as m0001"):
        registry.register("bundled", a.path, parent=None, dataset={}, config={}, metrics={})
    with pytest.raises(UsageError, match="no model 'm0099'"):
        registry.register("bundled", checkpoint(tmp_path / "x", "x"), parent="m0099", dataset={},
                          config={}, metrics={})  # fmt: skip
    with pytest.raises(ValueError, match="metrics must be a JSON object"):
        registry.register("bundled", tmp_path / "x", parent=None, dataset={}, config={},
                          metrics={"loss": float("nan")})  # fmt: skip
    with pytest.raises(UsageError, match="a file in the registry's own directory"):
        registry.register("bundled", registry.path, parent=None, dataset={}, config={}, metrics={})
    with pytest.raises(UsageError, match="holds the registry"):
        registry.register("bundled", registry.data_dir, parent=None, dataset={}, config={}, metrics={})
    assert [e.id for e in registry.list()] == [a.id]


def test_lookup_by_unique_prefix(registry: ModelRegistry, tmp_path: Path) -> None:
    entries = [register(registry, tmp_path, name) for name in "abcdefghijk"]
    assert registry.get("m0003").id == entries[2].id
    assert registry.get(entries[10].id[:8]).id == entries[10].id
    with pytest.raises(UsageError, match="ambiguous") as ambiguous:
        registry.get("m001")
    assert entries[9].id in str(ambiguous.value) and entries[10].id in str(ambiguous.value)
    with pytest.raises(UsageError, match="no model 'zzz'") as unknown:
        registry.get("zzz")
    assert entries[10].id in str(unknown.value)  # the known ids, newest first
    assert isinstance(unknown.value, CuaError)


def test_an_empty_registry_says_so(registry: ModelRegistry) -> None:
    with pytest.raises(UsageError, match="has no models yet"):
        registry.get("m0001")
    assert registry.current() is None and registry.list() == []


def test_gate_decisions_set_the_status_and_are_stored_with_their_numbers(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    a, b = register(registry, tmp_path, "a"), register(registry, tmp_path, "b")
    win, loss = (True, False), (False, True)
    good = decide([win] * 40, [(True, True)] * 5, GateConfig())
    bad = decide([loss] * 40, [(True, True)] * 5, GateConfig())
    recorded = registry.record_decision(a.id, good.as_dict())
    assert recorded.action == "promoted" and recorded.source == "gate" and recorded.reason == good.reason
    registry.record_decision(b.id, bad.as_dict())
    assert registry.get(a.id).status == "promoted" and registry.get(b.id).status == "rejected"
    assert registry.current() == registry.get(a.id)
    (stored,) = registry.decisions(a.id)
    assert stored.data == good.as_dict() and stored.time.year == 2023
    assert stored.data["p_value"] == good.p_value and stored.data["wins"] == good.wins
    with pytest.raises(UsageError, match="a gate decides a candidate once"):
        registry.record_decision(b.id, good.as_dict())  # re-running a gate until it passes
    note = registry.record_decision(b.id, {"reason": "re-measured", "success_rate": 0.4})
    assert note.action == "noted" and registry.get(b.id).status == "rejected"
    assert [d.action for d in registry.decisions(b.id)] == ["rejected", "noted"]


def test_promote_by_hand_and_roll_back(registry: ModelRegistry, tmp_path: Path) -> None:
    a = register(registry, tmp_path, "a")
    b = register(registry, tmp_path, "b", parent=a.id)
    c = register(registry, tmp_path, "c", parent=b.id)
    registry.promote(a.id, "the first model")
    registry.promote(b.id, "better on the demo tasks")
    promoted = registry.promote("m0003", "trust me")
    assert promoted.status == "promoted" and promoted.promoted_at is not None
    assert registry.current() == promoted
    person = registry.decisions(c.id)[-1]
    assert (person.source, person.action, person.reason) == ("person", "promoted", "trust me")
    assert person.data["previous_status"] == "candidate"

    now = registry.rollback("bundled", "c clicks the wrong buttons")
    assert now.id == b.id and registry.current() == registry.get(b.id)
    assert registry.get(c.id).status == "retired"
    retired = registry.decisions(c.id)[-1]
    assert (retired.action, retired.data["rolled_back_to"]) == ("retired", b.id)

    assert registry.rollback(reason="b too").id == a.id
    with pytest.raises(UsageError, match="nothing to roll back to"):
        registry.rollback(reason="and a")
    assert registry.current() == registry.get(a.id)  # the refused rollback changed nothing
    assert registry.current("lora") is None
    with pytest.raises(UsageError, match="no lora model is promoted"):
        registry.rollback("lora", "none")
    with pytest.raises(UsageError, match="--reason"):
        registry.promote(b.id, " ")
    registry.promote(c.id, "fixed after all")  # a retired model can be promoted again by hand
    assert registry.current() == registry.get(c.id)


def test_lineage_is_the_chain_of_parents(registry: ModelRegistry, tmp_path: Path) -> None:
    a = register(registry, tmp_path, "a")
    b = register(registry, tmp_path, "b", parent=a.id)
    c = register(registry, tmp_path, "c", parent=b.id[:5])
    assert c.parent == b.id
    assert [e.id for e in registry.lineage(c.id)] == [c.id, b.id, a.id]
    assert [e.dataset["runs"] for e in registry.lineage(c.id)] == [["run-c"], ["run-b"], ["run-a"]]
    assert registry.lineage(a.id) == [a]


def test_remove_deletes_only_its_own_files_and_keeps_the_record(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    inside = registry.register("bundled", checkpoint(registry.new_checkpoint_dir(), "in"), parent=None,
                               dataset={}, config={}, metrics={})  # fmt: skip
    outside = register(registry, tmp_path, "outside")
    registry.promote(inside.id, "in use")
    with pytest.raises(UsageError, match="roll it back before removing it"):
        registry.remove(inside.id, "space")
    registry.promote(outside.id, "newer")
    removed = registry.remove(inside.id, "space")
    assert removed.status == "removed" and not inside.path.exists()
    assert registry.decisions(inside.id)[-1].data["deleted_files"] is True
    with pytest.raises(UsageError, match="was removed"):
        registry.promote(inside.id, "again")
    registry.promote(register(registry, tmp_path, "third").id, "newest")
    registry.remove(outside.id, "not needed")
    assert outside.path.exists()  # a checkpoint registered from elsewhere is left alone
    assert registry.decisions(outside.id)[-1].data["deleted_files"] is False


def test_everything_persists_across_reopening(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ModelRegistry(data, clock=Clock()) as registry:
        a = register(registry, tmp_path, "a")
        b = register(registry, tmp_path, "b", parent=a.id)
        registry.record_decision(a.id, decide([(True, False)] * 40, [], GateConfig()).as_dict())
        registry.promote(b.id, "by hand")
        before = (registry.list(), registry.decisions(a.id), registry.decisions(b.id), registry.current())
    with ModelRegistry(data) as registry:
        after = (registry.list(), registry.decisions(a.id), registry.decisions(b.id), registry.current())
        assert after == before
        assert registry.lineage(b.id) == [registry.get(b.id), registry.get(a.id)]
        c = register(registry, tmp_path, "c")
        assert c.id.startswith("m0003-")


def test_a_corrupt_file_gives_a_clear_error(tmp_path: Path) -> None:
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    (models / "registry.sqlite").write_bytes(b"this is not a database, it is " * 200)
    with pytest.raises(StoreCorrupt) as error:
        ModelRegistry(tmp_path / "data")
    message = str(error.value)
    assert str(models / "registry.sqlite") in message
    assert "damaged or is not a cua model registry" in message and "move it aside" in message
    assert isinstance(error.value, StoreError) and isinstance(error.value, CuaError)


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    with sqlite3.connect(models / "registry.sqlite") as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    with pytest.raises(StoreCorrupt, match=r"it is another SQLite database.*move it aside"):
        ModelRegistry(tmp_path / "data")


def test_a_file_from_a_newer_cua_is_refused(tmp_path: Path) -> None:
    ModelRegistry(tmp_path / "data").close()
    conn = sqlite3.connect(tmp_path / "data" / "models" / "registry.sqlite")
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    with pytest.raises(
        SchemaTooNew, match=r"schema version 7, but this cua knows only up to 1: upgrade cua"
    ) as error:
        ModelRegistry(tmp_path / "data")
    assert f"the model registry {tmp_path / 'data' / 'models' / 'registry.sqlite'}" in str(error.value)


def test_a_registry_locked_too_long_says_so_and_writes_nothing(tmp_path: Path) -> None:
    with ModelRegistry(tmp_path / "data", busy_timeout_s=0.1) as registry:
        other = sqlite3.connect(registry.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreLocked, match=r"the model registry .* stayed locked .* retry"):
                register(registry, tmp_path, "a")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert registry.list() == []


def test_registry_errors_are_store_errors() -> None:
    assert issubclass(RegistryError, StoreError)
