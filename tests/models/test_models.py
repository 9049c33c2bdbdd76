"""Every registered ranking model trains (loss goes down); loss types; sample weights."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES
from pipeline_helpers import sample_config, train

from easy_rec.training.trainer import Trainer

MODEL_EDITS = {
    "DeepFM": ("deepfm", {}),
    "WideAndDeep": ("wide_and_deep", {}),
    "MultiTower": ("multi_tower", {}),
    "FM": ("deepfm", {"model_config.model_class": "FM", "model_config.fm": {},
                      "train_config.optimizer_config[0].adam_optimizer.learning_rate"
                      ".exponential_decay_learning_rate.initial_learning_rate": 0.01}),
    "DNN": ("multi_tower", {"model_config.model_class": "DNN",
                            "model_config.dnn": {"dnn": {"hidden_units": [64, 32]}}}),
}


@pytest.mark.slow
@pytest.mark.parametrize("model_class", sorted(MODEL_EDITS))
def test_model_learns(model_class, tmp_path, small_data):
    sample, edits = MODEL_EDITS[model_class]
    config = sample_config(sample, str(tmp_path / "m"), *small_data,
                           **{"train_config.num_steps": 150, "export_config.exporter_type": "none",
                              **edits})
    tf.random.set_seed(1)
    assert config.model_config.model_class == model_class
    trainer = Trainer(config, base_dir=SAMPLES)
    batch = next(iter(trainer.evaluator._reader.make_dataset(512, num_epochs=1)))

    def eval_loss() -> float:
        return float(trainer.model.loss(trainer.model(batch, training=False), batch))

    initial_loss = eval_loss()
    results = trainer.train()
    assert eval_loss() < initial_loss - 0.02
    assert results["auc"] > 0.6, results


def test_multiclass_softmax(tmp_path, small_data):
    config = sample_config("deepfm", str(tmp_path / "m"), *small_data, **{
        "data_config.label_fields": ["rating"], "model_config.num_class": 6,
        "eval_config.metrics_set": [{"accuracy": {}}, {"recall_at_topk": {"topk": 2}}],
        "train_config.num_steps": 40})
    trainer, results = train(config)
    assert 0.0 < results["accuracy"] <= 1.0 and results["recall_at_topk"] >= results["accuracy"]
    batch = next(iter(trainer.evaluator._reader.make_dataset(8, num_epochs=1)))
    out = trainer.model(batch)
    assert out["probs"].shape == (8, 6)
    np.testing.assert_allclose(out["probs"].numpy().sum(axis=1), 1.0, rtol=1e-5)


def test_regression_l2_loss(tmp_path, small_data):
    config = sample_config("wide_and_deep", str(tmp_path / "m"), *small_data, **{
        "data_config.label_fields": ["rating"], "model_config.loss_type": "L2_LOSS",
        "eval_config.metrics_set": [{"mean_squared_error": {}}, {"mean_absolute_error": {}}],
        "train_config.optimizer_config[0].adam_optimizer.learning_rate"
        ".exponential_decay_learning_rate.initial_learning_rate": 0.01,
        "model_config.wide_and_deep.dnn.use_bn": False,
        "train_config.num_steps": 200})
    trainer, results = train(config)
    ratings = np.loadtxt(small_data[1], delimiter="\t", usecols=3)
    assert results["mse"] < ratings.var(), results  # better than predicting the mean
    batch = next(iter(trainer.evaluator._reader.make_dataset(8, num_epochs=1)))
    assert set(trainer.model(batch)) == {"y", "embedding_l2"}


def test_sample_weights_scale_the_loss(tmp_path, small_data):
    config = sample_config("deepfm", str(tmp_path / "m"), *small_data,
                           **{"train_config.num_steps": 1})
    trainer, _ = train(config)
    model = trainer.model
    outputs = {"logits": tf.constant([0.0, 2.0, -1.0]), "probs": tf.sigmoid([0.0, 2.0, -1.0])}
    batch = {"label": tf.constant([1, 0, 1]), "w": tf.constant([2.0, 0.0, 1.0])}
    per_example = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.cast(batch["label"], tf.float32), logits=outputs["logits"]).numpy()
    assert float(model.loss(outputs, batch)) == pytest.approx(per_example.mean(), rel=1e-6)
    model.sample_weight = "w"
    weighted = float(model.loss(outputs, batch))
    assert weighted == pytest.approx((2 * per_example[0] + per_example[2]) / 2, rel=1e-6)
