"""Test AUC of the ranking models on the Criteo and Avazu samples against a logistic-regression
baseline on the same split, with early stopping on the dev split; one JSON line.

Data: ``../shared/data/criteo-sample`` (train 7,200 / dev 409 / test 391 rows; tab-separated
label, I1..I13, C1..C26) and ``../shared/data/avazu-sample`` (train 8,087 / dev 480 / test 432
rows; comma-separated, a header in train.csv only). The three files of each dataset are used as
given: train to fit, dev to pick the epoch, test to report (never used to pick anything).

Protocol, the same for every model including the baseline: the Trainer trains up to EPOCHS
epochs, saving and evaluating on dev EVALS_PER_EPOCH times per epoch (save_checkpoints_steps =
rows / batch / EVALS_PER_EPOCH, eval_input_path = dev: a model that overfits 7,200 rows peaks
inside its first epochs) with export_config.enable_early_stop on dev AUC (max_check_steps =
PATIENCE epochs, as EasyRec's early stop / best exporter would pick); after each of those
evaluations the same weights are evaluated on test too (an Evaluator that writes nothing). A
seed's result is the evaluation with the best dev AUC: its dev AUC, its test AUC and its epoch.
Each model runs once per seed (train_config.seed); the table is the mean and the standard
deviation over the seeds.

Features, the same for every model of a dataset:
- Criteo: I1..I13 as RawFeatures bucketized at powers of two (an 8-wide embedding each),
  C1..C26 as IdFeatures (8 wide);
- Avazu: the 21 categorical columns (C1, banner_pos, site_*, app_*, device_*, C14..C21) as
  IdFeatures (8 wide); the row id and the hour (one hour in the sample) are left out.
An IdFeature's ids come from a vocabulary file of the values seen at least MIN_COUNT (10) times
in the train file; every other value (rare, unseen in train, empty) shares id 0, the usual
Criteo/Avazu preprocessing (e.g. the AutoInt / BARS splits): a value seen a few times can only
be memorized, by one weight in lr and by an 8-wide embedding in the others. `--min_count 0`
hashes every value into HASH_BUCKETS instead (the bench before).

Models: each samples/<model>_on_movielens.config's model_config (layers, l2, embedding
regularization), its feature groups refilled with these features: `wide`/`deep`/`all` get
every feature, DLRM's `dense` the Criteo integer columns (Avazu: banner_pos, device_type,
device_conn_type, C15, C16) and `sparse` the rest (top_dnn, its MLP over the dense group, ending
at 8 units, the embedding width, as its `dot` interaction needs). The baseline `lr` is WideAndDeep without a
deep group: the sum of one learned weight per feature value plus a bias (logistic
regression). Training: the sample's Adam schedule, batch 256. `--mlp_dropout R` sets dropout
R on every MLP of every model that has none (uniformly; lr has no MLP).

    python scripts/bench/criteo_avazu_bench.py [--datasets criteo avazu] [--models lr deepfm]
        [--seeds 1 2 3] [--epochs 8] [--mlp_dropout 0.0] [--min_count 10]
        [--evals_per_epoch 4] [--jobs 1]

Output: {"bench": "criteo_avazu", "baseline": ..., "<dataset>": {"<model>": {"test_auc": [per
seed], "dev_auc": [per seed], "epoch": [per seed], "test_mean", "test_std", "dev_mean",
"beats_lr"}}, "met": every model's test mean above lr's on both datasets}. Each model runs in
its own subprocess (--jobs of them at once).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
EPOCHS = 8
#: dev evaluations per epoch (the best dev point of a model that overfits fast lies inside an epoch)
EVALS_PER_EPOCH = 4
#: early stop after this many epochs without a better dev AUC
PATIENCE = 2
BATCH_SIZE = 256
HASH_BUCKETS = 20000
#: categorical values seen fewer times than this in train share one id (0: hash every value)
MIN_COUNT = 10
#: the vocabulary's first line: the id of every value not kept
RARE = "__rare__"
EMBEDDING_DIM = 8
#: bucket boundaries of Criteo's integer columns (counts spanning several orders of magnitude)
POWERS_OF_TWO = [0.0] + [float(2 ** k) for k in range(17)]
#: the compared models (samples/<name>_on_movielens.config); "lr" is the baseline
MODELS = ["lr", "fm", "wide_and_deep", "deepfm", "dcn", "dcn_v2", "autoint", "xdeepfm",
          "fibinet", "masknet", "dlrm"]
BASELINE = ("lr: WideAndDeep without a deep group (one weight per feature value over every "
            "feature, plus a bias: logistic regression)")

CRITEO_INTS = [f"I{i}" for i in range(1, 14)]
CRITEO_CATS = [f"C{i}" for i in range(1, 27)]
AVAZU_COLUMNS = ["id", "click", "hour", "C1", "banner_pos", "site_id", "site_domain",
                 "site_category", "app_id", "app_domain", "app_category", "device_id",
                 "device_ip", "device_model", "device_type", "device_conn_type", "C14", "C15",
                 "C16", "C17", "C18", "C19", "C20", "C21"]
AVAZU_FEATURES = AVAZU_COLUMNS[3:]
AVAZU_DENSE = ["banner_pos", "device_type", "device_conn_type", "C15", "C16"]


def dataset_spec(name: str, work_dir: str, min_count: int = MIN_COUNT) -> dict:
    """Input paths, data_config / feature_config text and the feature names of each group; the
    categorical columns by a vocabulary of the train values seen at least `min_count` times
    (0: hashed into HASH_BUCKETS)."""
    if name == "criteo":
        folder = os.path.join(DATA, "criteo-sample")
        fields = [("label", "INT32")] + [(c, "DOUBLE") for c in CRITEO_INTS] \
            + [(c, "STRING") for c in CRITEO_CATS]
        features = [f'features {{ input_names: "{c}" feature_type: RawFeature '
                    f'boundaries: {POWERS_OF_TWO} embedding_dim: {EMBEDDING_DIM} }}'
                    for c in CRITEO_INTS]
        train = os.path.join(folder, "train.txt")
        vocabs = frequent_values(train, "\t", [fields.index((c, "STRING")) for c in CRITEO_CATS],
                                 min_count, work_dir, CRITEO_CATS)
        features += [_id_feature(c, vocabs.get(c)) for c in CRITEO_CATS]
        return {"train": os.path.join(folder, "train.txt"), "train_rows": _rows(folder, "train.txt"),
                "dev": os.path.join(folder, "dev.txt"), "test": os.path.join(folder, "test.txt"),
                "separator": "\\t", "label": "label", "fields": fields, "features": features,
                "all": CRITEO_INTS + CRITEO_CATS, "dense": CRITEO_INTS, "sparse": CRITEO_CATS}
    folder = os.path.join(DATA, "avazu-sample")
    fields = [("id", "STRING"), ("click", "INT32"), ("hour", "STRING")] \
        + [(c, "STRING") for c in AVAZU_FEATURES]
    train = os.path.join(work_dir, "avazu_train.csv")
    with open(os.path.join(folder, "train.csv"), encoding="utf-8") as src, \
            open(train, "w", encoding="utf-8") as dst:
        next(src)  # the header (dev.csv and test.csv have none)
        dst.writelines(src)
    vocabs = frequent_values(train, ",", [AVAZU_COLUMNS.index(c) for c in AVAZU_FEATURES],
                             min_count, work_dir, AVAZU_FEATURES)
    return {"train": train, "train_rows": _rows(folder, "train.csv") - 1,
            "dev": os.path.join(folder, "dev.csv"), "test": os.path.join(folder, "test.csv"),
            "separator": ",", "label": "click", "fields": fields,
            "features": [_id_feature(c, vocabs.get(c)) for c in AVAZU_FEATURES],
            "all": AVAZU_FEATURES,
            "dense": AVAZU_DENSE, "sparse": [c for c in AVAZU_FEATURES if c not in AVAZU_DENSE]}


def frequent_values(path: str, separator: str, indices: list[int], min_count: int,
                    work_dir: str, names: list[str]) -> dict[str, str]:
    """{column name: vocabulary file} of the non-empty values of each column (by index) seen at
    least `min_count` times in `path`; each file's first line is a placeholder, the id (0) that
    every other value (rare, unseen, empty) maps to. {} when min_count is 0."""
    if not min_count:
        return {}
    counts = [collections.Counter() for _ in indices]
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = line.rstrip("\n").split(separator)
            for counter, index in zip(counts, indices):
                counter[cells[index]] += 1
    files = {}
    for name, counter in zip(names, counts):
        files[name] = os.path.join(work_dir, f"vocab_{name}.txt")
        kept = sorted(v for v, n in counter.items() if n >= min_count and v)
        with open(files[name], "w", encoding="utf-8") as f:
            f.write("".join(f"{v}\n" for v in [RARE, *kept]))
    return files


def _id_feature(column: str, vocab_file: str | None = None) -> str:
    ids = f'vocab_file: "{vocab_file}"' if vocab_file else f"hash_bucket_size: {HASH_BUCKETS}"
    return (f'features {{ input_names: "{column}" feature_type: IdFeature '
            f'embedding_dim: {EMBEDDING_DIM} {ids} }}')


def _rows(folder: str, name: str) -> int:
    """The number of lines of folder/name."""
    with open(os.path.join(folder, name), encoding="utf-8") as f:
        return sum(1 for _ in f)


def steps_per_epoch(spec: dict) -> int:
    """Training steps of one pass over the train rows (rounded)."""
    return max(round(spec["train_rows"] / BATCH_SIZE), 1)


def with_mlp_dropout(message, rate: float) -> None:
    """Sets dropout_ratio [rate] on every MLP block (a message with hidden_units) in `message`
    that has no dropout_ratio."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for child in (value if field.is_repeated else [value]):
            if "hidden_units" in child.DESCRIPTOR.fields_by_name and not child.dropout_ratio:
                child.dropout_ratio.append(rate)
            with_mlp_dropout(child, rate)


