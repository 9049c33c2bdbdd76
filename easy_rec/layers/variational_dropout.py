"""Variational (concrete) dropout over the features of a feature group, which learns each
feature's dropout rate and so ranks the features by importance.

Idea (Chang et al., "Dropout Feature Ranking for Deep Learning Models", 2017,
https://arxiv.org/abs/1712.08645): every feature f (or, embedding-wise, every output column)
has a learned dropout rate p_f = sigmoid(theta_f). In training a feature is multiplied by a
relaxed Bernoulli keep mask with temperature t = 0.1 and uniform noise u:

    z_f = 1 - sigmoid((log p_f - log(1 - p_f) + log u - log(1 - u)) / t)

in evaluation and serving by its expected value 1 - p_f. A penalty pushes the rates up,

    penalty = lambda / batch_size * sum_f (1 - p_f)

so only features the model needs keep a low rate: sorting the features by p_f ranks them.
The rates start uniform in +-sqrt(3 / n) (Glorot for a vector of n rates), as EasyRec's
logit_p variable.

Shapes: a list of per-feature tensors [batch, dim_f] in, the same list (masked) out.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.registry import register_layer

_EPSILON = float(np.finfo(float).eps)


@register_layer("VariationalDropout")
class VariationalDropout(Layer):
    """Learned feature-wise (or embedding-wise) dropout of a group's features."""

    def __init__(self, feature_dims: Sequence[int], embedding_wise: bool = False,
                 regularization_lambda: float = 0.01, temperature: float = 0.1,
                 name: str | None = None):
        super().__init__(name=name)
        self.feature_dims = [int(d) for d in feature_dims]
        self.embedding_wise = embedding_wise
        self.regularization_lambda = regularization_lambda
        self.temperature = temperature
        count = sum(self.feature_dims) if embedding_wise else len(self.feature_dims)
        limit = (3.0 / count) ** 0.5
        with self.name_scope:
            self.logit_p = tf.Variable(tf.random.uniform([count], -limit, limit),
                                       name="logit_p")
        # output column -> its feature's rate (feature-wise)
        self._columns = np.repeat(np.arange(len(self.feature_dims)), self.feature_dims)

    def dropout_rates(self) -> tf.Tensor:
        """[n] learned dropout rates (per feature, or per column when embedding-wise)."""
        return tf.sigmoid(self.logit_p)

    def __call__(self, features: Sequence[tf.Tensor], training: bool = False
                 ) -> tuple[list[tf.Tensor], tf.Tensor]:
        """(masked features, penalty): each [batch, dim_f] feature scaled by its keep mask."""
        x = tf.concat(list(features), axis=1)
        batch = tf.shape(x)[0]
        rates = self.dropout_rates()
        if training:
            noise = tf.random.uniform([batch, tf.size(rates)])
            logits = (tf.math.log(rates + _EPSILON) - tf.math.log(1.0 - rates + _EPSILON)
                      + tf.math.log(noise + _EPSILON) - tf.math.log(1.0 - noise + _EPSILON))
            keep = 1.0 - tf.sigmoid(logits / self.temperature)
        else:
            keep = (1.0 - rates)[None, :]
        if not self.embedding_wise:
            keep = tf.gather(keep, self._columns, axis=1)
        masked = tf.split(x * keep, self.feature_dims, axis=1)
        penalty = (self.regularization_lambda / tf.cast(batch, tf.float32)
                   * tf.reduce_sum(1.0 - rates))
        return masked, penalty
