"""Leave-last-out retrieval benchmark of the matching models on Amazon Beauty; one JSON line.

Data: ../shared/data/amazon-seq-s3rec/Beauty.txt (the S3-Rec preprocessing: one user per line,
``user item1 item2 ...`` in time order, items 1..12101). For a user with items s_1..s_n the
test item is s_n, the validation item s_{n-1}, and s_1..s_{n-2} are the training history.

Rows (temporary CSV files the pipeline configs read; columns label, user_id, item_id,
hist_item_ids = the up to --max_seq_len previous items, ';'-joined, oldest first):
- train: one row per training interaction s_t, t = 2..n-2, with history s_1..s_{t-1};
- valid: s_{n-1} with history s_1..s_{n-2} (the trainer's eval input, evaluated once at the end);
- test: s_n with history s_1..s_{n-1}.

Models, each trained by the normal config-driven Trainer: DSSM (user tower over the user id and
the mean of the history's item embeddings, item tower over the item id), MIND (interests from
the history, item tower over the item id) and BERT4Rec (cloze training on each row's history
followed by its item, softmax over the whole item table unless --bert4rec_num_sampled). DSSM
and MIND use a sampled softmax: --num_negatives items drawn uniformly from the whole catalogue
per step (data_config.negative_sampler over a written item table), so that, as for BERT4Rec,
items never seen in training are pushed down too. A popularity baseline (training interaction
counts) is reported alongside.

Metrics on the test rows, full ranking: each user's embedding scores every item 1..12101 (the
models' user / item towers, i.e. what the exported user_embedding / item_embedding signatures
compute); items of the user's history other than the test item are excluded, as in S3-Rec's
evaluation; the rank is the number of items scoring strictly higher than the test item.
recall@k (= hit ratio, one test item per user) and NDCG@10 = mean 1 / log2(rank + 2) over ranks
< 10.

Usage: python scripts/bench/retrieval_bench.py [--max_users 2000] [--epochs 10]
           [--models dssm,mind,bert4rec] [--bert4rec_num_sampled N] [--work_dir DIR]
A quick run (--max_users 2000) took 6 minutes on 2 CPU cores, most of it BERT4Rec's softmax over
all 12,101 items (--bert4rec_num_sampled 1024 shortens it); on so few users every model stays
below popularity. The full run (all 22,363 users, 10 epochs) took about 40 minutes on 2 shared
cores: recall@10 / recall@50 / NDCG@10 BERT4Rec 0.058 / 0.134 / 0.031, MIND 0.039 / 0.103 /
0.021, DSSM 0.025 / 0.069 / 0.013, popularity 0.012 / 0.033 / 0.006.
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

import tensorflow as tf  # noqa: E402

from easy_rec.metrics.retrieval import scores as interest_scores  # noqa: E402
from easy_rec.pipeline import parse_pipeline_config_text  # noqa: E402
from easy_rec.training.trainer import Trainer  # noqa: E402

DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "amazon-seq-s3rec", "Beauty.txt")
MODELS = ("dssm", "mind", "bert4rec")
TOP_K = (10, 50)
SCORE_USERS = 512  # users scored against the whole catalogue at once

logger = logging.getLogger("retrieval_bench")


# -- data --------------------------------------------------------------------------------------
def read_sequences(path: str, max_users: int | None) -> list[tuple[int, list[int]]]:
    """(user, items in time order) per line; the first max_users lines when given."""
    sequences = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            values = [int(v) for v in line.split()]
            if len(values) >= 4:  # a user, a training item and its history, valid and test
                sequences.append((values[0], values[1:]))
            if max_users and len(sequences) >= max_users:
                break
    return sequences


def catalogue_size(path: str) -> int:
    """The largest item id of the whole data set (items are numbered 1..N)."""
    with open(path, encoding="utf-8") as f:
        return max(int(v) for line in f for v in line.split()[1:])


def row(user: int, item: int, history: list[int], max_seq_len: int) -> str:
    """One CSV row: label, user_id, item_id, hist_item_ids."""
    return f"1\t{user}\t{item}\t{';'.join(map(str, history[-max_seq_len:]))}\n"


def write_split(sequences, work_dir: str, max_seq_len: int) -> dict[str, str]:
    """Writes train / valid / test CSV files (leave-last-out); returns their paths."""
    paths = {name: os.path.join(work_dir, f"{name}.csv") for name in ("train", "valid", "test")}
    paths["items"] = os.path.join(work_dir, "items.txt")
    with open(paths["train"], "w") as train, open(paths["valid"], "w") as valid, \
            open(paths["test"], "w") as test:
        for user, items in sequences:
            for t in range(1, len(items) - 2):
                train.write(row(user, items[t], items[:t], max_seq_len))
            valid.write(row(user, items[-2], items[:-2], max_seq_len))
            test.write(row(user, items[-1], items[:-1], max_seq_len))
    return paths


def write_item_table(path: str, num_items: int) -> None:
    """The negative sampler's item table: id, weight, attrs (the item id) per item 1..N."""
    with open(path, "w") as f:
        f.writelines(f"{i}\t1\t{i}\n" for i in range(1, num_items + 1))


