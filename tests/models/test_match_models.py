"""Matching models (DSSM): losses against numpy references, masking, sampled softmax,
retrieval metrics, the exported tower signatures and the item embedding dump."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows
from layers.layer_helpers import softmax_ce
from pipeline_helpers import sample_config

from easy_rec import cli
from easy_rec.config.errors import ConfigError
from easy_rec.metrics import retrieval
from easy_rec.models.builder import build_model
from easy_rec.pipeline import parse_pipeline_config_text
from easy_rec.serving.options import PredictOptions
from easy_rec.tables.errors import InputError, PredictError
from easy_rec.tools.dump_item_embeddings import dump_item_embeddings
from easy_rec.training.trainer import Trainer

SAMPLE = os.path.join(SAMPLES, "dssm_on_movielens.config")
COLUMNS = ["label", "user_id", "movie_id", "rating", "gender", "age", "job_id", "zip_id",
           "title", "genres", "year"]
ITEM_COLUMNS = ["movie_id", "genres", "title", "year"]
TEMPERATURE = 0.05


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(train, test) slices of the MovieLens sample: 3,000 / 400 rows."""
    root = tmp_path_factory.mktemp("match_data")
    train, test = root / "train.csv", root / "test.csv"
    train.write_text("".join(sample_rows("movielens_train.csv", 3000)), encoding="utf-8")
    test.write_text("".join(sample_rows("movielens_test.csv", 400)), encoding="utf-8")
    return str(train), str(test)


def write_item_table(path, rows: list[list[str]], header: bool = True) -> str:
    """A negative sampler table: id, weight, attrs (movie_id;genres;title;year)."""
    with open(path, "w", encoding="utf-8") as f:
        if header:
            f.write("id:int64\tweight:float\tattrs:string\n")
        for row in rows:
            f.write(f"{row[0]}\t1.0\t{';'.join(row)}\n")
    return str(path)


def movie_rows(count: int) -> list[list[str]]:
    """The first `count` distinct movies of the train sample as [movie_id, genres, title, year]."""
    movies: dict[str, list[str]] = {}
    for line in sample_rows("movielens_train.csv", 5000):
        cells = dict(zip(COLUMNS, line.rstrip("\n").split("\t")))
        movies.setdefault(cells["movie_id"], [cells[c] for c in ITEM_COLUMNS])
    return list(movies.values())[:count]


def sampler_edits(table: str, num_sample: int = 16, **extra) -> dict:
    return {"data_config.negative_sampler": {
        "input_path": table, "num_sample": num_sample, "attr_fields": ITEM_COLUMNS,
        "item_id_field": "movie_id", "attr_delimiter": ";", **extra}}


def first_batch(config, model, size: int) -> dict[str, tf.Tensor]:
    from easy_rec.input.reader import build_reader
    from easy_rec.models.builder import model_column_plan

    reader = build_reader(config.data_config, config.eval_input_path,
                          model_column_plan(config, model))
    return next(iter(reader.make_dataset(size, num_epochs=1, shuffle=False)))


# -- losses ----------------------------------------------------------------------------------
@pytest.mark.parametrize("simi_func", ["COSINE", "INNER_PRODUCT"])
def test_in_batch_softmax_matches_numpy(simi_func, tmp_path, data):
    config = sample_config("dssm", str(tmp_path / "m"), *data,
                           **{"model_config.dssm.simi_func": simi_func})
    tf.random.set_seed(3)
    model = build_model(config, SAMPLES)
    batch = first_batch(config, model, 96)
    out = model(batch, training=False)
    user, item = out["user_emb"].numpy(), out["item_emb"].numpy()
    if simi_func == "COSINE":
        np.testing.assert_allclose(np.linalg.norm(user, axis=1), 1.0, rtol=1e-5)
    # EasyRec's DSSM divides cosine similarities only by the temperature
    logits = user @ item.T / (TEMPERATURE if simi_func == "COSINE" else 1.0)
    np.testing.assert_allclose(out["logits"].numpy(), np.diag(logits), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out["probs"].numpy(), 1 / (1 + np.exp(-np.diag(logits))),
                               rtol=1e-4, atol=1e-6)
    ids = batch["movie_id"].numpy()
    valid = (ids[:, None] != ids[None, :]) | np.eye(len(ids), dtype=bool)
    assert not valid.all(), "the slice should hold repeated movies (accidental hits)"
    per_row = softmax_ce(logits, valid, np.arange(len(ids)))
    positive = batch["label"].numpy() > 0
    assert 0 < positive.sum() < len(ids)
    expected = per_row[positive].mean()
    assert float(model.loss(out, batch)) == pytest.approx(expected, rel=1e-4)


