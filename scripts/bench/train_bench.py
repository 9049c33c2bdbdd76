"""Training throughput benchmark; prints one JSON line.

1. DeepFM on the MovieLens-100K sample table (samples/data, rebuilt from ../shared/data/ml-100k
   by scripts/build_movielens_sample.py): 5 epochs, training examples/s, wall seconds, test AUC.
2. The same model shapes on a synthetic table of 2M rows (10 categorical fields of 100k ids each,
   labels from a hidden logistic model), batch 1024, one epoch: examples/s at scale.

Usage: python scripts/bench/train_bench.py [--synthetic_rows 2000000] [--skip_synthetic]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from easy_rec.pipeline import load_pipeline_config, parse_pipeline_config_text  # noqa: E402
from easy_rec.training.trainer import Trainer  # noqa: E402

NUM_FIELDS = 10
IDS_PER_FIELD = 100_000


def write_synthetic_table(path: str, rows: int, seed: int = 0) -> None:
    """CSV of label + 10 int id columns; label ~ Bernoulli(sigmoid(sum of per-id effects)).

    The per-id effects are the same for every seed, so tables written with different seeds
    are train / test samples of one distribution.
    """
    effects = np.random.default_rng(0).normal(0.0, 0.6, size=(NUM_FIELDS, IDS_PER_FIELD))
    rng = np.random.default_rng(seed)
    chunk = 200_000
    with open(path, "w") as out:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ids = rng.zipf(1.3, size=(n, NUM_FIELDS)) % IDS_PER_FIELD
            logit = effects[np.arange(NUM_FIELDS), ids].sum(axis=1) - 0.5
            labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
            table = np.column_stack([labels, ids])
            np.savetxt(out, table, fmt="%d", delimiter=",")


def synthetic_config(train_path: str, eval_path: str, model_dir: str) -> str:
    """DeepFM over the synthetic table with the MovieLens sample's model shapes."""
    fields = "\n".join(f'  input_fields {{ input_name: "c{i}" input_type: INT64 }}'
                       for i in range(NUM_FIELDS))
    features = "\n".join(
        f'  features {{ input_names: "c{i}" feature_type: IdFeature embedding_dim: 16 '
        f'hash_bucket_size: {IDS_PER_FIELD} }}' for i in range(NUM_FIELDS))
    names = ", ".join(f'"c{i}"' for i in range(NUM_FIELDS))
    return f"""
train_input_path: "{train_path}"
eval_input_path: "{eval_path}"
model_dir: "{model_dir}"
train_config {{
  log_step_count_steps: 200
  optimizer_config {{ adam_optimizer {{ learning_rate {{ constant_learning_rate {{
    learning_rate: 0.001 }} }} }} }}
  save_checkpoints_steps: 1000000
}}
eval_config {{ metrics_set {{ auc {{}} }} }}
data_config {{
  input_type: CSVInput
  separator: ","
  batch_size: 1024
  num_epochs: 1
  shuffle_buffer_size: 8192
  prefetch_size: 8
  label_fields: "label"
  input_fields {{ input_name: "label" input_type: INT32 }}
{fields}
}}
feature_config {{
{features}
}}
model_config {{
  model_class: "DeepFM"
  feature_groups {{ group_name: "wide" feature_names: [{names}] wide_deep: WIDE }}
  feature_groups {{ group_name: "deep" feature_names: [{names}] wide_deep: DEEP }}
  deepfm {{ dnn {{ hidden_units: [256, 128, 64] }} l2_regularization: 1e-4 }}
  embedding_regularization: 1e-5
}}
export_config {{ exporter_type: "none" }}
"""


def run(config, base_dir: str) -> dict:
    """Trains and evaluates; returns throughput and quality figures."""
    start = time.time()
    trainer = Trainer(config, base_dir=base_dir)
    results = trainer.train()
    return {
        "examples_per_sec": round(trainer.train_stats["examples_per_sec"], 1),
        "train_seconds": round(trainer.train_stats["seconds"], 1),
        "wall_seconds": round(time.time() - start, 1),
        "steps": int(trainer.global_step),
        "auc": round(results.get("auc", float("nan")), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--synthetic_rows", type=int, default=2_000_000)
    parser.add_argument("--skip_synthetic", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    report: dict = {"bench": "train"}
    with tempfile.TemporaryDirectory() as tmp:
        samples = os.path.join(REPO, "samples")
        config = load_pipeline_config(
            os.path.join(samples, "deepfm_on_movielens.config"),
            {"model_dir": os.path.join(tmp, "movielens"),
             "train_input_path": os.path.join(samples, "data", "movielens_train.csv"),
             "eval_input_path": os.path.join(samples, "data", "movielens_test.csv"),
             "data_config.num_epochs": 5, "export_config.exporter_type": "none",
             "train_config.save_checkpoints_steps": 1000000}).config
        report["movielens_deepfm_5_epochs"] = run(config, samples)
        if not args.skip_synthetic:
            train_path = os.path.join(tmp, "synthetic_train.csv")
            eval_path = os.path.join(tmp, "synthetic_eval.csv")
            write_synthetic_table(train_path, args.synthetic_rows, seed=1)
            write_synthetic_table(eval_path, 50_000, seed=2)
            text = synthetic_config(train_path, eval_path, os.path.join(tmp, "synthetic"))
            config = parse_pipeline_config_text(text).config
            report[f"synthetic_{args.synthetic_rows}_rows_deepfm"] = run(config, tmp)
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
