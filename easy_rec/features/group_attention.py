"""`sequence_features` of a feature group (EasyRec's SeqAttGroupConfig inside a
FeatureGroupConfig): DIN target attention whose result joins the group's output.

Reference: Zhou et al., "Deep Interest Network for Click-Through Rate Prediction", KDD 2018,
https://arxiv.org/abs/1706.06978.

With q the keys' embeddings concatenated ([batch, Dq]) and h_t the hist_seq embeddings of
element t concatenated ([batch, L, Dh]):

    s_t = seq_dnn([q, h_t, q - h_t, q * h_t]),   a = softmax of s over the real elements
    out = [sum_t a_t h_t,  sum_t a_t x_t for every aux_hist_seq x,  q]

q is left out with need_key_feature: false or only_sequence_feature: true (the pooled history
alone). With seq_model: "self_attention" the histories first pass one head of masked
self-attention with a residual connection (the sequence's elements see each other before the
target attends to them):

    h'_t = h_t + sum_u softmax_u((h_t Wq)(h_u Wk) / sqrt(Dh)) h_u Wv      (u over real elements)

and h' replaces h in the scores and the pooling (aux_hist_seq are pooled as they are). The output comes as a list of fields: the pooled
history split per hist_seq feature, each pooled aux_hist_seq, then the keys (one field per key
feature, or one field when keys are padded / transformed), so models that treat a group's
outputs as fields of one width (AutoInt) see each part, as EasyRec's AutoInt does. seq_dnn defaults to hidden_units [128, 64, 32, 1];
its last layer is linear (a final 1-unit layer is the score; otherwise a linear layer maps
the last hidden layer to the score). q and h_t must have one width, unless
allow_key_transform: a narrower q is zero-padded to Dh, or (transform_dnn, or a wider q) q and
every h_t pass a linear layer of width Dh.

Shapes: query [batch, Dq], sequence [batch, L, Dh], mask [batch, L], aux [batch, L, D_i]
-> [batch, output_dim].
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.attention import MultiHeadSelfAttention
from easy_rec.layers.core import Dense
from easy_rec.layers.target_attention import TargetAttention, pool
from easy_rec.protos import dnn_pb2, feature_config_pb2

SeqAttGroupConfig = feature_config_pb2.SeqAttGroupConfig
#: seq_dnn when a sequence_features entry sets none (EasyRec's default)
DEFAULT_SEQ_DNN = (128, 64, 32, 1)
#: values of seq_model: "" (target attention on the histories as embedded) or self-attention first
SEQ_MODELS = ("", "self_attention")


def attention_members(config: SeqAttGroupConfig) -> tuple[list[str], list[str], list[str]]:
    """(keys, hist_seq, aux_hist_seq) feature names over all seq_att_map entries, in order."""
    maps = config.seq_att_map
    return ([k for m in maps for k in m.key], [h for m in maps for h in m.hist_seq],
            [a for m in maps for a in m.aux_hist_seq])


def key_width_problem(config: SeqAttGroupConfig, key_dim: int, hist_dim: int) -> str | None:
    """Why keys of width key_dim cannot attend to histories of width hist_dim, or None."""
    if key_dim == hist_dim or config.allow_key_transform:
        return None
    return (f"its keys are {key_dim} wide and its histories {hist_dim}; make the embedding_dims "
            "agree or set allow_key_transform: true")


class GroupAttention(tf.Module):
    """Target attention of one `sequence_features` entry; see the module docstring."""

    def __init__(self, config: SeqAttGroupConfig, key_dims: Sequence[int],
                 hist_dims: Sequence[int], aux_dims: Sequence[int] = (), name: str | None = None):
        super().__init__(name=name)
        key_dim, hist_dim = sum(key_dims), sum(hist_dims)
        problem = key_width_problem(config, key_dim, hist_dim)
        if problem:
            raise ValueError(f"sequence_features {config.group_name!r}: {problem}")
        self.group_name = config.group_name
        self.keys, self.hists, self.aux = attention_members(config)
        self.tf_summary = bool(config.tf_summary)
        self.need_key_feature = bool(config.need_key_feature) and not config.only_sequence_feature
        if config.seq_model not in SEQ_MODELS:
            raise ValueError(f"sequence_features {config.group_name!r}: seq_model must be one of "
                             f"{SEQ_MODELS}, got {config.seq_model!r}")
        self.pad_key = 0
        self.key_transform = self.hist_transform = None
        with self.name_scope:
            self.self_attention = MultiHeadSelfAttention(
                hist_dim, 1, hist_dim, name="self_attention") \
                if config.seq_model == "self_attention" else None
            if key_dim != hist_dim:
                if hist_dim > key_dim and not config.transform_dnn:
                    self.pad_key = hist_dim - key_dim
                else:
                    self.key_transform = Dense(key_dim, hist_dim, name="key_transform")
                    self.hist_transform = Dense(hist_dim, hist_dim, name="hist_transform")
            self.attention = TargetAttention(hist_dim, _score_mlp(config), name="attention")
        self._hist_split = [hist_dim] if self.key_transform is not None else list(hist_dims)
        self._key_split = list(key_dims) if key_dim == hist_dim else [hist_dim]
        #: widths of the output fields, in order
        self.field_dims = (self._hist_split + list(aux_dims)
                           + (self._key_split if self.need_key_feature else []))
        self.output_dim = sum(self.field_dims)

    def __call__(self, query: tf.Tensor, sequence: tf.Tensor, mask: tf.Tensor,
                 aux: Sequence[tf.Tensor] = (), training: bool = False) -> list[tf.Tensor]:
        """The output fields ([batch, field_dims[i]] each)."""
        if self.self_attention is not None:
            sequence += self.self_attention(sequence, mask, training=training)
        if self.pad_key:
            query = tf.pad(query, [[0, 0], [0, self.pad_key]])
        if self.key_transform is not None:
            query = self.key_transform(query)
            sequence = self.hist_transform(sequence)
        weights = self.attention.attention_weights(query, sequence, mask, training)
        fields = tf.split(pool(weights, sequence), self._hist_split, axis=-1)
        fields += [pool(weights, x) for x in aux]
        if self.need_key_feature:
            fields += tf.split(query, self._key_split, axis=-1)
        return fields


def _score_mlp(config: SeqAttGroupConfig) -> dict:
    """MLP arguments of the hidden layers of seq_dnn (its last 1-unit layer is the linear
    score TargetAttention adds)."""
    dnn = config.seq_dnn if config.HasField("seq_dnn") else dnn_pb2.DNN(
        hidden_units=DEFAULT_SEQ_DNN)
    hidden, dropout = list(dnn.hidden_units), list(dnn.dropout_ratio)
    if hidden and hidden[-1] == 1:
        if len(dropout) == len(hidden) > 1:
            dropout = dropout[:-1]
        hidden = hidden[:-1]
    return {"hidden_units": hidden, "activation": dnn.activation, "use_bn": dnn.use_bn,
            "dropout_ratio": dropout}
