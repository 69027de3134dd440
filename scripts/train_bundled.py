"""Build the bundled policy's dataset from explorations and train the checkpoint the repository ships.

    python scripts/train_bundled.py --data-dir DIR [--data-dir DIR2 ...] --rows OUT_ROWS [--out DIR]
    python scripts/train_bundled.py --rows ROWS [--out DIR]       (retrain from a saved dataset)
    python scripts/train_bundled.py --data-dir DIR --merge OLD_ROWS --rows OUT_ROWS  (new rows + saved ones)

With ``--data-dir``, every task the exploration in DIR synthesized and proved (``explore.sqlite``)
and every verified attempt at one is re-enacted in a sandbox into training rows
(``cua.learn.dataset``), which are saved under ``--rows``. Then the bundled policy is trained on
them (``cua.learn.train``) into ``--out`` (default: ``cua/policies/weights/bundled``), with
``dataset.json`` beside the weights: the manifest of the rows (their hash, the synthesized task
hashes, apps, kinds, sources). Built-in tasks never enter: only synthesized tasks are listed.
Prints one JSON object: the build and training figures, with their wall times.

``--ablation`` also measures the early-experience head: the rows of one synthesized task in four
(by hash) are held out, the policy is trained on the rest with the auxiliary loss and without it,
and the share of held-out steps whose whole target each predicts is reported.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cua.explore.db import ExploreDB
from cua.explore.rounds import is_held_out, listed_tasks
from cua.learn.dataset import Row, balance, build_rows, dedup, load_rows, manifest, save_rows
from cua.learn.train import TrainConfig, train_bundled
from cua.policies.bundled import CONFIG, WEIGHTS, default_checkpoint
from cua.store import TrajectoryStore
from sandbox.base import Sandbox


def say(line: str) -> None:
    """Show a progress line on stderr (stdout carries the JSON)."""
    print(line, file=sys.stderr)


def same(box: Sandbox) -> Sandbox:
    """Return ``box`` (one sandbox re-enacts every task of a data dir)."""
    return box


def ablation(rows: list[Row], epochs: int, aux_weight: float, seed: int) -> dict[str, object]:
    """Return held-out step accuracy of the policy trained with and without the early-experience loss."""
    import tempfile

    from cua.learn.train import accuracy, featurize_rows
    from cua.models.embed import make_encoder
    from cua.policies.bundled import load_checkpoint

    held = [r for r in rows if is_held_out(r.task_hash, 4)]
    train = balance([r for r in rows if not is_held_out(r.task_hash, 4)], random.Random(seed))
    encoder = make_encoder("static")
    feats = featurize_rows(held, encoder.encode)
    out: dict[str, object] = {"train_rows": len(train), "held_out_rows": len(held),
                              "held_out_tasks": len({r.task_hash for r in held})}  # fmt: skip
    for name, weight in (("with_early_experience", aux_weight), ("without", 0.0)):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TrainConfig(epochs=epochs, aux_weight=weight, seed=seed)
            train_bundled(train, Path(tmp), cfg, encoder=encoder, resume=False)
            net, config = load_checkpoint(Path(tmp))
            out[name] = round(accuracy(net, feats, held, config), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, action="append", default=[], help="an exploration's data")
    parser.add_argument("--rows", type=Path, required=True, help="the dataset folder (written or read)")
    parser.add_argument("--merge", type=Path, action="append", default=[],
                        help="a saved dataset whose rows join the built ones (repeatable)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="checkpoint folder (default: the shipped one)")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--aux-weight", type=float, default=TrainConfig.aux_weight)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ablation", action="store_true", help="held-out step accuracy, aux loss on/off")
    args = parser.parse_args()
    out = args.out or default_checkpoint()
    figures: dict[str, object] = {}
    rows: list[Row] = []
    t0 = time.monotonic()
    if args.data_dir:
        from sandbox import XvfbSandbox

        builds = []
        for data in args.data_dir:
            db = ExploreDB(data / "explore.sqlite")
            box = XvfbSandbox()
            try:
                with TrajectoryStore(data) as store:
                    got, report = build_rows(partial(same, box), listed_tasks(db), store, progress=say)
            finally:
                box.close()
                db.close()
            rows += got
            builds.append({"data_dir": str(data), **report.as_dict()})
        figures["build_s"] = round(time.monotonic() - t0, 1)
        figures["builds"] = builds
    rows += [r for folder in args.merge for r in load_rows(folder)]
    if args.data_dir or args.merge:
        save_rows(dedup(rows), args.rows)
    rows = load_rows(args.rows)
    training = balance(rows, random.Random(args.seed))
    t1 = time.monotonic()
    config = TrainConfig(epochs=args.epochs, aux_weight=args.aux_weight, seed=args.seed)
    result = train_bundled(training, out, config, resume=False)
    figures["train_s"] = round(time.monotonic() - t1, 1)
    for extra in ("train_state.pt", "train.json"):
        (out / extra).unlink(missing_ok=True)
    data = manifest(training)
    data["source_rows"] = len(rows)
    data["train"] = result.as_dict() | {"config": config.__dict__}
    (out / "dataset.json").write_text(json.dumps(data, indent=1) + "\n")
    if args.ablation:
        figures["ablation"] = ablation(rows, args.epochs, args.aux_weight, args.seed)
    size = sum((out / name).stat().st_size for name in (CONFIG, WEIGHTS, "dataset.json"))
    figures.update(rows=len(rows), training_rows=len(training), accuracy=round(result.accuracy, 4),
                   final_loss=round(result.losses[-1], 4), checkpoint=str(out), checkpoint_bytes=size,
                   kinds=data["kinds"], apps=data["apps"], sources=data["sources"])  # fmt: skip
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
