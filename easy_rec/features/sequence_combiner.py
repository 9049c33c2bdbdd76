"""`sequence_combiner` of a SequenceFeature: how its element embeddings become one vector when
the feature is listed in an ordinary feature group (EasyRec's SequenceCombiner).

- ``attention {}``: a learned linear score per element, a softmax over the real elements,
  and the weighted sum of the elements: out = sum_t softmax_t(x_t w) x_t   ([batch, dim]).
- ``text_cnn { filter_sizes num_filters pad_sequence_length activation }``: Kim's TextCNN
  over the elements (easy_rec.layers.text_cnn)   ([batch, sum(num_filters)]).

Without a sequence_combiner the elements are pooled with the feature's `combiner`, like a
TagFeature (EasyRec refuses a SequenceFeature without one in an ordinary group).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import CheckContext
from easy_rec.layers.core import Dense
from easy_rec.layers.target_attention import masked_softmax
from easy_rec.layers.text_cnn import TextCNN
from easy_rec.protos import feature_config_pb2, layer_pb2

SequenceCombinerConfig = feature_config_pb2.SequenceCombiner


class AttentionCombiner(tf.Module):
    """EasyRec's `attention {}` combiner: softmax over the real elements of a linear score
    (no bias) of each element; the weighted sum of the elements. [batch, L, dim] -> [batch, dim]."""

    def __init__(self, dim: int, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.score = Dense(dim, 1, use_bias=False, name="score")
        self.output_dim = dim

    def __call__(self, sequence: tf.Tensor, mask: tf.Tensor, training: bool = False) -> tf.Tensor:
        del training
        weights = masked_softmax(tf.squeeze(self.score(sequence), -1), mask)
        return tf.einsum("bl,bld->bd", weights, sequence)


class TextCNNCombiner(tf.Module):
    """EasyRec's `text_cnn {...}` combiner: TextCNN over the element embeddings."""

    def __init__(self, dim: int, config: layer_pb2.TextCNN, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.text_cnn = TextCNN(dim, list(config.filter_sizes), list(config.num_filters),
                                    int(config.pad_sequence_length), config.activation or "relu",
                                    name="text_cnn")
        self.output_dim = self.text_cnn.output_dim

    def __call__(self, sequence: tf.Tensor, mask: tf.Tensor, training: bool = False) -> tf.Tensor:
        del mask
        return self.text_cnn(sequence, training=training)


def build_sequence_combiner(config: SequenceCombinerConfig, dim: int,
                            name: str) -> AttentionCombiner | TextCNNCombiner:
    """The combiner module of a `sequence_combiner` block over elements of width `dim`."""
    kind = config.WhichOneof("combiner")
    if kind == "attention":
        return AttentionCombiner(dim, name=name)
    if kind == "text_cnn":
        return TextCNNCombiner(dim, config.text_cnn, name=name)
    raise ValueError(f"sequence_combiner {kind!r} is not supported")


def check_sequence_combiner(ctx: CheckContext, config: SequenceCombinerConfig, where: str,
                            feature: str) -> None:
    """A combiner is chosen; text_cnn has one num_filters entry per filter_sizes entry, all
    positive, and no mlp (not implemented yet)."""
    kind = config.WhichOneof("combiner")
    if kind is None:
        ctx.fail(where, f"feature {feature!r}: sequence_combiner needs attention {{}} or "
                 "text_cnn {...}")
    if kind != "text_cnn":
        return
    cnn = config.text_cnn
    sizes, counts = list(cnn.filter_sizes), list(cnn.num_filters)
    if not sizes or len(sizes) != len(counts):
        ctx.fail(f"{where}.text_cnn", f"feature {feature!r}: text_cnn needs one num_filters "
                 f"entry per filter_sizes entry; got {len(sizes)} filter_sizes and "
                 f"{len(counts)} num_filters")
    if min(sizes + counts) < 1:
        ctx.fail(f"{where}.text_cnn", f"feature {feature!r}: text_cnn filter_sizes and "
                 "num_filters must be >= 1")
    if cnn.HasField("mlp"):
        ctx.fail(f"{where}.text_cnn.mlp", "mlp is not supported: an MLP after the TextCNN of a "
                 "sequence_combiner is not implemented yet (put a TextCNN with its mlp in a "
                 "backbone block, or an MLP on the feature group)")