def test_pointwise_classification_loss(tmp_path, data):
    config = sample_config("dssm", str(tmp_path / "m"), *data,
                           **{"model_config.loss_type": "CLASSIFICATION"})
    model = build_model(config, SAMPLES)
    batch = first_batch(config, model, 64)
    out = model(batch, training=False)
    labels, logits = batch["label"].numpy().astype(np.float64), out["logits"].numpy()
    expected = np.mean(np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-abs(logits))))
    assert float(model.loss(out, batch)) == pytest.approx(expected, rel=1e-4)


def test_scale_simi_and_regression_loss(tmp_path, data):
    """scale_simi (EasyRec's default) maps the similarity s to s * |w| + b; with L2_LOSS the
    scaled score is the output y, trained by the squared error on the label."""
    config = sample_config("dssm", str(tmp_path / "m"), *data,
                           **{"model_config.loss_type": "L2_LOSS"})
    model = build_model(config, SAMPLES)
    model.similarity_scale.weight.assign(-2.0)
    model.similarity_scale.bias.assign(0.5)
    batch = first_batch(config, model, 32)
    out = model(batch, training=False)
    assert "logits" not in out and "probs" not in out
    scores = np.sum(out["user_emb"].numpy() * out["item_emb"].numpy(), axis=1)
    y = scores / TEMPERATURE * 2.0 + 0.5
    np.testing.assert_allclose(out["y"].numpy(), y, rtol=1e-4, atol=1e-4)
    labels = batch["label"].numpy().astype(np.float64)
    assert float(model.loss(out, batch)) == pytest.approx(np.mean((y - labels) ** 2), rel=1e-4)
    config.model_config.dssm.scale_simi = False
    assert build_model(config, SAMPLES).similarity_scale is None


def test_rows_with_label_0_add_no_loss(tmp_path, data):
    config = sample_config("dssm", str(tmp_path / "m"), *data)
    model = build_model(config, SAMPLES)
    batch = first_batch(config, model, 64)
    out = model(batch, training=False)
    negatives_only = dict(batch, label=tf.zeros_like(batch["label"]))
    assert float(model.loss(out, negatives_only)) == 0.0


