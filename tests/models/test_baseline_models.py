"""DeepFM, WideAndDeep and MultiTower follow EasyRec: which kernels l2_regularization covers,
DeepFM's FM vector under final_dnn, MultiTower's batch-normalised tower inputs."""
from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows
from layers.layer_helpers import tree_kernels
from pipeline_helpers import sample_model_and_batch

from easy_rec.layers.interaction import fm_interaction
from easy_rec.models.builder import build_model
from easy_rec.pipeline import parse_pipeline_config_text


@pytest.fixture(scope="module")
def rows_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("data") / "rows.csv"
    path.write_text("".join(sample_rows("movielens_train.csv", 32)), encoding="utf-8")
    return str(path)


def kernel_ids(*modules) -> set[int]:
    return {id(k) for m in modules for k in tree_kernels(m)}


def regularized(model) -> set[int]:
    return {id(k) for k in model.regularized_kernels()}


def test_deepfm_and_wide_and_deep_regularize_every_dense_kernel_and_the_output(rows_file):
    deepfm, _ = sample_model_and_batch("deepfm", rows_file, 32)
    assert regularized(deepfm) == kernel_ids(deepfm.dnn, deepfm.output_layer)
    wide_and_deep, _ = sample_model_and_batch("wide_and_deep", rows_file, 32)
    assert regularized(wide_and_deep) == kernel_ids(wide_and_deep.dnn, wide_and_deep.output_layer)


def test_deepfm_final_dnn_reads_the_fm_vector(rows_file):
    model, batch = sample_model_and_batch(
        "deepfm", rows_file, 32, **{"model_config.deepfm.final_dnn": {"hidden_units": [8]},
                                    "model_config.deepfm.wide_output_dim": 4})
    features = model.feature_layer(batch)
    fields = [features.deep["deep"][i] for i in model._fm_index]
    fm = fm_interaction(fields, per_dimension=True)
    assert fm.shape == (32, 16)  # EasyRec concatenates the FM term per embedding dimension
    # final_dnn's input: [wide (4), fm (16), dnn output]
    assert model.final_dnn.dense_layers[0].kernel.shape[0] == 4 + 16 + model.dnn.output_dim
    hidden = tf.concat([features.wide_sum("wide"), fm, model.dnn(features.concat("deep"), False)], 1)
    expected = model.output_layer(model.final_dnn(hidden, False))
    np.testing.assert_allclose(model.logits(features, training=False).numpy(), expected.numpy(),
                               rtol=1e-5)


def test_multi_tower_batch_normalizes_tower_inputs_and_leaves_the_output_unregularized(rows_file):
    model, batch = sample_model_and_batch("multi_tower", rows_file, 32)
    assert all(t.input_bn is not None for t in model.towers)
    assert regularized(model) == kernel_ids(*model.towers, model.final_dnn)
    assert id(model.output_layer.kernel) not in regularized(model)
    # in training the tower input is normalised over the batch: scaling one group's inputs
    # (of unit variance, well above BN's epsilon) leaves the training-mode logits unchanged
    features = model.feature_layer(batch)
    group = model._tower_inputs[0]
    tf.random.set_seed(3)
    features.deep[group] = [tf.random.normal(t.shape) for t in features.deep[group]]
    logits = model.logits(features, training=True)
    features.deep[group] = [10.0 * t for t in features.deep[group]]
    np.testing.assert_allclose(model.logits(features, training=True).numpy(), logits.numpy(),
                               rtol=1e-2, atol=1e-3)


def test_multi_tower_without_final_dnn_feeds_the_towers_to_the_output(tmp_path):
    # EasyRec reads an absent (proto-required) final_dnn as an empty DNN: the identity
    with open(os.path.join(SAMPLES, "multi_tower_on_movielens.config"), encoding="utf-8") as f:
        text = "\n".join(line for line in f.read().splitlines() if "final_dnn" not in line)
    config = parse_pipeline_config_text(text, "multi_tower.config").config
    assert not config.model_config.multi_tower.HasField("final_dnn")
    model = build_model(config, base_dir=SAMPLES)
    width = sum(t.output_dim for t in model.towers)
    assert model.final_dnn.output_dim == width and not model.final_dnn.dense_layers
    assert model.output_layer.kernel.shape == (width, 1)
