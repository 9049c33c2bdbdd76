"""Records, for every samples/*_on_movielens.config, the first training step's loss and
regularisation on one fixed batch, and compares them with an earlier record.

    python scripts/check_first_step_loss.py --output /tmp/before.json
    ... change the models or layers ...
    python scripts/check_first_step_loss.py --output /tmp/after.json --compare /tmp/before.json

Each model is built under a fixed seed and runs one batch of the sample's training data in
training mode (as the trainer's first step does, before any update). The record holds the
task loss, the total regularisation (embedding + dense L2), the dense L2 alone and the names
of the kernels that L2 covers, so a change of the regularised set shows up by name. With
--compare the script prints a table and exits 1 when a value differs by more than --tolerance
or the kernel names differ.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from easy_rec.input.reader import build_reader  # noqa: E402
from easy_rec.models.builder import build_model, model_column_plan  # noqa: E402
from easy_rec.pipeline import load_pipeline_config  # noqa: E402

SAMPLES = os.path.join(REPO, "samples")
SUFFIX = "_on_movielens.config"
VALUES = ("loss", "regularization", "dense_l2")


def first_step(path: str, batch_size: int, seed: int) -> dict:
    """{loss, regularization, dense_l2, kernels} of one training-mode batch of a sample."""
    config = load_pipeline_config(path).config
    tf.random.set_seed(seed)
    model = build_model(config, base_dir=SAMPLES)
    reader = build_reader(config.data_config, os.path.join(REPO, config.train_input_path),
                          model_column_plan(config, model))
    batch = next(iter(reader.make_dataset(batch_size, num_epochs=1, shuffle=False)))
    tf.random.set_seed(seed)
    outputs = model(batch, training=True)
    return {"loss": float(model.loss(outputs, batch)),
            "regularization": float(model.regularization(outputs)),
            "dense_l2": float(model.dense_l2()),
            "kernels": sorted(v.name for v in model.regularized_kernels())}


def compare(before: dict, after: dict, tolerance: float) -> bool:
    """Prints a before / after table; True when every sample matches."""
    ok = True
    print(f"{'sample':16} {'loss before':>14} {'loss after':>14} {'reg before':>14} "
          f"{'reg after':>14} {'max |diff|':>11} kernels")
    for sample in sorted(set(before) | set(after)):
        old, new = before.get(sample), after.get(sample)
        if old is None or new is None:
            print(f"{sample:16} only {'after' if old is None else 'before'}")
            ok = False
            continue
        diff = max(abs(old[k] - new[k]) for k in VALUES)
        same_kernels = old["kernels"] == new["kernels"]
        ok &= diff <= tolerance and same_kernels
        print(f"{sample:16} {old['loss']:14.8f} {new['loss']:14.8f} {old['regularization']:14.8f} "
              f"{new['regularization']:14.8f} {diff:11.2e} "
              f"{len(new['kernels'])} {'same' if same_kernels else 'DIFFER'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="JSON file to write the record to")
    parser.add_argument("--compare", help="an earlier record to compare with")
    parser.add_argument("--samples", nargs="*", help="sample names (default: all)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tolerance", type=float, default=1e-6)
    args = parser.parse_args()
    paths = sorted(glob.glob(os.path.join(SAMPLES, f"*{SUFFIX}")))
    record = {}
    for path in paths:
        sample = os.path.basename(path)[:-len(SUFFIX)]
        if not args.samples or sample in args.samples:
            record[sample] = first_step(path, args.batch_size, args.seed)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
    if args.compare:
        with open(args.compare, encoding="utf-8") as f:
            before = json.load(f)
        return 0 if compare({k: v for k, v in before.items() if k in record}, record,
                            args.tolerance) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
