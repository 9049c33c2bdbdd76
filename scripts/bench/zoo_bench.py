"""Model-zoo benchmark: test AUC and training examples/s of every ranking and sequence model.

Every `samples/*_on_movielens.config` whose model is a ranking or sequence model (retrieval
models are measured by retrieval_bench.py) is trained through the normal Trainer:

- **movielens**: on the time-split MovieLens-100K sequence tables
  (samples/data/movielens_seq_*.csv: histories strictly before each rating, test = the last 10%
  of time), so every model is scored on the same test rows. Ranking configs that read the
  random-split table get the five extra columns appended to their input fields.
- **taobao**: sequence models and the baselines in --taobao_baselines on the Taobao
  UserBehavior head, built by scripts/build_taobao_sample.py (buy/cart/fav among viewed items
  as positives); item and category tables are resized to the data.

Prints one JSON line: {"bench": "zoo", "<dataset>": {"<sample>": {"auc", "examples_per_sec",
"train_seconds", "steps"}}}. Multi-task models report the AUC of every task (auc_<task>).

Usage: python scripts/bench/zoo_bench.py [--epochs 5] [--only din,deepfm] [--skip_taobao]
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "scripts"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import build_taobao_sample  # noqa: E402

from easy_rec.models.registry import get_model_class  # noqa: E402
from easy_rec.pipeline import load_pipeline_config  # noqa: E402
from easy_rec.protos import dataset_pb2  # noqa: E402
from easy_rec.training.trainer import Trainer  # noqa: E402

SAMPLES = os.path.join(REPO, "samples")
SEQ_TRAIN = os.path.join(SAMPLES, "data", "movielens_seq_train.csv")
SEQ_TEST = os.path.join(SAMPLES, "data", "movielens_seq_test.csv")
SEQ_EXTRA_FIELDS = (("genre", dataset_pb2.DatasetConfig.INT32),
                    ("top_rating", dataset_pb2.DatasetConfig.INT32),
                    ("ts", dataset_pb2.DatasetConfig.INT64),
                    ("hist_movie_ids", dataset_pb2.DatasetConfig.STRING),
                    ("hist_genres", dataset_pb2.DatasetConfig.STRING))
SUFFIX = "_on_movielens.config"


def sample_configs(only: set[str]) -> dict[str, str]:
    """Sample name -> config path, ranking and sequence models only."""
    found = {}
    for path in sorted(glob.glob(os.path.join(SAMPLES, f"*{SUFFIX}"))):
        name = os.path.basename(path)[: -len(SUFFIX)]
        if only and name not in only:
            continue
        model_class = load_pipeline_config(path).config.model_config.model_class
        if hasattr(get_model_class(model_class), "user_embedding"):
            continue  # retrieval model: scripts/bench/retrieval_bench.py
        found[name] = path
    return found


def is_sequence_model(config) -> bool:
    """True when the model reads behaviour histories."""
    return bool(config.model_config.seq_att_groups)


def on_sequence_tables(config, train: str, test: str) -> None:
    """Points the config at a sequence table pair, adding the sequence columns if missing."""
    config.train_input_path, config.eval_input_path = train, test
    names = [f.input_name for f in config.data_config.input_fields]
    for name, dtype in SEQ_EXTRA_FIELDS:
        if name not in names:
            config.data_config.input_fields.add(input_name=name, input_type=dtype)


def resize_for_taobao(config, sizes: dict[str, int]) -> None:
    """Item / category features get identity tables sized to the Taobao head."""
    buckets = {"movie_id": sizes["items"] + 1, "hist_movie_ids": sizes["items"] + 1,
               "genre": sizes["categories"] + 1, "hist_genres": sizes["categories"] + 1}
    features = config.feature_config.features or config.feature_configs
    for feature in features:
        column = feature.input_names[0]
        if column in buckets:
            feature.ClearField("hash_bucket_size")
            feature.num_buckets = buckets[column]
        elif column == "genres":
            feature.ClearField("num_buckets")
            feature.hash_bucket_size = 2 * sizes["categories"]


def auc_results(results: dict[str, float]) -> dict[str, float]:
    """'auc', or every task's 'auc_<task>' of a multi-task model, rounded."""
    return {k: round(v, 4) for k, v in results.items() if k == "auc" or k.startswith("auc_")}


def run_one(config, epochs: int, model_dir: str) -> dict[str, float]:
    """Trains for `epochs` with one final evaluation; returns AUC and throughput."""
    config.model_dir = model_dir
    config.data_config.num_epochs = epochs
    config.train_config.ClearField("num_steps")
    config.train_config.save_checkpoints_steps = 10**9
    config.train_config.log_step_count_steps = 10**9
    config.export_config.exporter_type = "none"
    trainer = Trainer(config, base_dir=SAMPLES)
    results = trainer.train()
    stats = trainer.train_stats
    return {**auc_results(results),
            "examples_per_sec": round(stats["examples_per_sec"], 1),
            "train_seconds": round(stats["seconds"], 1), "steps": int(stats["steps"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated sample names")
    parser.add_argument("--skip_taobao", action="store_true")
    parser.add_argument("--taobao_baselines", default="deepfm,dnn",
                        help="non-sequence samples also run on Taobao for comparison")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    only = {s for s in args.only.split(",") if s}
    configs = sample_configs(only)
    report: dict[str, dict] = {"bench": "zoo", "epochs": args.epochs, "movielens": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in configs.items():
            config = load_pipeline_config(path).config
            on_sequence_tables(config, SEQ_TRAIN, SEQ_TEST)
            report["movielens"][name] = run_one(config, args.epochs, os.path.join(tmp, f"ml_{name}"))
            print(name, report["movielens"][name], file=sys.stderr)
        if not args.skip_taobao:
            report["taobao"] = run_taobao(configs, args, tmp)
    print(json.dumps(report))
    return 0


def run_taobao(configs: dict[str, str], args, tmp: str) -> dict[str, dict]:
    """Sequence models and the baselines on the Taobao head."""
    data_dir = os.path.join(tmp, "taobao")
    rows, sizes = build_taobao_sample.build_rows(
        build_taobao_sample.read_events(build_taobao_sample.DEFAULT_SOURCE), max_hist=20)
    build_taobao_sample.write_split(rows, build_taobao_sample.Path(data_dir), 0.1, seed=2026)
    baselines = set(args.taobao_baselines.split(","))
    results = {}
    for name, path in configs.items():
        config = load_pipeline_config(path).config
        if not (is_sequence_model(config) or name in baselines):
            continue
        on_sequence_tables(config, os.path.join(data_dir, build_taobao_sample.TRAIN_FILE),
                           os.path.join(data_dir, build_taobao_sample.TEST_FILE))
        resize_for_taobao(config, sizes)
        results[name] = run_one(config, args.epochs, os.path.join(tmp, f"tb_{name}"))
        print("taobao", name, results[name], file=sys.stderr)
    return results


if __name__ == "__main__":
    sys.exit(main())
