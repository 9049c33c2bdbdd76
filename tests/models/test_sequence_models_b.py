"""DPIN, BERT4Rec and MIND: capsule routing, cloze masking, label-aware attention, the
models' outputs, sparse item-table gradients, learning, exported signatures and config errors."""
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

from easy_rec.config.errors import ConfigError
from easy_rec.layers.capsule import interest_count
from easy_rec.pipeline import load_pipeline_config, parse_pipeline_config_text
from easy_rec.training.trainer import Trainer

MODELS = ("dpin", "bert4rec", "mind")
SEQ_COLUMNS = 16  # columns of samples/data/movielens_seq_*.csv


# -- the models, each trained once on a slice of the MovieLens sequence data ---------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, tuple[Trainer, str, dict]]:
    """model -> (trainer after 10 steps, export dir, a 64-row batch of the test slice)."""
    root = tmp_path_factory.mktemp("seq_b")
    train, test = root / "train.csv", root / "test.csv"
    train.write_text("".join(sample_rows("movielens_seq_train.csv", 3000)), encoding="utf-8")
    test.write_text("".join(sample_rows("movielens_seq_test.csv", 300)), encoding="utf-8")
    models = {}
    for name in MODELS:
        config = load_pipeline_config(os.path.join(SAMPLES, f"{name}_on_movielens.config"), {
            "model_dir": str(root / name), "train_input_path": str(train),
            "eval_input_path": str(test), "data_config.batch_size": 128,
            "data_config.num_epochs": 0, "train_config.num_steps": 10,
            "train_config.save_checkpoints_steps": 1000}).config
        tf.random.set_seed(11)
        trainer = Trainer(config, base_dir=SAMPLES)
        trainer.train()
        export = glob.glob(os.path.join(config.model_dir, "export", "final", "[0-9]*"))[0]
        batch = next(iter(trainer.evaluator._reader.make_dataset(64, num_epochs=1, shuffle=False)))
        models[name] = (trainer, export, batch)
    return models


def test_dpin_scores_every_position_and_serves_the_default_one(trained):
    trainer, _, batch = trained["dpin"]
    model = trainer.model
    outputs = model(batch, training=False)
    assert outputs["position_probs"].shape == (64, model.num_positions) == (64, 20)
    np.testing.assert_allclose(outputs["probs"].numpy(), outputs["position_probs"].numpy()[:, 0])
    # with position_field, each row is scored at its own position (here: the genre column)
    model.params.position_field = "genre"
    try:
        own = model(batch, training=False)
    finally:
        model.params.ClearField("position_field")
    rows = np.arange(64)
    np.testing.assert_allclose(own["probs"].numpy(),
                               own["position_probs"].numpy()[rows, batch["genre"].numpy()])
    # the position-wise representations are zero where a position holds no behaviour
    empty = dict(batch, hist_movie_ids=tf.fill([64], ""), hist_genres=tf.fill([64], ""))
    represented = model.position_representations(model.feature_layer(empty), training=False)
    assert not np.any(represented.numpy())
    assert np.all(np.isfinite(model(empty)["position_probs"].numpy()))


def test_bert4rec_masks_history_items_and_keeps_table_gradients_sparse(trained):
    trainer, _, batch = trained["bert4rec"]
    model = trainer.model
    tf.random.set_seed(5)
    with tf.GradientTape() as tape:
        outputs = model(batch, training=True)
        loss = model.loss(outputs, batch)
    masked = outputs["masked"].numpy()
    # each sequence is the history and the row's item
    real = np.array([len(h.split(b";")) + 1 if h else 1 for h in batch["hist_movie_ids"].numpy()])
    assert np.all(masked.sum(axis=1) >= 1) and np.all(masked.sum(axis=1) <= real)
    assert 0.15 < masked.sum() / real.sum() < 0.3
    assert np.isfinite(float(loss)) and float(loss) == float(outputs["cloze_loss"])
    gradient = tape.gradient(loss, model.table.weights)
    assert isinstance(gradient, tf.IndexedSlices)
    # sampled softmax: only the batch's items and the drawn negatives get gradient rows
    model.params.num_sampled = 16
    try:
        with tf.GradientTape() as tape:
            loss = model.loss(model(batch, training=True), batch)
        rows = np.unique(tape.gradient(loss, model.table.weights).indices.numpy())
    finally:
        model.params.num_sampled = 0
    assert len(rows) < model.table.num_ids // 2


def test_bert4rec_serving_scores_the_item_against_history_then_mask(trained):
    trainer, _, batch = trained["bert4rec"]
    model = trainer.model
    outputs = model(batch, training=False)
    assert outputs["user_emb"].shape == (64, model.table.dim)
    item = tf.gather(model.table.weights, model.feature_layer.features["movie_id"].encode(batch).ids)
    np.testing.assert_allclose(outputs["logits"].numpy(),
                               np.sum(outputs["user_emb"].numpy() * item.numpy(), axis=1),
                               rtol=1e-4, atol=1e-5)
    assert np.isfinite(float(model.loss(outputs, batch)))


