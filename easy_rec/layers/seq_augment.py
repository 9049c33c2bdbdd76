"""Sequence augmentation for contrastive learning: crop, mask or reorder each sequence.

Reference: Xie et al., "Contrastive Learning for Sequential Recommendation" (CL4SRec),
ICDE 2022, https://arxiv.org/abs/2010.14395 (EasyRec's `SeqAugment` component, and
`SeqAugmentOps`, the same augmentation as a custom op).

Each sequence of n real elements (padding after them) gets one of three augmentations, chosen
uniformly at random per sequence:

    crop:    keep a random contiguous window of floor(n * crop_rate) elements, moved to the
             front (the rest zero); the length becomes that window's
    mask:    replace floor(n * mask_rate) random elements by a learned mask embedding
    reorder: shuffle a random contiguous window of floor(n * reorder_rate) elements

Like EasyRec's, the layer augments whenever it is called (training or not); in CL4SRec it only
feeds the contrastive loss.

Shapes: sequence [batch, len, dim] and lengths [batch] -> (sequence [batch, len, dim],
lengths [batch] int32).
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.field_interaction import glorot_uniform
from easy_rec.layers.registry import register_layer

Augmented = tuple[tf.Tensor, tf.Tensor]


def _count(length: tf.Tensor, rate: float) -> tf.Tensor:
    """floor(length * rate) per row, computed in float32 as EasyRec does."""
    return tf.cast(tf.floor(tf.cast(length, tf.float32) * rate), tf.int32)


def _window_start(length: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """A uniform random start in [0, length - size) per row, as EasyRec draws it (so a window
    shorter than the row never ends at its last element); 0 when the window fills the row."""
    room = tf.cast(length - size, tf.float32)
    start = tf.floor(tf.random.uniform(tf.shape(length)) * room)
    return tf.minimum(tf.cast(start, tf.int32), tf.maximum(length - size - 1, 0))


@register_layer("SeqAugmentOps")
@register_layer("SeqAugment")
class SeqAugment(Layer):
    """One random augmentation (crop / mask / reorder) per sequence; see the module docstring."""

    def __init__(self, embedding_dim: int, mask_rate: float = 0.6, crop_rate: float = 0.2,
                 reorder_rate: float = 0.6, name: str | None = None):
        super().__init__(name=name)
        for rate_name, rate in (("mask_rate", mask_rate), ("crop_rate", crop_rate),
                                ("reorder_rate", reorder_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{rate_name} must be in [0, 1], got {rate}")
        self._mask_rate = mask_rate
        self._crop_rate = crop_rate
        self._reorder_rate = reorder_rate
        with self.name_scope:
            self.mask_embedding = tf.Variable(glorot_uniform([1, embedding_dim])[0], name="mask")

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> SeqAugment:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2:
            raise params.error("SeqAugment takes [sequence embedding, sequence length]")
        return cls(int(input_shape[0][-1]), mask_rate=params.get("mask_rate", 0.6),
                   crop_rate=params.get("crop_rate", 0.2),
                   reorder_rate=params.get("reorder_rate", 0.6), name=name)

    def crop(self, sequence: tf.Tensor, length: tf.Tensor) -> Augmented:
        size = _count(length, self._crop_rate)
        start = _window_start(length, size)
        positions = tf.range(tf.shape(sequence)[1])[None, :]
        source = tf.minimum(start[:, None] + positions, tf.shape(sequence)[1] - 1)
        kept = tf.gather(sequence, source, batch_dims=1)
        return tf.where((positions < size[:, None])[:, :, None], kept, 0.0), size

    def mask(self, sequence: tf.Tensor, length: tf.Tensor) -> Augmented:
        count = _count(length, self._mask_rate)
        positions = tf.range(tf.shape(sequence)[1])[None, :]
        scores = tf.where(positions < length[:, None],
                          tf.random.uniform(tf.shape(sequence)[:2]), 2.0)  # padding last
        rank = tf.argsort(tf.argsort(scores, axis=1), axis=1)
        masked = (rank < count[:, None])[:, :, None]
        return tf.where(masked, self.mask_embedding, sequence), length

    def reorder(self, sequence: tf.Tensor, length: tf.Tensor) -> Augmented:
        size = _count(length, self._reorder_rate)
        start = _window_start(length, size)[:, None]
        positions = tf.range(tf.shape(sequence)[1])[None, :]
        inside = (positions >= start) & (positions < start + size[:, None])
        # sort keys: positions outside the window keep their place; inside it they get random
        # keys in [start, start + size), so sorting shuffles exactly the window
        random_keys = (tf.cast(start, tf.float32)
                       + tf.random.uniform(tf.shape(sequence)[:2])
                       * tf.cast(size[:, None], tf.float32))
        keys = tf.where(inside, random_keys, tf.cast(positions, tf.float32))
        return tf.gather(sequence, tf.argsort(keys, axis=1, stable=True), batch_dims=1), length

    def __call__(self, inputs: Sequence[tf.Tensor], training: bool = False) -> Augmented:
        """inputs [sequence [batch, len, dim], lengths [batch]] -> (sequence, lengths)."""
        sequence = tf.convert_to_tensor(inputs[0])
        length = tf.reshape(tf.cast(inputs[1], tf.int32), [-1])
        method = tf.random.uniform(tf.shape(length), maxval=3, dtype=tf.int32)
        (cropped, cropped_length), (masked, _), (reordered, _) = (
            self.crop(sequence, length), self.mask(sequence, length),
            self.reorder(sequence, length))
        pick = method[:, None, None]
        output = tf.where(pick == 0, cropped, tf.where(pick == 1, masked, reordered))
        return output, tf.where(method == 0, cropped_length, length)