def config_text(model: str, spec: dict, model_dir: str, seed: int,
                options: argparse.Namespace) -> str:
    """The pipeline config of `model` on the dataset of `spec` (module docstring); `options`:
    epochs, evals_per_epoch, mlp_dropout (main's flags)."""
    from google.protobuf import text_format

    from easy_rec.protos import pipeline_pb2

    sample = "wide_and_deep" if model == "lr" else model
    config = pipeline_pb2.EasyRecConfig()
    with open(os.path.join(REPO, "samples", f"{sample}_on_movielens.config"), encoding="utf-8") as f:
        text_format.Parse(f.read(), config)
    model_config = config.model_config
    groups = [g for g in model_config.feature_groups if not (model == "lr" and g.group_name == "deep")]
    del model_config.feature_groups[:]
    for group in groups:
        group.ClearField("feature_names")
        group.feature_names.extend(spec[group.group_name] if group.group_name in ("dense", "sparse")
                                   else spec["all"])
        model_config.feature_groups.add().CopyFrom(group)
    if model == "lr":
        model_config.wide_and_deep.ClearField("dnn")
    if model == "dlrm":  # 'dot' interaction: top_dnn (over the dense group) ends at the embedding width
        model_config.dlrm.top_dnn.hidden_units[-1] = EMBEDDING_DIM
    if options.mlp_dropout:
        with_mlp_dropout(model_config, options.mlp_dropout)
    epoch_steps = steps_per_epoch(spec)
    eval_steps = max(round(epoch_steps / options.evals_per_epoch), 1)
    fields = "\n".join(f'input_fields {{ input_name: "{n}" input_type: {t} }}'
                       for n, t in spec["fields"])
    data = (f'data_config {{ {fields} label_fields: "{spec["label"]}" batch_size: {BATCH_SIZE} '
            f'num_epochs: {options.epochs} input_type: CSVInput separator: "{spec["separator"]}" '
            'shuffle_buffer_size: 10000 }')
    text = "\n".join([
        f'train_input_path: "{spec["train"]}"', f'eval_input_path: "{spec["dev"]}"',
        f'model_dir: "{model_dir}"', data,
        "feature_config { " + " ".join(spec["features"]) + " }",
        "model_config { " + text_format.MessageToString(model_config, as_one_line=True) + " }",
        "train_config { " + text_format.MessageToString(config.train_config, as_one_line=True)
        + f" save_checkpoints_steps: {eval_steps} keep_checkpoint_max: 1 seed: {seed} }}",
        'eval_config { metrics_set { auc {} } eval_interval_secs: 0 }',
        'export_config { exporter_type: "none" enable_early_stop: true best_exporter_metric: "auc" '
        f'metric_bigger: true max_check_steps: {PATIENCE * epoch_steps} }}'])
    return text