@pytest.mark.parametrize("ignore_in_batch", [False, True])
def test_sampled_softmax(tmp_path, data, ignore_in_batch):
    movies = movie_rows(3)  # a tiny table: every draw of 16 hits some rows' own item
    table = write_item_table(tmp_path / "items.txt", movies)
    train_rows = [line for line in sample_rows("movielens_train.csv", 3000)
                  if line.split("\t")[2] in {m[0] for m in movies}]
    train = tmp_path / "train.csv"
    train.write_text("".join(train_rows * 20), encoding="utf-8")
    config = sample_config("dssm", str(tmp_path / "m"), str(train), data[1], **{
        **sampler_edits(table, num_eval_sample=5), "data_config.batch_size": 32,
        "train_config.num_steps": 5, "export_config.exporter_type": "none",
        "model_config.dssm.ignore_in_batch_neg_sam": ignore_in_batch,
        "eval_config.metrics_set": [{"auc": {}}, {"retrieval_recall": {"top_k": [1, 2]}}]})
    tf.random.set_seed(5)
    trainer = Trainer(config, base_dir=SAMPLES)
    model = trainer.model
    batch = next(iter(trainer.evaluator._reader.make_dataset(32, num_epochs=1, shuffle=False)))
    batch["movie_id"] = tf.constant(np.resize([int(m[0]) for m in movies], 32), tf.int64)
    out = model(batch, training=True)
    assert out["neg_item_emb"].shape == (16, 64) and out["neg_item_id"].shape == (16,)
    user, item = out["user_emb"].numpy(), out["item_emb"].numpy()
    negatives, negative_ids = out["neg_item_emb"].numpy(), out["neg_item_id"].numpy()
    ids = batch["movie_id"].numpy()
    sampled_valid = ids[:, None] != negative_ids[None, :]
    if ignore_in_batch:  # the row's own item, then the sampled negatives
        logits = np.concatenate([(user * item).sum(1, keepdims=True), user @ negatives.T], 1)
        valid = np.concatenate([np.ones((32, 1), bool), sampled_valid], 1)
        target = np.zeros(32, int)
    else:  # EasyRec's default: every item of the batch, then the sampled negatives
        logits = np.concatenate([user @ item.T, user @ negatives.T], 1)
        in_batch = (ids[:, None] != ids[None, :]) | np.eye(32, dtype=bool)
        valid = np.concatenate([in_batch, sampled_valid], 1)
        target = np.arange(32)
    assert not valid.all()
    per_row = softmax_ce(logits / TEMPERATURE, valid, target)
    positive = batch["label"].numpy() > 0
    assert float(model.loss(out, batch)) == pytest.approx(per_row[positive].mean(), rel=1e-4)
    # hist_seq_masks: items in a user's history (here the user id column, set to the first
    # movie's id) are no negatives of the user's rows, sampled or in-batch
    model.params.hist_seq_masks.append("user_id")
    seen_id = int(movies[0][0])
    users = np.where(np.arange(32) % 2 == 0, seen_id, 0)
    out = model(dict(batch, user_id=tf.constant(users, tf.int64)), training=True)
    user, item = out["user_emb"].numpy(), out["item_emb"].numpy()
    negatives, negative_ids = out["neg_item_emb"].numpy(), out["neg_item_id"].numpy()
    own = (user * item).sum(1, keepdims=True) if ignore_in_batch else user @ item.T
    logits = np.concatenate([own, user @ negatives.T], 1)
    columns = np.concatenate([[-1] if ignore_in_batch else ids, negative_ids])
    accidental = ids[:, None] == columns[None, :]
    accidental[np.arange(32), target] = False
    seen = users[:, None] == columns[None, :]
    seen[np.arange(32), target] = False
    assert seen.any()
    per_row = softmax_ce(logits / TEMPERATURE, ~accidental & ~seen, target)
    hist_batch = dict(batch, user_id=tf.constant(users, tf.int64))
    assert float(model.loss(out, hist_batch)) == pytest.approx(per_row[positive].mean(),
                                                                rel=1e-4)
    del model.params.hist_seq_masks[:]
    # evaluation draws num_eval_sample negatives through the inference-mode item tower
    eval_scores, _, _ = model.candidates(model(batch, training=False), batch)
    assert eval_scores.shape == (32, 6 if ignore_in_batch else 32 + 5)
    results = trainer.train()
    assert int(trainer.global_step) == 5 and np.isfinite(results["loss"])
    # the retrieval corpus is the sampler's table
    assert sorted(trainer.evaluator._retrieval.corpus()["movie_id"].numpy().tolist()) == \
        sorted(int(m[0]) for m in movies)
    assert 0.0 <= results["recall@1"] <= results["recall@2"] <= 1.0


def test_hard_negatives_extend_each_rows_candidates(tmp_path, data):
    """hard_negative_sampler_v2: negatives avoiding the user's clicks (label 1 rows) plus the
    user's own non-clicked movies (label 0 rows) as extra candidates of that row only."""
    movies = movie_rows(400)
    table = write_item_table(tmp_path / "items.txt", movies)
    rows = [dict(zip(COLUMNS, line.rstrip("\n").split("\t")))
            for line in sample_rows("movielens_train.csv", 3000)]
    for name, label in (("pos", "1"), ("hard", "0")):
        (tmp_path / f"{name}.txt").write_text("".join(
            f"{r['user_id']}\t{r['movie_id']}\t1\n" for r in rows if r["label"] == label),
            encoding="utf-8")
    (tmp_path / "users.txt").write_text("", encoding="utf-8")
    config = sample_config("dssm", str(tmp_path / "m"), *data, **{
        "data_config.hard_negative_sampler_v2": {
            "user_input_path": str(tmp_path / "users.txt"), "item_input_path": table,
            "pos_edge_input_path": str(tmp_path / "pos.txt"),
            "hard_neg_edge_input_path": str(tmp_path / "hard.txt"), "num_sample": 8,
            "num_hard_sample": 3, "attr_fields": ITEM_COLUMNS, "item_id_field": "movie_id",
            "user_id_field": "user_id", "attr_delimiter": ";"},
        "data_config.batch_size": 16, "train_config.num_steps": 3,
        "export_config.exporter_type": "none", "eval_config.metrics_set": [{"auc": {}}]})
    tf.random.set_seed(2)
    trainer = Trainer(config, base_dir=SAMPLES)
    model = trainer.model
    batch = next(iter(trainer.evaluator._reader.make_dataset(16, num_epochs=1, shuffle=False)))
    out = model(batch, training=True)
    scores, valid, _ = model.candidates(out, batch)
    assert scores.shape == (16, 16 + 8 + 3)
    hard, where = out["hard_neg_item_emb"].numpy(), out["hard_neg_indices"].numpy()
    assert len(where) > 0, "the slice's users should have non-clicked movies"
    user = out["user_emb"].numpy()
    for (row, pos), item in zip(where, hard):
        assert scores.numpy()[row, 24 + pos] == pytest.approx(float(user[row] @ item), rel=1e-4)
    used = np.zeros((16, 3), bool)
    used[where[:, 0], where[:, 1]] = True
    assert not valid.numpy()[:, 24:][~used].any()  # a row's unused hard positions are masked
    results = trainer.train()
    assert int(trainer.global_step) == 3 and np.isfinite(results["loss"])


