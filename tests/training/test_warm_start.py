"""fine_tune_checkpoint warm starts: restore_filters, shape mismatches
(force_restore_shape_compatible) and moving averages, on models built without training."""
from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES

from easy_rec.models.builder import build_model
from easy_rec.pipeline import load_pipeline_config
from easy_rec.training.optimization.moving_average import CHECKPOINT_KEY, MovingAverage
from easy_rec.training.warm_start import pad_or_clip, warm_start


def _config(gender_buckets: int = 2):
    config = load_pipeline_config(os.path.join(SAMPLES, "deepfm_on_movielens.config")).config
    gender = next(f for f in config.feature_config.features if f.input_names[0] == "gender")
    gender.num_buckets = gender_buckets
    return config


def _table(model, name: str) -> tf.Variable:
    return next(v for v in model.variables if f"/{name}_embedding/" in v.name)


def _dense(model) -> tf.Variable:
    return next(v for v in model.variables if "dnn/dense_0/kernel" in v.name)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """(source model, its moving averages, checkpoint path): a checkpoint of a DeepFM whose
    variables were set to random values, saved with averages of half those values."""
    source = build_model(_config(), SAMPLES)
    for var in source.variables:
        if var.dtype.is_floating:
            var.assign(tf.random.uniform(var.shape, dtype=var.dtype))
    averages = MovingAverage()
    averages.build(source.trainable_variables, decay=0.0)
    for _, shadow in averages.shadows():
        shadow.assign(shadow / 2)
    path = str(tmp_path_factory.mktemp("warm_start") / "ckpt")
    tf.train.Checkpoint(model=source, **{CHECKPOINT_KEY: averages.checkpointed}).write(path)
    return source, path


def test_pad_or_clip() -> None:
    value = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(pad_or_clip(value, [3, 2]), [[0, 1], [3, 4], [0, 0]])
    np.testing.assert_array_equal(pad_or_clip(value, [1, 4]), [[0, 1, 2, 0]])


def test_restore_filters_and_shape_mismatches(checkpoint) -> None:
    source, path = checkpoint
    target = build_model(_config(gender_buckets=3), SAMPLES)
    dense_before, gender_before = _dense(target).numpy(), _table(target, "gender").numpy()
    restored = warm_start(target, path, restore_filters=["dnn/"])
    # averages win over raw values; filtered and reshaped variables keep their initial value
    np.testing.assert_allclose(_table(target, "user_id").numpy(),
                               _table(source, "user_id").numpy() / 2, rtol=1e-6)
    np.testing.assert_array_equal(_dense(target).numpy(), dense_before)
    np.testing.assert_array_equal(_table(target, "gender").numpy(), gender_before)
    assert not any("dnn/" in name or "gender_embedding" in name for name in restored)

    forced = build_model(_config(gender_buckets=3), SAMPLES)
    warm_start(forced, path, force_shape_compatible=True)
    gender = _table(forced, "gender").numpy()
    np.testing.assert_allclose(gender[:2], _table(source, "gender").numpy() / 2, rtol=1e-6)
    np.testing.assert_array_equal(gender[2], np.zeros_like(gender[2]))
    np.testing.assert_allclose(_dense(forced).numpy(), _dense(source).numpy() / 2, rtol=1e-6)


def test_options_are_accepted(tmp_path) -> None:
    base = open(os.path.join(SAMPLES, "deepfm_on_movielens.config"), encoding="utf-8").read()
    path = tmp_path / "c.config"
    path.write_text(base + "model_config { restore_filters: 'Adam' restore_filters: 'dnn/' }"
                    " train_config { force_restore_shape_compatible: true }", encoding="utf-8")
    config = load_pipeline_config(str(path)).config
    assert list(config.model_config.restore_filters) == ["Adam", "dnn/"]