def run_model(dataset: str, model: str, options: argparse.Namespace) -> dict:
    """Trains `model` on `dataset` once per seed, in this process; per seed the dev AUC, test
    AUC and epoch of the evaluation with the best dev AUC (module docstring); `options`: main's
    flags (seeds, min_count and config_text's)."""
    from easy_rec.pipeline import parse_pipeline_config_text

    picked: dict[str, list] = {"dev_auc": [], "test_auc": [], "epoch": []}
    with tempfile.TemporaryDirectory() as work_dir:
        spec = dataset_spec(dataset, work_dir, options.min_count)
        for seed in options.seeds:
            path = os.path.join(work_dir, f"{model}.config")
            text = config_text(model, spec, os.path.join(work_dir, f"seed{seed}"), seed, options)
            evaluations = train_with_test(parse_pipeline_config_text(text, path=path).config,
                                          spec["test"])
            step = max(evaluations, key=lambda s: (evaluations[s][0], -s))  # earliest best dev
            picked["dev_auc"].append(round(evaluations[step][0], 4))
            picked["test_auc"].append(round(evaluations[step][1], 4))
            picked["epoch"].append(round(step * BATCH_SIZE / spec["train_rows"], 2))
    return picked


def train_with_test(config, test_path: str) -> dict[int, tuple[float, float | None]]:
    """Trains with the Trainer (dev evaluations, early stop); evaluates on `test_path` the
    weights of each dev evaluation that beats every earlier one (the only ones the earliest best
    can be). {global step: (dev AUC, test AUC or None)}."""
    from easy_rec.models.builder import model_column_plan
    from easy_rec.training.evaluation.evaluator import Evaluator
    from easy_rec.training.trainer import Trainer

    evaluations: dict[int, tuple[float, float | None]] = {}
    test: list[Evaluator] = []

    def observe(step: int, results: dict[str, float]) -> None:
        if step in evaluations:  # the final evaluation may repeat the last step's
            return
        dev = float(results["auc"])
        better = all(dev > seen for seen, _ in evaluations.values())
        evaluations[step] = (dev, float(test[0].evaluate(step)["auc"]) if better else None)

    trainer = Trainer(config, base_dir=REPO, eval_observer=observe)
    test.append(Evaluator(config, trainer.model, test_path, model_column_plan(config, trainer.model),
                          write_results=False))
    trainer.train()
    return evaluations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="*", default=["criteo", "avazu"])
    parser.add_argument("--models", nargs="*", default=MODELS)
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--mlp_dropout", type=float, default=0.0,
                        help="dropout_ratio for every MLP the sample config leaves without")
    parser.add_argument("--min_count", type=int, default=MIN_COUNT,
                        help="categorical values seen fewer times in train share one id "
                             "(0: hash every value into HASH_BUCKETS)")
    parser.add_argument("--evals_per_epoch", type=int, default=EVALS_PER_EPOCH,
                        help="dev (and test) evaluations per epoch")
    parser.add_argument("--jobs", type=int, default=1, help="models trained at once")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # internal: dataset model
    args = parser.parse_args()
    if args.one:
        import logging

        logging.basicConfig(level=logging.WARNING)
        print(json.dumps(run_model(*args.one, args)))
        return
    models = ["lr"] + [m for m in args.models if m != "lr"]
    runs = [(dataset, model) for dataset in args.datasets for model in models]
    with ThreadPoolExecutor(max(args.jobs, 1)) as pool:
        done = pool.map(lambda run: run_subprocess(*run, args), runs)
        results = {run: result for run, result in zip(runs, done)}
    report: dict = {"bench": "criteo_avazu", "baseline": BASELINE, "max_epochs": args.epochs,
                    "patience_epochs": PATIENCE, "mlp_dropout": args.mlp_dropout,
                    "min_count": args.min_count, "evals_per_epoch": args.evals_per_epoch,
                    "batch_size": BATCH_SIZE, "seeds": args.seeds}
    met = True
    for dataset in args.datasets:
        baseline = results[(dataset, "lr")].get("test_mean", 1.0)
        for model in models[1:]:
            beats = results[(dataset, model)].get("test_mean", 0.0) > baseline
            results[(dataset, model)]["beats_lr"] = beats
            met = met and beats
        report[dataset] = {model: results[(dataset, model)] for model in models}
    report["met"] = met
    print(json.dumps(report, sort_keys=True))


def run_subprocess(dataset: str, model: str, args: argparse.Namespace) -> dict:
    """run_model in a fresh process (no TensorFlow state shared between models)."""
    command = [sys.executable, __file__, "--one", dataset, model, "--seeds", *map(str, args.seeds),
               "--epochs", str(args.epochs), "--mlp_dropout", str(args.mlp_dropout),
               "--min_count", str(args.min_count), "--evals_per_epoch", str(args.evals_per_epoch)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = out.stdout.strip().splitlines()
    if out.returncode or not lines:
        tail = out.stderr.strip().splitlines()[-1:] or ["failed"]
        result = {"error": tail[0]}
    else:
        result = json.loads(lines[-1])
        for split in ("test", "dev"):
            result[f"{split}_mean"] = round(statistics.mean(result[f"{split}_auc"]), 4)
        result["test_std"] = round(statistics.pstdev(result["test_auc"]), 4)
    print(json.dumps({dataset: {model: result}}), file=sys.stderr, flush=True)
    return result


if __name__ == "__main__":
    main()