def _write_cycle_sequences(path: str, rows: int, seed: int) -> None:
    """Rows whose history runs through consecutive ids of a cycle of 30 items (1..30) and whose
    item is the next id: the masked (and the next) item is predictable from its neighbours."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(rows):
        start, length = int(rng.integers(0, 30)), int(rng.integers(3, 9))
        ids = [(start + i) % 30 + 1 for i in range(length + 1)]
        cells = ["1", "1", str(ids[-1])] + ["0"] * (SEQ_COLUMNS - 5) + [
            ";".join(map(str, ids[:-1])), "1"]
        cells[7] = cells[8] = cells[9] = "x"  # zip_id, title, genres
        lines.append("\t".join(cells) + "\n")
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)


def test_bert4rec_learns_to_predict_masked_items(tmp_path):
    train, test = str(tmp_path / "train.csv"), str(tmp_path / "test.csv")
    _write_cycle_sequences(train, 4000, 0)
    _write_cycle_sequences(test, 200, 1)
    config = load_pipeline_config(os.path.join(SAMPLES, "bert4rec_on_movielens.config"), {
        "model_dir": str(tmp_path / "model"), "train_input_path": train, "eval_input_path": test,
        "data_config.batch_size": 64, "data_config.num_epochs": 0,
        "data_config.shuffle_buffer_size": 1000,
        "train_config.num_steps": 120, "train_config.save_checkpoints_steps": 1000,
        "feature_config.features[:].num_buckets": 32,
        "feature_config.features[:].embedding_dim": 16,
        "feature_config.features[:].initializer.truncated_normal_initializer.stddev": 0.25,
        "model_config.bert4rec.encoder.num_hidden_layers": 1,
        "model_config.bert4rec.encoder.hidden_dropout_prob": 0.0,
        "train_config.optimizer_config[0].adam_optimizer.learning_rate"
        ".exponential_decay_learning_rate.initial_learning_rate": 0.01,
        "eval_config.metrics_set": [], "export_config.exporter_type": "none"}).config
    tf.random.set_seed(0)
    trainer = Trainer(config, base_dir=SAMPLES)
    before = trainer.evaluator.evaluate(0)["loss"]
    after = trainer.train()["loss"]
    batch = next(iter(trainer.evaluator._reader.make_dataset(200, num_epochs=1, shuffle=False)))
    model = trainer.model
    scores = model(batch, training=False)["user_emb"].numpy() @ model.table.weights.numpy().T
    scores[:, model.mask_id] = -np.inf
    accuracy = np.mean(scores.argmax(axis=1) == batch["movie_id"].numpy())
    assert after < before / 2 and accuracy > 0.8, (before, after, accuracy)


def test_mind_user_interests_and_label_aware_training(trained):
    trainer, _, batch = trained["mind"]
    model = trainer.model
    outputs = model(batch, training=False)
    k, dim = model.capsules.max_k, model.concat_dnn.output_dim
    assert outputs["user_emb"].shape == (64, k, dim) and outputs["item_emb"].shape == (64, dim)
    interests = outputs["user_emb"].numpy()
    # inactive slots repeat the first interest; the pair score is the best interest's
    lengths = [len(h.split(b";")) if h else 0 for h in batch["hist_movie_ids"].numpy()]
    counts = interest_count(tf.constant(lengths), k, constant=False).numpy()
    for row, count in enumerate(counts):
        assert np.allclose(interests[row, count:], interests[row, :1])
    best = np.einsum("bkd,bd->bk", interests, outputs["item_emb"].numpy()).max(axis=1)
    scale = model.similarity_scale  # scale_simi (EasyRec's default): s * |w| + b
    expected = best / model.temperature * abs(float(scale.weight)) + float(scale.bias)
    np.testing.assert_allclose(outputs["logits"].numpy(), expected, rtol=1e-4, atol=1e-4)
    training = model(batch, training=True)
    assert training["user_emb"].shape == (64, dim)
    assert np.isfinite(float(model.loss(training, batch)))


_SIGNATURES_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
cases = json.load(open(sys.argv[1]))
shapes = {}
for name, case in cases.items():
    loaded = tf.saved_model.load(case["dir"])
    for signature, columns in case["signatures"].items():
        function = loaded.signatures[signature]
        specs = function.structured_input_signature[1]
        outputs = function(**{c: tf.constant(case["inputs"][c], dtype=specs[c].dtype)
                              for c in columns})
        shapes[f"{name}/{signature}"] = {k: list(v.shape) for k, v in outputs.items()}
assert "easy_rec" not in sys.modules
print(json.dumps(shapes))
"""


def _jsonable(values: np.ndarray) -> list:
    return [v.decode("utf-8") for v in values] if values.dtype == object else values.tolist()


