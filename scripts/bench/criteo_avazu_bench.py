"""Out-of-fold AUC of the ranking models on the Criteo and Avazu samples against a
logistic-regression baseline on the same folds, with a paired comparison; one JSON line.

Data: ``../shared/data/criteo-sample`` (train 7,200 + dev 409 + test 391 = 8,000 rows;
tab-separated label, I1..I13, C1..C26) and ``../shared/data/avazu-sample`` (8,087 + 480 + 432 =
8,999 rows; comma-separated, a header in train.csv only). The given test files (~400 rows, one
AUC's standard error ~0.03) are too small to rank models, so the three files of a dataset are
pooled and cross-validated.

Protocol, the same for every model including the baseline:
- Folds: the pooled rows are shuffled with random.Random(SPLIT_SEED) and row p of that order
  goes to fold p % FOLDS, so every model sees exactly the same folds. For fold k, its rows are
  the test part; of the other rows, every VALIDATION_EVERY-th (by p // FOLDS, offset by k) is the
  validation part (~10%), the rest the training part.
- Training (per fold, train_config.seed = k + 1): the Trainer trains up to EPOCHS epochs on the
  training part, evaluating on the validation part EVALS_PER_EPOCH times per epoch, with
  export_config.enable_early_stop on validation AUC (max_check_steps = PATIENCE epochs). The
  weights of the earliest evaluation with the best validation AUC predict the test part (the
  bench's PartEvaluator, the Trainer's evaluator here, keeps both parts in memory and predicts
  the test part whenever validation AUC improves). One thread per process (inter/intra op).
- Scoring: every row of the sample is predicted once, by the model of its fold. A model's AUC
  is the mean of its fold AUCs (each over ~2,700-3,000 rows; the mean's standard error is about
  0.006); the AUC of the pooled out-of-fold predictions is reported too (it also penalizes fold
  models that are calibrated differently). Against lr, on the same rows: the mean over folds of
  the AUC difference, with a 95% paired-bootstrap interval (BOOTSTRAP resamples, rows drawn
  within each fold, both models' predictions of a row together), and the per-fold
  differences. A model beats lr when the difference is above 0; "significant" when the whole
  interval is.

Features, the same for every model of a dataset (each fold's vocabularies from its training
part alone, so no test or validation row shapes them):
- Criteo: I1..I13 as RawFeatures bucketized at powers of two (an 8-wide embedding each),
  C1..C26 as IdFeatures (8 wide);
- Avazu: the 21 categorical columns (C1, banner_pos, site_*, app_*, device_*, C14..C21) as
  IdFeatures (8 wide); the row id and the hour (one hour in the sample) are left out.
An IdFeature's ids come from a vocabulary file of the values seen at least MIN_COUNT (10) times
in the training part; every other value (rare, unseen, empty) shares id 0, the usual
Criteo/Avazu preprocessing (e.g. the AutoInt / BARS splits). `--min_count 0` hashes every value
into HASH_BUCKETS instead.

Models: each samples/<model>_on_movielens.config's model_config (layers, l2, embedding
regularization), its feature groups refilled with these features: `wide`/`deep`/`all` get
every feature, DLRM's `dense` the Criteo integer columns (Avazu: banner_pos, device_type,
device_conn_type, C15, C16) and `sparse` the rest (top_dnn, its MLP over the dense group, ending
at 8 units, the embedding width, as its `dot` interaction needs). The baseline `lr` is
WideAndDeep without a deep group: the sum of one learned weight per feature value plus a bias
(logistic regression).

Training recipe, one for every model (lr included), no per-model setting: batch 256; two
optimizer_config blocks in EasyRec's order, the first (embedding tables and wide weights;
WideAndDeep: its wide part) Adam at EMBEDDING_LR 0.01, the second (every other variable) Adam
at DENSE_LR 0.001, both constant; up to EPOCHS 30 with early stopping (PATIENCE 3 epochs); every
MLP with use_bn false (`--mlp_batch_norm 0`). Why: the samples' Adam 1e-3 moves a sparse weight
at most 1e-3 per step it appears in, so on 19-21 steps per epoch lr was still rising at the old
8-epoch cap; and batch normalisation's moving statistics (momentum 0.99 from mean 0 / variance
1, no debiasing, as TF and EasyRec) are nowhere near the batch statistics after a few hundred
steps, so at inference an MLP's output is squeezed to near a constant while in training it
absorbed the residuals the linear part should learn (docs/benchmarks.md has the measurements).
EMBEDDING_LR was chosen on a validation part, never on test rows. `--mlp_dropout R` sets dropout
R on every MLP of every model that has none (uniformly; lr has no MLP).

    python scripts/bench/criteo_avazu_bench.py [--datasets criteo avazu] [--models lr deepfm]
        [--folds 5] [--epochs 30] [--mlp_dropout 0.0] [--mlp_batch_norm 0] [--embedding_lr 0.01]
        [--min_count 10] [--evals_per_epoch 4] [--jobs 1] [--out_dir DIR]

Each (dataset, model) trains in its own subprocess (--jobs of them at once), fold after fold;
a fold's predictions are kept in --out_dir (<dataset>_<model>_fold<k>.json), and a rerun with
the same settings reuses them, so an interrupted run resumes. Output: {"bench":
"criteo_avazu", settings, "<dataset>": {"<model>": {"auc" (mean over folds), "fold_auc", "pooled_auc",
"fold_epoch", "fold_val_auc", "train_seconds", and for the non-baseline models "minus_lr", "minus_lr_ci95",
"fold_minus_lr", "beats_lr", "significant"}}, "met": every model's AUC above lr's on both
datasets}.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
FOLDS = 3
#: the seed of the shuffle that assigns rows to folds (the same folds for every model)
SPLIT_SEED = 2026
#: one training row in this many is held out as the fold's validation part
VALIDATION_EVERY = 10
#: resamples of the paired bootstrap of the AUC difference to lr
BOOTSTRAP = 1000
#: the epoch cap: far beyond any fold's best validation point (lr's included), so early stopping,
#: not the cap, ends training
EPOCHS = 30
#: validation evaluations per epoch (the best point of a model that overfits fast lies inside an epoch)
EVALS_PER_EPOCH = 4
#: early stop after this many epochs without a better validation AUC
PATIENCE = 3
#: the training recipe, the same for every model (lr included), in EasyRec's two-block form:
#: optimizer_config[0] trains the embedding tables and wide weights (WideAndDeep: its wide part
#: only), optimizer_config[1] every other variable; both Adam at a constant rate. EMBEDDING_LR was
#: chosen on validation parts only (docs/benchmarks.md); DENSE_LR is the samples' Adam rate
EMBEDDING_LR = 0.01
DENSE_LR = 0.001
BATCH_SIZE = 256
HASH_BUCKETS = 20000
#: categorical values seen fewer times than this in the training part share one id (0: hash)
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


def pooled_rows(name: str) -> list[str]:
    """Every row of the dataset's train, dev and test files (lines, without Avazu's header)."""
    if name == "criteo":
        folder, files = os.path.join(DATA, "criteo-sample"), ["train.txt", "dev.txt", "test.txt"]
    else:
        folder, files = os.path.join(DATA, "avazu-sample"), ["train.csv", "dev.csv", "test.csv"]
    rows: list[str] = []
    for file_name in files:
        with open(os.path.join(folder, file_name), encoding="utf-8") as f:
            lines = [line if line.endswith("\n") else line + "\n" for line in f]
        rows += lines[1:] if file_name == "train.csv" else lines  # only train.csv has a header
    return rows


def fold_parts(rows: list[str], fold: int, folds: int) -> dict[str, list[str]]:
    """{"train", "validation", "test"} rows of `fold` (the module docstring's assignment)."""
    order = list(range(len(rows)))
    random.Random(SPLIT_SEED).shuffle(order)
    parts: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
    for position, row in enumerate(order):
        if position % folds == fold:
            part = "test"
        elif (position // folds + fold) % VALIDATION_EVERY == 0:
            part = "validation"
        else:
            part = "train"
        parts[part].append(rows[row])
    return parts


def dataset_spec(name: str, fold: int, folds: int, work_dir: str,
                 min_count: int = MIN_COUNT) -> dict:
    """The fold's part files (written to work_dir), data_config / feature_config text and the
    feature names of each group; the categorical columns by a vocabulary of the training part's
    values seen at least `min_count` times (0: hashed into HASH_BUCKETS)."""
    parts = fold_parts(pooled_rows(name), fold, folds)
    paths = {}
    for part, lines in parts.items():
        paths[part] = os.path.join(work_dir, f"{name}_fold{fold}_{part}.txt")
        with open(paths[part], "w", encoding="utf-8") as f:
            f.writelines(lines)
    spec = {"train": paths["train"], "train_rows": len(parts["train"]),
            "dev": paths["validation"], "test": paths["test"]}
    if name == "criteo":
        fields = [("label", "INT32")] + [(c, "DOUBLE") for c in CRITEO_INTS] \
            + [(c, "STRING") for c in CRITEO_CATS]
        vocabs = frequent_values(paths["train"], "\t",
                                 [fields.index((c, "STRING")) for c in CRITEO_CATS],
                                 min_count, work_dir, CRITEO_CATS)
        features = [f'features {{ input_names: "{c}" feature_type: RawFeature '
                    f'boundaries: {POWERS_OF_TWO} embedding_dim: {EMBEDDING_DIM} }}'
                    for c in CRITEO_INTS]
        return {**spec, "separator": "\\t", "label": "label", "fields": fields,
                "features": features + [_id_feature(c, vocabs.get(c)) for c in CRITEO_CATS],
                "all": CRITEO_INTS + CRITEO_CATS, "dense": CRITEO_INTS, "sparse": CRITEO_CATS}
    fields = [("id", "STRING"), ("click", "INT32"), ("hour", "STRING")] \
        + [(c, "STRING") for c in AVAZU_FEATURES]
    vocabs = frequent_values(paths["train"], ",", [AVAZU_COLUMNS.index(c) for c in AVAZU_FEATURES],
                             min_count, work_dir, AVAZU_FEATURES)
    return {**spec, "separator": ",", "label": "click", "fields": fields,
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


def steps_per_epoch(spec: dict) -> int:
    """Training steps of one pass over the training rows (rounded)."""
    return max(round(spec["train_rows"] / BATCH_SIZE), 1)


def with_mlp_settings(message, dropout: float, batch_norm: bool) -> None:
    """On every MLP block (a message with hidden_units) in `message`: use_bn = `batch_norm`, and
    dropout_ratio [dropout] where it has none and `dropout` is not 0."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for child in (value if field.is_repeated else [value]):
            if "hidden_units" in child.DESCRIPTOR.fields_by_name:
                child.use_bn = batch_norm
                if dropout and not child.dropout_ratio:
                    child.dropout_ratio.append(dropout)
            with_mlp_settings(child, dropout, batch_norm)


def config_text(model: str, spec: dict, model_dir: str, seed: int,
                options: argparse.Namespace) -> str:
    """The pipeline config of `model` on the dataset of `spec` (module docstring); `options`:
    epochs, evals_per_epoch, mlp_dropout, mlp_batch_norm, embedding_lr (main's flags)."""
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
    with_mlp_settings(model_config, options.mlp_dropout, options.mlp_batch_norm)
    train_config = config.train_config
    del train_config.optimizer_config[:]
    for rate in (options.embedding_lr, DENSE_LR):
        train_config.optimizer_config.add().adam_optimizer.learning_rate \
            .constant_learning_rate.learning_rate = rate
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
        "train_config { " + text_format.MessageToString(train_config, as_one_line=True)
        + f" save_checkpoints_steps: {eval_steps} keep_checkpoint_max: 1 seed: {seed}"
        " inter_op_parallelism_threads: 1 intra_op_parallelism_threads: 1 write_graph: false }",
        'eval_config { metrics_set { auc {} } eval_interval_secs: 0 }',
        'export_config { exporter_type: "none" enable_early_stop: true best_exporter_metric: "auc" '
        f'metric_bigger: true max_check_steps: {PATIENCE * epoch_steps} }}'])
    return text


def fold_file(out_dir: str, dataset: str, model: str, fold: int) -> str:
    """Where run_model keeps one fold's result."""
    return os.path.join(out_dir, f"{dataset}_{model}_fold{fold}.json")


def settings(options: argparse.Namespace) -> dict:
    """The flags a fold's result depends on (a kept result is reused only under the same)."""
    return {"folds": options.folds, "epochs": options.epochs, "mlp_dropout": options.mlp_dropout,
            "mlp_batch_norm": options.mlp_batch_norm,
            "min_count": options.min_count, "evals_per_epoch": options.evals_per_epoch,
            "embedding_lr": options.embedding_lr, "dense_lr": DENSE_LR}


def kept_result(path: str, options: argparse.Namespace) -> dict | None:
    """The fold result stored at `path` when it was made with the same settings, else None."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        result = json.load(f)
    return result if result.get("settings") == settings(options) else None


def run_model(dataset: str, model: str, options: argparse.Namespace) -> None:
    """Trains `model` on each fold of `dataset` not yet kept in options.out_dir, in this
    process, and keeps its result there: the test part's labels and predictions by the weights
    of the earliest best validation AUC, that AUC, its epoch and the training time."""
    for fold in range(options.folds):
        path = fold_file(options.out_dir, dataset, model, fold)
        if kept_result(path, options) is not None:
            continue
        from easy_rec.pipeline import parse_pipeline_config_text  # TensorFlow: only when training

        with tempfile.TemporaryDirectory() as work_dir:
            spec = dataset_spec(dataset, fold, options.folds, work_dir, options.min_count)
            config_path = os.path.join(work_dir, f"{model}.config")
            text = config_text(model, spec, os.path.join(work_dir, "model"), fold + 1, options)
            started = time.monotonic()
            evaluations = train_and_predict(
                parse_pipeline_config_text(text, path=config_path).config, spec["dev"],
                spec["test"])
            seconds = time.monotonic() - started
        step = max(evaluations, key=lambda s: (evaluations[s][0], -s))  # earliest best
        labels, probs = evaluations[step][1]
        result = {"settings": settings(options), "val_auc": round(evaluations[step][0], 4),
                  "epoch": round(step * BATCH_SIZE / spec["train_rows"], 2),
                  "train_seconds": round(seconds, 1), "labels": labels.astype(int).tolist(),
                  "probs": [round(float(p), 6) for p in probs]}
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(result, f)
        os.replace(path + ".tmp", path)


def train_and_predict(config, validation_path: str,
                      test_path: str) -> dict[int, tuple[float, tuple | None]]:
    """Trains with the Trainer (validation evaluations, early stop); predicts `test_path` with
    the weights of each evaluation that beats every earlier one (the only ones the earliest
    best can be). {global step: (validation AUC, (labels, probabilities) or None)}."""
    from easy_rec.training.trainer import Trainer

    trainer = Trainer(config, base_dir=REPO)
    trainer.evaluator = PartEvaluator(config, trainer.model, validation_path, test_path)
    trainer.manager = NoCheckpoints()
    trainer.train()
    return trainer.evaluator.evaluations


class NoCheckpoints:
    """The Trainer's checkpoint manager in this bench: nothing to resume, nothing written (a
    save, which holds the training input's position with its 10,000-row shuffle buffer, took
    most of a run's time; training itself does not depend on it)."""

    latest_checkpoint = None

    def save(self, checkpoint_number: int) -> str:
        """Writes nothing; the name a checkpoint of this step would have."""
        return f"(not written) ckpt-{checkpoint_number}"


class PartEvaluator:
    """The Trainer's evaluator in this bench: the validation and test parts are parsed once and
    kept in memory (the library's Evaluator rebuilds its input pipeline, vocabulary tables
    included, at every evaluation: ~90% of a run's time on these small files). evaluate(step)
    returns {"auc": validation AUC} (exact, by ranks) for early stopping and records, in
    `evaluations`, the test part's predictions whenever that AUC beats every earlier one."""

    def __init__(self, config, model, validation_path: str, test_path: str):
        import tensorflow as tf

        from easy_rec.input.line_parser import checked_batches
        from easy_rec.input.reader import build_reader
        from easy_rec.models.builder import model_column_plan

        plan = model_column_plan(config, model)
        task = model.tasks[0]
        self._label, self._probs = task.label_field, task.key("probs")
        self._model = model
        self._forward = tf.function(lambda batch: model(batch, training=False)[self._probs])
        self._parts = [list(checked_batches(build_reader(config.data_config, path, plan)
                                            .make_dataset(BATCH_SIZE, num_epochs=1)))
                       for path in (validation_path, test_path)]
        self.evaluations: dict[int, tuple[float, tuple | None]] = {}

    def _predict(self, batches: list) -> tuple[np.ndarray, np.ndarray]:
        """(labels, probabilities) of the rows of `batches`, in order."""
        labels = [batch[self._label].numpy().reshape(-1) for batch in batches]
        probs = [self._forward(batch).numpy().reshape(-1) for batch in batches]
        return np.concatenate(labels), np.concatenate(probs)

    def evaluate(self, step: int) -> dict[str, float]:
        """{"auc": validation AUC at `step`}; keeps the test predictions when it is the best."""
        if step not in self.evaluations:  # the final evaluation may repeat the last step's
            value = auc(*self._predict(self._parts[0]))
            better = all(value > seen for seen, _ in self.evaluations.values())
            self.evaluations[step] = (value, self._predict(self._parts[1]) if better else None)
        return {"auc": self.evaluations[step][0]}


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by ranks (the Mann-Whitney statistic; tied scores share their mean rank)."""
    order = np.argsort(scores, kind="mergesort")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    positives = labels == 1
    n_pos = int(positives.sum())
    n_neg = len(labels) - n_pos
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def paired_difference(folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                      resamples: int = BOOTSTRAP) -> tuple[float, list[float]]:
    """The mean over folds of AUC(model) - AUC(lr) on the fold's rows, and its 95% paired
    bootstrap interval (each fold's rows resampled within the fold, a row's two predictions
    drawn together). `folds`: (labels, model's probabilities, lr's) per fold."""
    rng = np.random.default_rng(SPLIT_SEED)

    def mean_difference(picks: list) -> float:
        return float(np.mean([auc(labels[rows], probs[rows]) - auc(labels[rows], base[rows])
                              for (labels, probs, base), rows in zip(folds, picks)]))

    diffs = [mean_difference([rng.integers(0, len(labels), len(labels)) for labels, _, _ in folds])
             for _ in range(resamples)]
    low, high = np.percentile(diffs, [2.5, 97.5])
    point = mean_difference([slice(None)] * len(folds))
    return point, [round(float(low), 4), round(float(high), 4)]


def summary(dataset: str, models: list[str], options: argparse.Namespace) -> dict:
    """{model: its figures (module docstring)} of the kept fold results."""
    kept = {m: [kept_result(fold_file(options.out_dir, dataset, m, k), options)
                for k in range(options.folds)] for m in models}
    figures: dict = {}
    folds: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for model, results in kept.items():
        if any(r is None for r in results):
            figures[model] = {"error": "a fold did not finish (see the subprocess's stderr)"}
            continue
        folds[model] = [(np.array(r["labels"]), np.array(r["probs"])) for r in results]
        fold_auc = [auc(*fold) for fold in folds[model]]
        figures[model] = {
            "auc": round(float(np.mean(fold_auc)), 4),
            "fold_auc": [round(a, 4) for a in fold_auc],
            "pooled_auc": round(auc(*(np.concatenate(part) for part in zip(*folds[model]))), 4),
            "fold_val_auc": [r["val_auc"] for r in results],
            "fold_epoch": [r["epoch"] for r in results],
            "train_seconds": round(sum(r["train_seconds"] for r in results))}
    if "lr" not in folds:
        return figures
    for model in models[1:]:
        if model not in folds:
            continue
        if any(not np.array_equal(mine[0], base[0]) for mine, base in zip(folds[model], folds["lr"])):
            raise RuntimeError(f"{dataset}: {model}'s rows differ from lr's")
        diff, interval = paired_difference([(mine[0], mine[1], base[1]) for mine, base
                                            in zip(folds[model], folds["lr"])])
        figure = figures[model]
        figure.update({"minus_lr": round(diff, 4), "minus_lr_ci95": interval,
                       "fold_minus_lr": [round(a - b, 4) for a, b in
                                         zip(figure["fold_auc"], figures["lr"]["fold_auc"])],
                       "beats_lr": diff > 0, "significant": interval[0] > 0})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="*", default=["criteo", "avazu"])
    parser.add_argument("--models", nargs="*", default=MODELS)
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--mlp_dropout", type=float, default=0.0,
                        help="dropout_ratio for every MLP the sample config leaves without")
    parser.add_argument("--min_count", type=int, default=MIN_COUNT,
                        help="categorical values seen fewer times in the training part share "
                             "one id (0: hash every value into HASH_BUCKETS)")
    parser.add_argument("--evals_per_epoch", type=int, default=EVALS_PER_EPOCH,
                        help="validation evaluations per epoch")
    parser.add_argument("--mlp_batch_norm", type=int, choices=(0, 1), default=0,
                        help="use_bn of every MLP (EasyRec's default 1; see the module docstring)")
    parser.add_argument("--embedding_lr", type=float, default=EMBEDDING_LR,
                        help="Adam rate of optimizer_config[0] (embeddings, wide weights)")
    parser.add_argument("--jobs", type=int, default=1, help="models trained at once")
    parser.add_argument("--out_dir", default=os.path.join(tempfile.gettempdir(), "criteo_avazu_bench"),
                        help="where each fold's predictions are kept (and reused by a rerun)")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # internal: dataset model
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    if args.one:
        import logging

        logging.basicConfig(level=logging.WARNING)
        run_model(*args.one, args)
        return
    models = ["lr"] + [m for m in args.models if m != "lr"]
    runs = [(dataset, model) for model in models for dataset in args.datasets]
    with ThreadPoolExecutor(max(args.jobs, 1)) as pool:
        list(pool.map(lambda run: run_subprocess(*run, args), runs))
    report: dict = {"bench": "criteo_avazu", "baseline": BASELINE, **settings(args),
                    "split_seed": SPLIT_SEED, "validation_every": VALIDATION_EVERY,
                    "patience_epochs": PATIENCE, "batch_size": BATCH_SIZE,
                    "bootstrap": BOOTSTRAP}
    met = True
    for dataset in args.datasets:
        report[dataset] = summary(dataset, models, args)
        met = met and all(report[dataset][m].get("beats_lr", False) for m in models[1:])
    report["met"] = met
    print(json.dumps(report, sort_keys=True))


def run_subprocess(dataset: str, model: str, args: argparse.Namespace) -> None:
    """run_model in a fresh process (no TensorFlow state shared between models)."""
    command = [sys.executable, __file__, "--one", dataset, model, "--folds", str(args.folds),
               "--epochs", str(args.epochs), "--mlp_dropout", str(args.mlp_dropout),
               "--mlp_batch_norm", str(args.mlp_batch_norm),
               "--min_count", str(args.min_count), "--evals_per_epoch", str(args.evals_per_epoch),
               "--embedding_lr", str(args.embedding_lr),
               "--out_dir", args.out_dir]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    status = "done" if not out.returncode else "failed: " + (
        out.stderr.strip().splitlines()[-1:] or ["?"])[0]
    print(json.dumps({"dataset": dataset, "model": model, "status": status}), file=sys.stderr,
          flush=True)


if __name__ == "__main__":
    main()