def test_negative_sampler_table_errors(tmp_path):
    from easy_rec.input.sampler_tables import read_item_table
    from easy_rec.tables.errors import InputError

    fields = {f.input_name: f for f in sample_config(
        "dssm", str(tmp_path / "m"), "x", "y").data_config.input_fields}
    path = str(tmp_path / "items.txt")

    def read():
        return read_item_table(path, ITEM_COLUMNS, ";", fields)

    write_item_table(path, [["1", "Drama", "A", "1990"], ["2", "Comedy", "B"]])
    with pytest.raises(InputError, match=r"items.txt:3: expected 4 attrs"):
        read()
    write_item_table(path, [["1", "Drama", "A", "199x"]], header=False)
    with pytest.raises(InputError, match=r"items.txt:1: attr year: value '199x' is not a valid"):
        read()
    write_item_table(path, [["1", "Drama", "A", "1990"], ["2", "", "B", ""]])
    table = read()
    assert table.attrs["movie_id"].tolist() == [1, 2] and table.attrs["year"].tolist() == [1990, 0]
    assert table.ids.tolist() == [1, 2] and table.weights.tolist() == [1.0, 1.0]


# -- retrieval metrics -----------------------------------------------------------------------
def brute_force_ranks(users, true_items, true_ids, items, item_ids) -> np.ndarray:
    """Position of each query's own item when it replaces its id's entries in the corpus."""
    ranks = []
    for user, own, own_id in zip(users, true_items, true_ids):
        keep = item_ids != own_id
        corpus = np.concatenate([own[None], items[keep]])
        scores = retrieval.scores(user[None], corpus)[0]
        order = np.argsort(-scores, kind="stable")
        ranks.append(int(np.flatnonzero(order == 0)[0]))
    return np.array(ranks)


@pytest.mark.parametrize("interests", [0, 3])
def test_retrieval_ranks_and_metrics_match_brute_force(interests):
    rng = np.random.default_rng(interests)
    items = rng.normal(size=(53, 8)).astype(np.float32)
    item_ids = np.arange(53) % 47  # some ids twice
    shape = (40, interests, 8) if interests else (40, 8)
    users = rng.normal(size=shape).astype(np.float32)
    true_ids = rng.integers(0, 60, size=40)  # some ids not in the corpus
    true_items = rng.normal(size=(40, 8)).astype(np.float32)
    true_scores = retrieval.pair_scores(users, true_items)
    ranks = retrieval.true_item_ranks(users, true_scores, true_ids, items, item_ids,
                                      max_elements=100)  # many small chunks
    np.testing.assert_array_equal(ranks, brute_force_ranks(users, true_items, true_ids, items,
                                                           item_ids))
    user_ids = np.arange(40) % 7
    metrics = parse_metrics("metrics_set { retrieval_recall { top_k: [5, 20] } } "
                            "metrics_set { retrieval_hit_rate { top_k: [5] } } "
                            "metrics_set { retrieval_ndcg { top_k: [5] } }")
    results = retrieval.retrieval_results(metrics, ranks, user_ids)
    assert results["recall@5"] == pytest.approx(np.mean(ranks < 5))
    assert results["recall@20"] == pytest.approx(np.mean(ranks < 20))
    hits = [np.any(ranks[user_ids == u] < 5) for u in range(7)]
    assert results["hit_rate@5"] == pytest.approx(np.mean(hits))
    gains = [1 / np.log2(r + 2) if r < 5 else 0.0 for r in ranks]
    assert results["ndcg@5"] == pytest.approx(np.mean(gains))


