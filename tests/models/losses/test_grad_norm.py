"""GradNorm (model_config.grad_norm) against hand-computed values, and on DBMTL's sample."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows
from pipeline_helpers import sample_model_and_batch

from easy_rec.config.errors import ConfigError
from easy_rec.models.losses.grad_norm import GradNorm
from easy_rec.pipeline import load_pipeline_config

# shared kernel W = [[1, 2]]; L1 = sum(W) (gradient [1, 1]), L2 = sum(W^2) (gradient 2W)
L1, L2, G1, G2 = 3.0, 5.0, math.sqrt(2.0), math.sqrt(20.0)


def run(grad_norm: GradNorm, shared: tf.Variable):
    """(terms, gradients of their sum w.r.t. the loss weights) in one traced training call."""
    @tf.function(autograph=False)
    def step():
        with tf.GradientTape() as tape:
            terms = grad_norm([tf.reduce_sum(shared), tf.reduce_sum(shared * shared)], shared,
                              training=True)
            total = tf.add_n(terms)
        return terms, tape.gradient(total, grad_norm.weights)
    terms, grads = step()
    return [float(t) for t in terms], [float(g) for g in grads]


def test_first_step_hand_computed():
    shared = tf.Variable([[1.0, 2.0]])
    grad_norm = GradNorm(2, alpha=0.12)
    terms, grads = run(grad_norm, shared)
    # step 0: l_i(0) = l_i, so r_i = 1 and both targets are G_avg = (G1 + G2) / 2:
    # L_grad = (G_avg - G1) + (G2 - G_avg) = G2 - G1
    assert terms == pytest.approx([L1, L2, G2 - G1], rel=1e-5)
    # d/dw_i (w_i L_i + |w_i ||grad L_i|| - C|) = L_i + sign(G_i - C) ||grad L_i||
    assert grads == pytest.approx([L1 - G1, L2 + G2], rel=1e-5)
    assert [float(v) for v in grad_norm.initial_losses] == [L1, L2]


def test_later_step_relative_rates_and_renormalisation():
    shared = tf.Variable([[1.0, 2.0]])
    grad_norm = GradNorm(2, alpha=0.5)
    run(grad_norm, shared)  # records l_i(0) = [3, 5]
    for w, value in zip(grad_norm.weights, (1.0, 3.0)):
        w.assign(value)
    terms, _ = run(grad_norm, shared)
    g1, g2 = 1.0 * G1, 3.0 * G2
    mean = (g1 + g2) / 2
    r1, r2 = (3.0 / 3.0), (15.0 / 5.0)  # l_i / l_i(0)
    c1, c2 = (mean * (r / ((r1 + r2) / 2)) ** 0.5 for r in (r1, r2))
    assert terms == pytest.approx([3.0, 15.0, abs(g1 - c1) + abs(g2 - c2)], rel=1e-5)
    # the weights are rescaled to sum to the number of tasks: [1, 3] * 2 / 4
    assert [float(w) for w in grad_norm.weights] == pytest.approx([0.5, 1.5])


def test_evaluation_only_weights_and_eager_training_is_refused():
    shared = tf.Variable([[1.0, 2.0]])
    grad_norm = GradNorm(2, alpha=0.12)
    grad_norm.weights[0].assign(2.0)
    losses = [tf.constant(L1), tf.constant(L2)]
    assert [float(t) for t in grad_norm(losses, shared, training=False)] == [2 * L1, L2]
    with pytest.raises(RuntimeError, match="tf.function"):
        grad_norm(losses, shared, training=True)


@pytest.fixture(scope="module")
def rows_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("data") / "rows.csv"
    path.write_text("".join(sample_rows("movielens_seq_train.csv", 32)), encoding="utf-8")
    return str(path)


def test_grad_norm_sample_parses():
    path = os.path.join(SAMPLES, "options", "dbmtl_grad_norm_on_movielens.config")
    config = load_pipeline_config(path).config
    assert config.model_config.grad_norm and config.model_config.dbmtl.bottom_dnn.hidden_units


def test_dbmtl_trains_with_grad_norm(rows_file):
    model, batch = sample_model_and_batch("dbmtl", rows_file, 32, **{
        "model_config.grad_norm": True, "model_config.dbmtl.bottom_dnn": {"hidden_units": [16]},
        "model_config.dbmtl.num_expert": 0})
    assert model.shared_kernel() is model.bottom.dense_layers[-1].kernel
    variables = model.trainable_variables

    @tf.function(autograph=False)
    def step():
        with tf.GradientTape() as tape:
            outputs = model(batch, training=True)
            loss = model.loss(outputs, batch)
        return loss, tape.gradient(loss, variables)
    loss, grads = step()
    assert np.isfinite(float(loss))
    by_name = {v.name: g for v, g in zip(variables, grads)}
    assert all(by_name[w.name] is not None for w in model.grad_norm.weights)
    assert all(float(v) > 0 for v in model.grad_norm.initial_losses)
    # evaluation outputs carry no GradNorm step: weighted losses, no state change
    before = [float(v) for v in model.grad_norm.weights]
    model.loss(model(batch, training=False), batch)
    assert [float(v) for v in model.grad_norm.weights] == before


@pytest.mark.parametrize("sample,edits,field", [
    ("deepfm", {}, "model_config.grad_norm"),
    ("dbmtl", {"model_config.dbmtl.bottom_dnn": {"hidden_units": []}}, "model_config.grad_norm"),
    ("dbmtl", {"model_config.grad_norm_alpha": -1.0}, "model_config.grad_norm_alpha"),
])
def test_grad_norm_config_errors(sample, edits, field):
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(os.path.join(SAMPLES, f"{sample}_on_movielens.config"),
                             {"model_config.grad_norm": True, **edits})
    assert info.value.field == field
