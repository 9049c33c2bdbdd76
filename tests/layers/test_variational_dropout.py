"""VariationalDropout: expected masks in evaluation, relaxed Bernoulli masks in training and
the penalty, computed by hand."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.variational_dropout import VariationalDropout

FEATURES = [tf.constant([[1.0, 2.0], [3.0, 4.0]]), tf.constant([[5.0], [6.0]])]


def test_feature_wise_evaluation_scales_each_feature_by_its_keep_rate():
    layer = VariationalDropout([2, 1], regularization_lambda=0.5)
    assert layer.logit_p.shape == (2,)
    layer.logit_p.assign([0.0, np.log(3.0)])  # rates 0.5 and 0.75
    out, penalty = layer(FEATURES, training=False)
    np.testing.assert_allclose(out[0].numpy(), [[0.5, 1.0], [1.5, 2.0]], rtol=1e-6)
    np.testing.assert_allclose(out[1].numpy(), [[1.25], [1.5]], rtol=1e-6)
    # lambda / batch * sum(1 - p) = 0.5 / 2 * (0.5 + 0.25)
    assert float(penalty) == pytest.approx(0.1875)


def test_embedding_wise_rates_per_column():
    layer = VariationalDropout([2, 1], embedding_wise=True)
    assert layer.logit_p.shape == (3,)
    layer.logit_p.assign([0.0, 100.0, -100.0])
    out, _ = layer(FEATURES, training=False)
    np.testing.assert_allclose(out[0].numpy(), [[0.5, 0.0], [1.5, 0.0]], atol=1e-6)
    np.testing.assert_allclose(out[1].numpy(), [[5.0], [6.0]], rtol=1e-6)


def test_training_masks_are_near_binary_for_extreme_rates():
    layer = VariationalDropout([2, 1])
    layer.logit_p.assign([-20.0, 20.0])  # keep the first feature, drop the second
    out, _ = layer(FEATURES, training=True)
    np.testing.assert_allclose(out[0].numpy(), FEATURES[0].numpy(), rtol=1e-4)
    np.testing.assert_allclose(out[1].numpy(), [[0.0], [0.0]], atol=1e-4)


def test_rates_get_gradients_from_the_penalty_and_the_masks():
    layer = VariationalDropout([2, 1], regularization_lambda=1.0)
    with tf.GradientTape() as tape:
        out, penalty = layer(FEATURES, training=True)
        total = tf.reduce_sum(out[0]) + penalty
    grad = tape.gradient(total, layer.logit_p).numpy()
    assert grad.shape == (2,) and np.all(np.isfinite(grad)) and grad[1] < 0