def parse_metrics(text: str):
    from google.protobuf import text_format

    from easy_rec.protos import eval_pb2

    return list(text_format.Parse(text, eval_pb2.EvalConfig()).metrics_set)


# -- one trained model: evaluation, export, dump -----------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    """(trainer, final eval results, export dir) of DSSM trained 30 steps on the slices."""
    root = tmp_path_factory.mktemp("dssm")
    config = sample_config("dssm", str(root / "model"), *data, **{
        "train_config.num_steps": 30, "export_config.exporter_type": "final"})
    tf.random.set_seed(11)
    trainer = Trainer(config, base_dir=SAMPLES)
    results = trainer.train()
    export = glob.glob(os.path.join(config.model_dir, "export", "final", "[0-9]*"))[0]
    return trainer, results, export


def test_evaluation_reports_retrieval_metrics(trained, data):
    trainer, results, _ = trained
    for key in ("auc", "recall@10", "recall@50", "hit_rate@10", "hit_rate@50", "ndcg@10"):
        assert 0.0 <= results[key] <= 1.0, key
    assert results["recall@10"] <= results["recall@50"]
    assert results["ndcg@10"] <= results["recall@10"]
    corpus_ids = trainer.evaluator._retrieval.corpus()["movie_id"].numpy()
    movies = {int(line.split("\t")[2]) for path in data for line in open(path, encoding="utf-8")}
    assert len(corpus_ids) == len(set(corpus_ids.tolist())) == len(movies)
    assert set(corpus_ids.tolist()) == movies


def test_retrieval_metrics_match_a_brute_force_evaluation(trained):
    trainer, results, _ = trained
    model, evaluation = trainer.model, trainer.evaluator._retrieval
    corpus = evaluation.corpus()
    items = model.embed_items({k: corpus[k] for k in model.item_input_names})[0].numpy()
    item_ids = corpus["movie_id"].numpy()
    users, own, own_ids, uids = [], [], [], []
    for batch in trainer.evaluator._reader.make_dataset(128, num_epochs=1, shuffle=False):
        out = model(batch, training=False)
        positive = batch["label"].numpy() > 0
        users.append(out["user_emb"].numpy()[positive])
        own.append(out["item_emb"].numpy()[positive])
        own_ids.append(batch["movie_id"].numpy()[positive])
        uids.append(batch["user_id"].numpy()[positive])
    ranks = brute_force_ranks(np.concatenate(users), np.concatenate(own),
                              np.concatenate(own_ids), items, item_ids)
    assert results["recall@10"] == pytest.approx(np.mean(ranks < 10), abs=1e-9)
    assert results["recall@50"] == pytest.approx(np.mean(ranks < 50), abs=1e-9)
    uids = np.concatenate(uids)
    hits = [np.any(ranks[uids == u] < 10) for u in np.unique(uids)]
    assert results["hit_rate@10"] == pytest.approx(np.mean(hits), abs=1e-9)


_SIGNATURE_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
export, inputs_path = sys.argv[1], sys.argv[2]
temperature, scale_w, scale_b = (float(v) for v in sys.argv[3:6])
rows = json.load(open(inputs_path))
loaded = tf.saved_model.load(export)
assert sorted(loaded.signatures) == ["item_embedding", "serving_default", "user_embedding"]
def call(name):
    fn = loaded.signatures[name]
    specs = fn.structured_input_signature[1]
    return {k: v.numpy() for k, v in fn(**{k: tf.constant(rows[k], specs[k].dtype)
                                           for k in specs}).items()}, sorted(specs)
full, full_inputs = call("serving_default")
user, user_inputs = call("user_embedding")
item, item_inputs = call("item_embedding")
assert "easy_rec" not in sys.modules
np.testing.assert_allclose(user["user_emb"], full["user_emb"], rtol=1e-5, atol=1e-6)
np.testing.assert_allclose(item["item_emb"], full["item_emb"], rtol=1e-5, atol=1e-6)
def scaled(similarity):  # scale_simi: s * |w| + b
    return similarity / temperature * abs(scale_w) + scale_b
