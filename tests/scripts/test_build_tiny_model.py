"""Smoke-run scripts/build_tiny_model.py as the README shows it: ``build_tiny_model.py OUT_DIR``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_tiny_model.py"


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_tiny_model", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(180)
def test_positional_out_dir_builds_a_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, timeout=170
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["model_dir"] == str(out.resolve()) and result["arch"] == "qwen2_5_vl"
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()


def test_out_option_still_works_and_one_directory_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    parse = script().parse_args
    assert parse(["/tmp/x"]).out == Path("/tmp/x")
    assert parse(["--out", "/tmp/y", "--arch", "qwen3_vl"]).out == Path("/tmp/y")
    for argv in ([], ["/tmp/x", "--out", "/tmp/y"]):
        with pytest.raises(SystemExit) as exit_info:
            parse(argv)
        assert exit_info.value.code == 2
    assert "give the output directory once: OUT_DIR or --out OUT_DIR" in capsys.readouterr().err
