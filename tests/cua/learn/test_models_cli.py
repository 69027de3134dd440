"""``cua models ...`` over a real registry: list, show, promote by hand, roll back, in text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cua.cli import app
from cua.errors import UsageError
from cua.learn.gate import GateConfig, decide
from cua.learn.registry import ModelRegistry


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory whose registry holds a promoted a, its child b (candidate) and c (rejected)."""
    data = tmp_path / "data"
    with ModelRegistry(data) as registry:
        ids: list[str] = []
        for name in "abc":
            ckpt = registry.new_checkpoint_dir()
            (ckpt / "weights.bin").write_text(name)
            entry = registry.register(
                "bundled",
                ckpt,
                parent=ids[-1] if ids else None,
                dataset={"rows": 10 * len(ids)},
                config={"lr": 0.001},
                metrics={"loss": 1.0 / (1 + len(ids))},
                note=f"model {name}",
            )
            ids.append(entry.id)
        registry.record_decision(ids[0], decide([(True, False)] * 40, [], GateConfig()).as_dict())
        registry.record_decision(ids[2], decide([(False, True)] * 40, [], GateConfig()).as_dict())
    return data


def cua(*args: str) -> Result:
    return CliRunner().invoke(app, ["models", *args])


def test_list_marks_the_model_in_use(data_dir: Path) -> None:
    result = cua("list", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["id", "kind", "status", "registered", "parent", "note"]
    assert lines[1].startswith("*m0001-") and "promoted" in lines[1] and "model a" in lines[1]
    assert lines[2].startswith(" m0002-") and "candidate" in lines[2] and lines[1][1:15] in lines[2]
    assert "rejected" in lines[3]
    assert lines[4] == f"# 3 models in {data_dir / 'models' / 'registry.sqlite'}"


def test_list_as_json_and_filtered(data_dir: Path) -> None:
    rows = json.loads(cua("list", "--data-dir", str(data_dir), "--json").output)
    assert [(r["status"], r["current"]) for r in rows] == [("promoted", True), ("candidate", False),
                                                           ("rejected", False)]  # fmt: skip
    assert rows[1]["parent"] == rows[0]["id"] and rows[1]["dataset"] == {"rows": 10}
    only = json.loads(cua("list", "--data-dir", str(data_dir), "--json", "--status", "rejected").output)
    assert [r["id"] for r in only] == [rows[2]["id"]]
    assert json.loads(cua("list", "--data-dir", str(data_dir), "--json", "--kind", "lora").output) == []
    bad = cua("list", "--data-dir", str(data_dir), "--status", "great")
    assert isinstance(bad.exception, UsageError) and "--status must be one of" in str(bad.exception)


def test_show_gives_lineage_and_decisions(data_dir: Path) -> None:
    result = cua("show", "m0003", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("model m0003-") and "bundled  rejected" in out
    assert "rejected: rejected" not in out
    assert "lineage: m0003-" in out and out.count(" <- ") == 2
    assert 'config: {"lr": 0.001}' in out and "note: model c" in out
    assert "[gate] rejected: the candidate won 0 and lost 24" in out
    data = json.loads(cua("show", "m0001", "--data-dir", str(data_dir), "--json").output)
    assert data["current"] is True and data["lineage"] == [data["id"]]
    (decision,) = data["decisions"]
    assert decision["source"] == "gate" and decision["data"]["wins"] == 37 and decision["data"]["promoted"]


def test_show_an_unknown_model_names_the_known_ones(data_dir: Path) -> None:
    result = cua("show", "m0042", "--data-dir", str(data_dir))
    assert result.exit_code != 0 and isinstance(result.exception, UsageError)
    assert "no model 'm0042'" in str(result.exception) and "m0001-" in str(result.exception)


def test_promote_then_roll_back(data_dir: Path) -> None:
    result = cua("promote", "m0002", "--reason", "solves the calc tasks", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("promoted m0002-") and "bundled model in use" in result.output
    shown = json.loads(cua("show", "m0002", "--data-dir", str(data_dir), "--json").output)
    assert shown["current"] is True and shown["status"] == "promoted"
    assert shown["decisions"][-1]["source"] == "person"
    assert shown["decisions"][-1]["reason"] == "solves the calc tasks"

    rolled = cua("rollback", "--reason", "clicks wrong", "--data-dir", str(data_dir), "--json")
    assert rolled.exit_code == 0, rolled.output
    out = json.loads(rolled.output)
    assert out["retired"] == shown["id"] and out["current"]["id"].startswith("m0001-")
    with ModelRegistry(data_dir) as registry:
        assert registry.get("m0002").status == "retired"
        current = registry.current()
        assert current is not None and current.id.startswith("m0001-")

    again = cua("rollback", "--reason", "again", "--data-dir", str(data_dir))
    assert isinstance(again.exception, UsageError) and "nothing to roll back to" in str(again.exception)


def test_promote_and_rollback_need_a_reason(data_dir: Path) -> None:
    for args in (["promote", "m0002"], ["rollback"]):
        result = cua(*args, "--data-dir", str(data_dir))
        assert result.exit_code == 2 and "--reason" in result.output


def test_the_data_dir_comes_from_the_environment_too(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUA_DATA_DIR", str(data_dir))
    result = cua("promote", "m0002", "--reason", "env", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["id"].startswith("m0002-")


def test_train_with_nothing_explored_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, UsageError) and "cua explore --app APP" in str(result.exception)
