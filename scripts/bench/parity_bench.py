"""Test AUC of EasyRec's own MovieLens example configs, next to EasyRec's figures; one JSON line.

Each config of EasyRec's `examples/configs` (DeepFM, WideAndDeep, DCN, AutoInt, MultiTower, and
the backbone configs FiBiNet and MaskNet, for which EasyRec publishes no MovieLens-100K figure) is
trained on `../shared/data/ml-100k-easyrec` (MovieLens-100K in the layout those configs read)
once per seed, and its final test AUC is compared with the AUC EasyRec 0.8.7 reached on the same
files (issue 13). The configs run as EasyRec ships them, with only these edits:

- the input paths point at the data folder and model_dir at a temporary folder;
- data_config.num_epochs is 10 (EasyRec's runs: 10 epochs of batch 1024, 641 steps);
- train_config.seed is the run's seed (an easy_rec field: initial weights and dropout), and
  each run starts with TF_ENABLE_ONEDNN_OPTS=0, so that it repeats bit for bit (oneDNN's
  kernels may add partial sums in another order each run; docs/training.md);
- export_config.exporter_type is "none" (no SavedModel is written);
- a SequenceFeature with a `sequence_combiner` (the `title` text_cnn) is read as a TagFeature
  (the sum of its token embeddings), as in EasyRec's runs behind the figures (multi_tower's
  groups do not use `title`, so there it changes nothing); the JSON lists such edits.

A config easy_rec refuses (e.g. multi_tower_on_movielens, a `backbone` config, before the
backbone support is merged) is reported with the reason instead of an AUC.

    python scripts/bench/parity_bench.py [--configs deepfm dcn] [--seeds 1 2 3]
        [--easyrec_configs ../EasyRec/examples/configs] [--data ../shared/data/ml-100k-easyrec]

EasyRec's configs are not part of this repository: point `--easyrec_configs` (or the
EASYREC_CONFIGS environment variable) at `examples/configs` of an EasyRec checkout
(https://github.com/alibaba/EasyRec); the default is a checkout named EasyRec beside this one.

Output: {"bench": "parity", "<config>": {"auc": [per seed], "mean", "spread" (max - min),
"easyrec", "target" (easyrec - 0.003), "met", "auc_200": [per seed], "mean_200", "saturated":
[per seed: fraction of test predictions above 0.995, EasyRec's top AUC bucket], "edits"}, ...}.
`auc` is easy_rec's exact AUC; `auc_200` is the AUC as EasyRec's `auc` metric computes it (ROC
over its default num_thresholds: 200), from the same predictions. Each run is a subprocess, so
runs do not share TensorFlow state.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: test AUC of EasyRec 0.8.7 on the same files (issue 13; mean where it gave several runs)
EASYREC_AUC = {"deepfm_on_movielens": 0.8085, "wide_and_deep_on_movielens": 0.802,
               "dcn_on_movielens": 0.792, "autoint_on_movielens": 0.842,
               "multi_tower_on_movielens": 0.834}
TOLERANCE = 0.003
EPOCHS = 10
SATURATED = 0.995  # "saturated": the fraction of test predictions above this
DEFAULT_CONFIGS = os.environ.get(
    "EASYREC_CONFIGS", os.path.join(os.path.dirname(REPO), "EasyRec", "examples", "configs"))
DEFAULT_DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "ml-100k-easyrec")


def check_easyrec_configs(parser: argparse.ArgumentParser, configs_dir: str) -> None:
    """Stops with a usage error unless `configs_dir` holds EasyRec's example configs."""
    if not os.path.isfile(os.path.join(configs_dir, "deepfm_on_movielens.config")):
        parser.error(f"EasyRec's example configs are not in {configs_dir}: pass --easyrec_configs "
                     "(or set EASYREC_CONFIGS) to examples/configs of an EasyRec checkout "
                     "(https://github.com/alibaba/EasyRec)")


def edited_config_text(path: str, data_dir: str, model_dir: str, seed: int) -> tuple[str, list[str]]:
    """(the config text with the bench's edits, descriptions of the edits beyond paths, epochs,
    seed and export)."""
    from google.protobuf import text_format

    from easy_rec.protos import feature_config_pb2, pipeline_pb2

    config = pipeline_pb2.EasyRecConfig()
    with open(path, encoding="utf-8") as f:
        text_format.Parse(f.read(), config)
    edits = []
    config.train_input_path = os.path.join(data_dir, "movies_train_data")
    config.eval_input_path = os.path.join(data_dir, "movies_test_data")
    config.model_dir = model_dir
    config.data_config.num_epochs = EPOCHS
    config.train_config.seed = seed
    config.export_config.exporter_type = "none"
    features = config.feature_config.features or config.feature_configs
    for feature in features:
        if feature.HasField("sequence_combiner"):
            feature.feature_type = feature_config_pb2.FeatureConfig.TagFeature
            feature.ClearField("sequence_combiner")
            edits.append(f"{feature.feature_name or feature.input_names[0]}: SequenceFeature "
                         "with sequence_combiner read as TagFeature")
    return text_format.MessageToString(config), edits