# -- configs -----------------------------------------------------------------------------------
def pipeline_config(model: str, paths: dict[str, str], model_dir: str, num_items: int,
                    num_users: int, args: argparse.Namespace) -> str:
    """Pipeline config text of one model over the bench's CSV files."""
    buckets = num_items + 2  # ids 1..num_items, 0 unused, the last row is BERT4Rec's [mask]
    dim = args.embedding_dim
    history = (f'features {{ input_names: "hist_item_ids" feature_type: SequenceFeature '
               f'separator: ";" max_seq_len: {args.max_seq_len} embedding_dim: {dim} '
               f'num_buckets: {buckets} embedding_name: "item" combiner: "mean" }}')
    features = [f'features {{ input_names: "item_id" embedding_dim: {dim} num_buckets: {buckets} '
                f'embedding_name: "item" }}', history]
    if model == "dssm":
        features.append(f'features {{ input_names: "user_id" embedding_dim: {dim} '
                        f'num_buckets: {num_users + 1} }}')
    feature_text = "\n  ".join(features)
    sampler = "" if model == "bert4rec" else f"""negative_sampler {{
    input_path: "{paths['items']}" num_sample: {args.num_negatives}
    attr_fields: ["item_id"] item_id_field: "item_id" attr_delimiter: ":"
  }}"""
    return f"""
train_input_path: "{paths['train']}"
eval_input_path: "{paths['valid']}"
model_dir: "{model_dir}"
train_config {{
  log_step_count_steps: 100
  optimizer_config {{ adam_optimizer {{ learning_rate {{ constant_learning_rate {{
    learning_rate: {args.learning_rate} }} }} }} }}
  save_checkpoints_steps: 100000000
}}
eval_config {{
  metrics_set {{ retrieval_recall {{ top_k: [10, 50] }} }}
  metrics_set {{ retrieval_ndcg {{ top_k: [10] }} }}
}}
data_config {{
  input_fields {{ input_name: "label" input_type: INT32 }}
  input_fields {{ input_name: "user_id" input_type: INT64 }}
  input_fields {{ input_name: "item_id" input_type: INT64 }}
  input_fields {{ input_name: "hist_item_ids" input_type: STRING }}
  label_fields: "label"
  batch_size: {args.batch_size}
  num_epochs: {args.epochs}
  shuffle_buffer_size: 65536
  input_type: CSVInput
  separator: "\\t"
  {sampler}
}}
feature_config {{
  {feature_text}
}}
model_config {{
  {MODEL_BLOCKS[model].format(dim=dim, num_sampled=args.bert4rec_num_sampled)}
}}
export_config {{ exporter_type: "none" }}
"""


