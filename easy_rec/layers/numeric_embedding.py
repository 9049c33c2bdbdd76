"""What the numeric-feature embeddings (PeriodicEmbedding, AutoDisEmbedding, NaryDisEmbedding)
share: the input check and EasyRec's three output forms.

Each embeds N numeric features, a [batch, N] tensor, into per-feature vectors [batch, N, D].
The block output is the flat [batch, N * D] tensor; with output_tensor_list also the list of
the N [batch, D] vectors (as `(flat, list)`, e.g. for an FM over them), with output_3d_tensor
(and not output_tensor_list) also the [batch, N, D] tensor (as `(flat, tensor)`).
"""
from __future__ import annotations

import tensorflow as tf

NumericOutput = tf.Tensor | tuple[tf.Tensor, list[tf.Tensor]] | tuple[tf.Tensor, tf.Tensor]


def num_features(input_shape: tf.TensorShape, layer: str) -> int:
    """N of a [batch, N] numeric input (ValueError for any other rank)."""
    shape = tf.TensorShape(input_shape)
    if shape.rank != 2 or shape[-1] is None:
        raise ValueError(f"{layer} takes a [batch, num_features] tensor, got shape {shape}")
    return int(shape[-1])


def numeric_outputs(embeddings: tf.Tensor, output_tensor_list: bool,
                    output_3d_tensor: bool) -> NumericOutput:
    """[batch, N, D] embeddings -> flat [batch, N * D], plus the list or 3-D form if asked."""
    n, d = embeddings.shape[1], embeddings.shape[2]
    flat = tf.reshape(embeddings, [-1, n * d])
    if output_tensor_list:
        return flat, tf.unstack(embeddings, axis=1)
    if output_3d_tensor:
        return flat, embeddings
    return flat