logits = scaled((user["user_emb"] * item["item_emb"]).sum(axis=1))
np.testing.assert_allclose(logits, full["logits"], rtol=1e-4, atol=1e-4)
np.testing.assert_allclose(1 / (1 + np.exp(-logits)), full["probs"], rtol=1e-4, atol=1e-6)
cosine = (user["user_emb"] * item["item_emb"]).sum(1) / np.linalg.norm(
    user["user_emb"], axis=1) / np.linalg.norm(item["item_emb"], axis=1)
np.testing.assert_allclose(scaled(cosine), full["logits"], rtol=1e-4, atol=1e-4)
print(json.dumps({"full": full_inputs, "user": user_inputs, "item": item_inputs,
                  "outputs": sorted(full), "user_outputs": sorted(user),
                  "item_outputs": sorted(item), "user_id": user["user_id"].tolist(),
                  "item_id": item["item_id"].tolist()}))
"""


@pytest.mark.slow
def test_export_signatures_agree_in_a_fresh_process(trained, tmp_path):
    trainer, _, export = trained
    scale = trainer.model.similarity_scale  # the sample keeps EasyRec's default scale_simi
    rows = [dict(zip(COLUMNS, line.rstrip("\n").split("\t"))) for line in sample_rows(
        "movielens_test.csv", 12)]
    inputs = {c: [r[c] if c in ("zip_id", "title", "genres") else int(r[c]) for r in rows]
              for c in trainer.model.serving_input_names}
    (tmp_path / "rows.json").write_text(json.dumps(inputs))
    (tmp_path / "check.py").write_text(_SIGNATURE_SCRIPT)
    result = subprocess.run([sys.executable, str(tmp_path / "check.py"), export,
                             str(tmp_path / "rows.json"), str(TEMPERATURE),
                             str(float(scale.weight)), str(float(scale.bias))], capture_output=True,
                            text=True, cwd=str(tmp_path), timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["user"] == sorted(["user_id", "gender", "age", "job_id", "zip_id"])
    assert report["item"] == sorted(ITEM_COLUMNS)
    assert report["outputs"] == ["item_emb", "logits", "probs", "user_emb"]
    assert report["user_outputs"] == ["user_emb", "user_id"]
    assert report["item_id"] == [int(r["movie_id"]) for r in rows]


def dump_options(export: str, input_path: str, output_path: str, **kwargs) -> PredictOptions:
    return PredictOptions(saved_model_dir=export, input_path=input_path,
                          output_path=output_path, separator="\t", with_header=True,
                          batch_size=7, chunk_rows=10, progress=False, **kwargs)


def write_items_csv(path, rows: list[list[str]]) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(ITEM_COLUMNS) + "\n")
        f.writelines("\t".join(r) + "\n" for r in rows)
    return str(path)


def test_dump_item_embeddings(trained, tmp_path):
    trainer, _, export = trained
    movies = movie_rows(25)
    items = write_items_csv(tmp_path / "items.csv", movies + movies[:5])  # 5 repeated ids
    out = tmp_path / "emb" / "items.tsv"
    summary = dump_item_embeddings(dump_options(export, items, str(out)))
    assert (summary.rows_read, summary.items_written, summary.duplicate_ids, summary.dim) == \
        (30, 25, 5, 64)
    lines = out.read_text(encoding="utf-8").splitlines()
    ids = [line.split("\t")[0] for line in lines]
    assert ids == [m[0] for m in movies]
    vectors = np.array([[float(v) for v in line.split("\t")[1].split(",")] for line in lines])
    raw = {c: tf.constant([m[i] for m in movies]) for i, c in enumerate(ITEM_COLUMNS)}
    raw["movie_id"] = tf.strings.to_number(raw["movie_id"], tf.int64)
    raw["year"] = tf.strings.to_number(raw["year"], tf.int32)
    want = trainer.model.embed_items(raw)[0].numpy()
    np.testing.assert_allclose(vectors, want, rtol=1e-5, atol=1e-6)
    assert os.listdir(out.parent) == ["items.tsv"]  # no temp file left
    # --id_field takes the ids from the input column instead of the model's item_id output
    renamed = dump_item_embeddings(dump_options(export, items, str(tmp_path / "by_field.tsv")),
                                   id_field="title")
    assert renamed.items_written == len({m[2] for m in movies})


def test_dump_writes_non_utf8_ids_byte_exact_and_checks_the_output_first(trained, tmp_path):
    _, _, export = trained
    movies = movie_rows(3)
    items = tmp_path / "items.csv"
    lines = ["\t".join(ITEM_COLUMNS).encode()] + ["\t".join(m).encode() for m in movies]
    lines[1] = lines[1].replace(movies[0][2].encode(), b"Caf\xe9 \xff")  # a Latin-1 title
    items.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "items.tsv"
    summary = dump_item_embeddings(dump_options(export, str(items), str(out)), id_field="title")
    assert summary.items_written == 3
    assert out.read_bytes().split(b"\n")[0].split(b"\t")[0] == b"Caf\xe9 \xff"
    (tmp_path / "plain").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        dump_item_embeddings(dump_options(str(tmp_path / "no_model"), str(items),
                                          str(tmp_path / "plain" / "items.tsv")))


def test_dump_is_atomic_and_reports_bad_rows(trained, tmp_path):
    _, _, export = trained
    movies = movie_rows(12)
    bad = write_items_csv(tmp_path / "bad.csv", movies + [["x1", "Drama", "T", "1990"]])
    out = tmp_path / "items.tsv"
    out.write_text("previous\n", encoding="utf-8")
    with pytest.raises(PredictError, match=r"bad.csv:14: column movie_id: value 'x1'"):
        dump_item_embeddings(dump_options(export, bad, str(out)))
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert sorted(os.listdir(tmp_path)) == ["bad.csv", "items.tsv"]
    summary = dump_item_embeddings(dump_options(export, bad, str(out), ignore_error=True))
    assert (summary.items_written, summary.rows_rejected) == (12, 1)


def test_dump_command_line(trained, tmp_path, monkeypatch, capsys):
    from easy_rec.tools import dump_item_embeddings as tool

    _, _, export = trained
    items = write_items_csv(tmp_path / "items.csv", movie_rows(4))
    out = tmp_path / "out.tsv"
    monkeypatch.setattr(sys, "argv", [
        "dump_item_embeddings", "--saved_model_dir", export, "--input_path", items,
        "--output_path", str(out), "--with_header", "--separator", "\\t", "--batch_size", "3",
        "--no_progress"])
    assert tool.main() == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["rows_read"], summary["items_written"], summary["dim"]) == (4, 4, 64)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4
    monkeypatch.setattr(sys, "argv", [
        "dump_item_embeddings", "--saved_model_dir", str(tmp_path), "--input_path", items,
        "--output_path", str(out), "--with_header"])
    with pytest.raises(SystemExit) as exit_code:
        cli.run(tool.main)
    assert exit_code.value.code == 1
    assert "no saved_model.pb" in capsys.readouterr().err


# -- config errors ---------------------------------------------------------------------------
CONFIG_ERRORS = {
    # id: (replace this, with this, error field, fragment of the reason, text on the error line)
    "tower_sizes": ("dnn { hidden_units: [256, 128, 64] }\n    }\n    simi_func",
                    "dnn { hidden_units: [256, 32] }\n    }\n    simi_func",
                    "model_config.dssm.item_tower.dnn.hidden_units", "must be equal",
                    "hidden_units: [256, 32]"),
    "temperature": ("temperature: 0.05", "temperature: 0", "model_config.dssm.temperature",
                    "temperature must be > 0", "temperature: 0"),
    "loss_type": ("loss_type: SOFTMAX_CROSS_ENTROPY", "loss_type: JRC_LOSS",
                  "model_config.loss_type", "CLASSIFICATION (pointwise),", "JRC_LOSS"),
    "tower_id": ('id: "movie_id"', 'id: "rating"', "model_config.dssm.item_tower.id",
                 "'rating' must be an input column of a feature of group(s) item",
                 'id: "rating"'),
    "item_group": ('group_name: "item"', 'group_name: "items"', "model_config.feature_groups",
                   "needs a feature group named 'item'", "feature_groups {"),
    "top_k": ("retrieval_ndcg { top_k: [10] }", "retrieval_ndcg { }",
              "eval_config.metrics_set[3].retrieval_ndcg.top_k", "needs top_k",
              "retrieval_ndcg { }"),
    "sampler_loss": ("loss_type: SOFTMAX_CROSS_ENTROPY", "loss_type: CLASSIFICATION",
                     "data_config.negative_sampler", "set model_config.loss_type",
                     "negative_sampler {"),
    "sampler_attrs": ('attr_fields: ["movie_id", "genres", "title", "year"]',
                      'attr_fields: ["movie_id", "genres", "title"]',
                      "data_config.negative_sampler.attr_fields", "lack item tower input(s) year",
                      "negative_sampler {"),
    "sampler_id": ('item_id_field: "movie_id"', 'item_id_field: "rating"',
                   "data_config.negative_sampler.item_id_field", "must be one of attr_fields",
                   "negative_sampler {"),
    "sampler_num": ("num_sample: 8", "num_sample: 0", "data_config.negative_sampler.num_sample",
                    "num_sample must be > 0", "negative_sampler {"),
}
SAMPLER_BLOCK = ('  negative_sampler { input_path: "items.txt" num_sample: 8 '
                 'attr_fields: ["movie_id", "genres", "title", "year"] item_id_field: "movie_id" '
                 'attr_delimiter: ";" }\n')


def sample_text(sampler: bool = False) -> str:
    with open(SAMPLE, encoding="utf-8") as f:
        text = f.read()
    if sampler:
        text = text.replace('  separator: "\\t"\n', '  separator: "\\t"\n' + SAMPLER_BLOCK)
    return text


def assert_config_error(text: str, field: str, fragment: str, marker: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_pipeline_config_text(text, "dssm.config")
    assert (error.value.path, error.value.field) == ("dssm.config", field), str(error.value)
    assert fragment in error.value.reason, str(error.value)
    assert marker in text.splitlines()[error.value.line - 1], str(error.value)


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_config_errors_name_field_and_line(case):
    old, new, field, fragment, marker = CONFIG_ERRORS[case]
    text = sample_text(sampler=True)
    assert old in text
    assert_config_error(text.replace(old, new, 1), field, fragment, marker)


def test_retrieval_metrics_and_sampler_need_a_matching_model():
    text = sample_text()
    start = text.index("  dssm {")
    ranking = text[:start] + "  dnn { dnn { hidden_units: [8] } }\n" + text[text.index(
        "  embedding_regularization", start):]
    ranking = ranking.replace('model_class: "DSSM"', 'model_class: "DNN"')
    assert_config_error(ranking, "eval_config.metrics_set[1]", "is not a matching model",
                        "retrieval_recall")
    with_sampler = ranking.replace('  separator: "\\t"\n', '  separator: "\\t"\n' + SAMPLER_BLOCK)
    assert_config_error(with_sampler, "data_config.negative_sampler",
                        "does not use a negative sampler", "negative_sampler {")


def test_sample_config_with_a_sampler_block_is_valid():
    config = parse_pipeline_config_text(sample_text(sampler=True), "dssm.config").config
    assert config.data_config.negative_sampler.num_sample == 8


def test_hist_seq_masks_drop_seen_items_from_the_negatives(tmp_path, data):
    """hist_seq_masks names user-group features holding the user's past item ids; here the
    user id itself, so movies whose id equals the row's user id are no negatives."""
    config = sample_config("dssm", str(tmp_path / "m"), *data)
    config.model_config.dssm.hist_seq_masks.append("user_id")
    model = build_model(config, SAMPLES)
    batch = first_batch(config, model, 400)
    out = model(batch, training=False)
    logits = out["user_emb"].numpy() @ out["item_emb"].numpy().T / TEMPERATURE
    ids = batch["movie_id"].numpy()
    users = batch["user_id"].numpy()
    seen = users[:, None] == ids[None, :]
    assert seen.any(), "the slice should hold a movie id equal to some row's user id"
    valid = ((ids[:, None] != ids[None, :]) & ~seen) | np.eye(len(ids), dtype=bool)
    positive = batch["label"].numpy() > 0
    expected = softmax_ce(logits, valid, np.arange(len(ids)))[positive].mean()
    assert float(model.loss(out, batch)) == pytest.approx(expected, rel=1e-4)
    config.model_config.dssm.hist_seq_masks[:] = ["movie_id"]
    with pytest.raises(ConfigError, match="must be a feature of group 'user'"):
        parse_pipeline_config_text(str(config), path="x.config")