MODEL_BLOCKS = {
    "dssm": """model_class: "DSSM"
  feature_groups {{ group_name: "user" feature_names: ["user_id", "hist_item_ids"] wide_deep: DEEP }}
  feature_groups {{ group_name: "item" feature_names: ["item_id"] wide_deep: DEEP }}
  dssm {{
    user_tower {{ id: "user_id" dnn {{ hidden_units: [256, {dim}] }} }}
    item_tower {{ id: "item_id" dnn {{ hidden_units: [256, {dim}] }} }}
    simi_func: COSINE
    temperature: 0.05
    l2_regularization: 1e-6
  }}
  loss_type: SOFTMAX_CROSS_ENTROPY""",
    "mind": """model_class: "MIND"
  feature_groups {{ group_name: "item" feature_names: ["item_id"] wide_deep: DEEP }}
  seq_att_groups {{ group_name: "history" seq_att_map {{ hist_seq: "hist_item_ids" }} }}
  mind {{
    item_id: "item_id"
    concat_dnn {{ hidden_units: [256, {dim}] }}
    item_dnn {{ hidden_units: [256, {dim}] }}
    capsule_config {{ max_k: 4 high_dim: {dim} num_iters: 3 routing_logits_scale: 20 }}
    simi_pow: 20
    simi_func: COSINE
    temperature: 0.05
    l2_regularization: 1e-6
  }}
  loss_type: SOFTMAX_CROSS_ENTROPY""",
    "bert4rec": """model_class: "BERT4Rec"
  feature_groups {{ group_name: "item" feature_names: ["item_id"] wide_deep: DEEP }}
  seq_att_groups {{ group_name: "history" seq_att_map {{ hist_seq: "hist_item_ids" }} }}
  bert4rec {{
    item_id: "item_id"
    encoder {{ num_hidden_layers: 2 num_attention_heads: 2 hidden_dropout_prob: 0.2 }}
    mask_prob: 0.3
    num_sampled: {num_sampled}
    l2_regularization: 1e-6
  }}""",
}


# -- evaluation --------------------------------------------------------------------------------
def read_rows(path: str) -> dict[str, np.ndarray]:
    """The columns of a bench CSV file as arrays."""
    with open(path, encoding="utf-8") as f:
        columns = list(zip(*(line.rstrip("\n").split("\t") for line in f)))
    return {"label": np.asarray(columns[0], np.int32), "user_id": np.asarray(columns[1], np.int64),
            "item_id": np.asarray(columns[2], np.int64),
            "hist_item_ids": np.asarray(columns[3], object)}


def seen_items(sequences) -> dict[int, set[int]]:
    """user -> items of the history before the test item (excluded from the ranking)."""
    return {user: set(items[:-1]) for user, items in sequences}


def full_ranks(user_vectors: np.ndarray, item_vectors: np.ndarray, rows: dict[str, np.ndarray],
               seen: dict[int, set[int]]) -> np.ndarray:
    """Rank of each test item among items 1..N (item_vectors[i] is item i + 1), the user's
    other history items excluded."""
    ranks = np.zeros(len(user_vectors), np.int64)
    for start in range(0, len(user_vectors), SCORE_USERS):
        scores = interest_scores(user_vectors[start:start + SCORE_USERS], item_vectors)
        for offset, row_scores in enumerate(scores):
            index = start + offset
            target = int(rows["item_id"][index]) - 1
            excluded = [i - 1 for i in seen[int(rows["user_id"][index])] if i - 1 != target]
            row_scores[excluded] = -np.inf
            ranks[index] = int(np.sum(row_scores > row_scores[target]))
    return ranks


def metrics(ranks: np.ndarray) -> dict[str, float]:
    """recall@k and NDCG@10 of 0-based ranks."""
    out = {f"recall@{k}": round(float(np.mean(ranks < k)), 4) for k in TOP_K}
    gains = np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0)
    out["ndcg@10"] = round(float(np.mean(gains)), 4)
    return out