@pytest.mark.slow
def test_exported_signatures_serve_in_a_fresh_process(trained, tmp_path):
    cases = {}
    for name, (trainer, export, batch) in trained.items():
        model = trainer.model
        signatures = {"serving_default": model.serving_input_names}
        signatures.update({k: columns for k, (columns, _) in model.extra_signatures().items()})
        cases[name] = {"dir": export, "signatures": signatures,
                       "inputs": {c: _jsonable(batch[c].numpy()[:8])
                                  for c in model.serving_input_names}}
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "serve.py").write_text(_SIGNATURES_SCRIPT)
    result = subprocess.run([sys.executable, str(tmp_path / "serve.py"),
                             str(tmp_path / "cases.json")], capture_output=True, text=True,
                            cwd=str(tmp_path), timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    shapes = json.loads(result.stdout.strip().splitlines()[-1])
    assert shapes["dpin/serving_default"]["position_probs"] == [8, 20]
    assert shapes["dpin/serving_default"]["probs"] == [8]
    assert shapes["bert4rec/serving_default"]["user_emb"] == [8, 64]
    assert shapes["bert4rec/user_embedding"] == {"user_emb": [8, 64]}
    assert shapes["bert4rec/item_embedding"] == {"item_emb": [8, 64], "item_id": [8]}
    assert shapes["mind/serving_default"]["probs"] == [8]
    assert shapes["mind/user_embedding"]["user_emb"] == [8, 4, 64]
    assert shapes["mind/item_embedding"]["item_emb"] == [8, 64]


# -- config errors ---------------------------------------------------------------------------
CONFIG_ERRORS = {
    # case: (sample, old text, new text, field, reason fragment, text on the reported line)
    "dpin_no_sequence_group": (
        "dpin", 'sequence_group: "positions"', 'sequence_group: "nothing"',
        "model_config.seq_att_groups", "'nothing'", "seq_att_groups"),
    "dpin_heads": (
        "dpin", "num_attention_heads: 2", "num_attention_heads: 3",
        "model_config.dpin.position_transformer.num_attention_heads", "multiple",
        "num_attention_heads"),
    "dpin_position_field": (
        "dpin", "default_position: 0", 'position_field: "slot"',
        "model_config.dpin.position_field", "input_fields", "position_field"),
    "dpin_context_group": (
        "dpin", "default_position: 0", 'context_group: "request"',
        "model_config.feature_groups", "'request'", "feature_groups"),
    "bert4rec_mask_prob": (
        "bert4rec", "mask_prob: 0.2", "mask_prob: 1.5", "model_config.bert4rec.mask_prob",
        "(0, 1)", "mask_prob"),
    "bert4rec_key": (
        "bert4rec", 'seq_att_map { hist_seq: "hist_movie_ids" }',
        'seq_att_map { key: "movie_id" hist_seq: "hist_movie_ids" }',
        "model_config.seq_att_groups[0]", "no key", "seq_att_groups"),
    "bert4rec_tables": (
        "bert4rec", 'input_names: "movie_id" embedding_dim: 64 num_buckets: 1700 embedding_name: "movie"',
        'input_names: "movie_id" embedding_dim: 64 num_buckets: 1700 embedding_name: "items"',
        "model_config.bert4rec.sequence_group", "embedding_name", "sequence_group"),
    "bert4rec_item_group": (
        "bert4rec", 'feature_names: ["movie_id"]', 'feature_names: ["movie_id", "movie_id"]',
        "model_config.feature_groups[0].feature_names", "exactly one", "feature_names"),
    "mind_sizes": (
        "mind", "item_dnn { hidden_units: [128, 64] }", "item_dnn { hidden_units: [128, 32] }",
        "model_config.mind.item_dnn.hidden_units", "must be equal", "item_dnn"),
    "mind_key": (
        "mind", 'seq_att_map { hist_seq: "hist_genres" }',
        'seq_att_map { key: "genre" hist_seq: "hist_genres" }',
        "model_config.seq_att_groups[0]", "no key", "seq_att_groups"),
    "mind_item_group": (
        "mind", 'group_name: "item"', 'group_name: "items"', "model_config.feature_groups",
        "'item'", "feature_groups"),
    "mind_capsules": (
        "mind", "num_iters: 3", "num_iters: 0", "model_config.mind.capsule_config.num_iters",
        ">= 1", "num_iters"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_config_errors_name_field_and_line(case):
    sample, old, new, field, fragment, marker = CONFIG_ERRORS[case]
    with open(os.path.join(SAMPLES, f"{sample}_on_movielens.config"), encoding="utf-8") as f:
        text = f.read()
    assert old in text
    text = text.replace(old, new, 1)
    with pytest.raises(ConfigError) as error:
        parse_pipeline_config_text(text, f"{sample}.config")
    assert (error.value.path, error.value.field) == (f"{sample}.config", field), str(error.value)
    assert fragment in error.value.reason, str(error.value)
    assert marker in text.splitlines()[error.value.line - 1], str(error.value)
