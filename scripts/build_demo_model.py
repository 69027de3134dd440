"""Build the demo model: a tiny checkpoint taught, by imitating its oracle, to solve one built-in task.

Prints one JSON object (where the model is, the task, the pixel limits to pass to `cua run`,
the overfit cost). Used by scripts/run.sh for the main job and by the end-to-end tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from cua.learn.imitation import build_task_model
from cua.tasks import find_task
from sandbox.xvfb import XvfbSandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the checkpoint (created)")
    parser.add_argument("--task", default="galculator.press-digit/0", help="built-in task id")
    parser.add_argument("--format", default="ui-tars-1.5", help="output format the model learns")
    args = parser.parse_args()
    torch.set_num_threads(2)
    _, task = find_task(args.task)
    t0 = time.monotonic()
    with XvfbSandbox() as sb:
        result = build_task_model(task, sb, args.out, format_name=args.format)
    record = json.loads((args.out / "imitation.json").read_text())
    print(json.dumps({"model_dir": str(args.out), **record, "wall_s": round(time.monotonic() - t0, 1),
                      "loss": round(result.loss, 4)}))  # fmt: skip


if __name__ == "__main__":
    main()