def easyrec_auc(labels: np.ndarray, probs: np.ndarray, num_thresholds: int = 200) -> float:
    """AUC as tf.compat.v1.metrics.auc computes it (EasyRec's `auc`): trapezoids under the ROC
    points of `probs > t` for t in {-eps, 1/(n-1), ..., (n-2)/(n-1), 1+eps}."""
    eps = 1e-7
    thresholds = np.concatenate([[-eps], np.arange(1, num_thresholds - 1) / (num_thresholds - 1),
                                 [1 + eps]])
    positive = labels > 0
    predicted = probs[None, :] > thresholds[:, None]
    tpr = (predicted & positive).sum(axis=1) / (positive.sum() + eps)
    fpr = (predicted & ~positive).sum(axis=1) / ((~positive).sum() + eps)
    return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))


def eval_predictions(trainer) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probs) of the trained model over the whole eval input."""
    label = trainer.config.data_config.label_fields[0]
    labels, probs = [], []
    for batch in trainer.evaluator._reader.make_dataset(4096, num_epochs=1, shuffle=False):
        labels.append(batch[label].numpy())
        probs.append(trainer.model(batch, training=False)["probs"].numpy())
    return np.concatenate(labels), np.concatenate(probs)


def run_one(path: str, data_dir: str, seed: int) -> dict:
    """Trains one config with one seed; {"auc", "steps", "edits"} or {"error", "edits"}."""
    from easy_rec.config.errors import ConfigError
    from easy_rec.pipeline import parse_pipeline_config_text
    from easy_rec.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as model_dir:
        text, edits = edited_config_text(path, data_dir, model_dir, seed)
        try:
            config = parse_pipeline_config_text(text, path=path).config
        except ConfigError as error:
            return {"error": str(error), "edits": edits}
        trainer = Trainer(config, base_dir=os.path.dirname(path))
        results = trainer.train()
        labels, probs = eval_predictions(trainer)
        return {"auc": round(float(results["auc"]), 4),
                "auc_200": round(easyrec_auc(labels, probs), 4),
                "saturated": round(float(np.mean(probs > SATURATED)), 4),
                "steps": int(trainer.global_step), "edits": edits}


def summarize(name: str, runs: list[dict]) -> dict:
    """Per-config record: AUC per seed, mean, spread and the comparison with EasyRec."""
    record: dict = {"edits": runs[0]["edits"], "easyrec": EASYREC_AUC.get(name)}
    errors = [r["error"] for r in runs if "error" in r]
    if errors:
        record["error"] = errors[0]
        return record
    aucs = [r["auc"] for r in runs]
    mean = sum(aucs) / len(aucs)
    aucs_200 = [r["auc_200"] for r in runs]
    record.update(auc=aucs, mean=round(mean, 4), spread=round(max(aucs) - min(aucs), 4),
                  auc_200=aucs_200, mean_200=round(sum(aucs_200) / len(aucs_200), 4),
                  saturated=[r["saturated"] for r in runs], steps=runs[0]["steps"])
    if record["easyrec"] is not None:
        record["target"] = round(record["easyrec"] - TOLERANCE, 4)
        record["met"] = mean >= record["target"]
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="*",
                        default=["deepfm", "wide_and_deep", "dcn", "autoint", "multi_tower",
                                 "fibinet", "masknet"],
                        help="config names without _on_movielens.config")
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3])
    parser.add_argument("--easyrec_configs", default=DEFAULT_CONFIGS)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one config
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        import logging

        logging.basicConfig(level=logging.WARNING)
        print(json.dumps(run_one(args.one, args.data, args.seed)))
        return
    check_easyrec_configs(parser, args.easyrec_configs)
    report: dict = {"bench": "parity", "epochs": EPOCHS, "seeds": args.seeds}
    for short in args.configs:
        name = f"{short}_on_movielens"
        path = os.path.join(args.easyrec_configs, f"{name}.config")
        runs = seed_runs(path, args.seeds, args.data)
        report[name] = summarize(name, runs)
        print(json.dumps({name: report[name]}), file=sys.stderr, flush=True)
    print(json.dumps(report, sort_keys=True))


def seed_runs(path: str, seeds: list[int], data_dir: str) -> list[dict]:
    """One subprocess run per seed (stopping at the first failure)."""
    runs: list[dict] = []
    for seed in seeds:
        command = [sys.executable, __file__, "--one", path, "--seed", str(seed), "--data",
                   data_dir]
        out = subprocess.run(command, capture_output=True, text=True, check=False,
                             env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"})
        lines = out.stdout.strip().splitlines()
        if out.returncode or not lines:
            tail = out.stderr.strip().splitlines()[-1:] or ["failed"]
            return runs + [{"error": tail[0], "edits": []}]
        runs.append(json.loads(lines[-1]))
        if "error" in runs[-1]:
            break
    return runs


if __name__ == "__main__":
    main()