def embed(tower, raw: dict[str, np.ndarray], batch_size: int = 2048) -> np.ndarray:
    """A tower (raw columns -> (embeddings, ...)) applied to numpy columns in batches."""
    specs = {k: tf.TensorSpec([None], tf.string if v.dtype == object else tf.as_dtype(v.dtype))
             for k, v in raw.items()}
    function = tf.function(lambda columns: tower(columns)[0], input_signature=[specs],
                           autograph=False)
    parts = []
    count = len(next(iter(raw.values())))
    for start in range(0, count, batch_size):
        part = {k: tf.constant(v[start:start + batch_size]) for k, v in raw.items()}
        parts.append(function(part).numpy())
    return np.concatenate(parts)


def evaluate_model(model, test_rows: dict[str, np.ndarray], num_items: int,
                   seen: dict[int, set[int]]) -> dict[str, float]:
    """Full-ranking test metrics of a trained matching model."""
    users = embed(model.embed_users, {k: test_rows[k] for k in model.user_input_names})
    items = embed(model.embed_items, {"item_id": np.arange(1, num_items + 1, dtype=np.int64)})
    return metrics(full_ranks(users, items, test_rows, seen))


def popularity(train_rows: dict[str, np.ndarray], test_rows: dict[str, np.ndarray],
               num_items: int, seen: dict[int, set[int]]) -> dict[str, float]:
    """The same ranking with every user scoring items by their training interaction count."""
    counts = np.bincount(train_rows["item_id"], minlength=num_items + 1)[1:].astype(np.float32)
    counts += np.random.default_rng(0).random(num_items) * 1e-3  # break ties
    users = np.ones((len(test_rows["item_id"]), 1), np.float32)
    return metrics(full_ranks(users, counts[:, None], test_rows, seen))


# -- main --------------------------------------------------------------------------------------
def run_model(name: str, paths: dict[str, str], work_dir: str, num_items: int, num_users: int,
              test_rows: dict[str, np.ndarray], seen, args: argparse.Namespace) -> dict:
    """Trains one model from its config; returns its test metrics and training figures."""
    text = pipeline_config(name, paths, os.path.join(work_dir, name), num_items, num_users, args)
    config = parse_pipeline_config_text(text, f"{name}_bench.config").config
    tf.random.set_seed(args.seed)
    start = time.time()
    trainer = Trainer(config)
    valid = trainer.train()
    result = evaluate_model(trainer.model, test_rows, num_items, seen)
    result.update(valid_recall_at_10=round(valid.get("recall@10", float("nan")), 4),
                  steps=int(trainer.train_stats["steps"]),
                  train_seconds=round(trainer.train_stats["seconds"], 1),
                  wall_seconds=round(time.time() - start, 1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--max_users", type=int, default=0, help="first N users (0: all)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--max_seq_len", type=int, default=20)
    parser.add_argument("--embedding_dim", type=int, default=64)
    parser.add_argument("--learning_rate", type=float, default=0.001)
    parser.add_argument("--num_negatives", type=int, default=1024,
                        help="DSSM / MIND: uniform negatives per step")
    parser.add_argument("--bert4rec_num_sampled", type=int, default=0,
                        help="BERT4Rec: sampled softmax negatives (0: the whole table)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work_dir", default="", help="default: a temporary directory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    logger.setLevel(logging.INFO)
    models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    sequences = read_sequences(args.data, args.max_users or None)
    num_items = catalogue_size(args.data)
    num_users = max(user for user, _ in sequences)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="retrieval_bench_")
    os.makedirs(work_dir, exist_ok=True)
    paths = write_split(sequences, work_dir, args.max_seq_len)
    write_item_table(paths["items"], num_items)
    train_rows, test_rows = read_rows(paths["train"]), read_rows(paths["test"])
    seen = seen_items(sequences)
    results = {"bench": "retrieval", "data": "amazon-beauty", "users": len(sequences),
               "items": num_items, "train_rows": len(train_rows["item_id"]),
               "epochs": args.epochs, "max_seq_len": args.max_seq_len,
               "popularity": popularity(train_rows, test_rows, num_items, seen)}
    for name in models:
        results[name] = run_model(name, paths, work_dir, num_items, num_users, test_rows, seen,
                                  args)
        logger.info("%s: %s", name, json.dumps(results[name]))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
