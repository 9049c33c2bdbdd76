"""DMR (Deep Match to Rank, Lyu et al. 2020)."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, SequenceGroup
from easy_rec.layers.additive_attention import AdditiveAttention
from easy_rec.layers.auxiliary_loss import in_batch_match_loss
from easy_rec.layers.core import Dense
from easy_rec.layers.position import PositionEmbedding, to_recency_order
from easy_rec.layers.target_attention import masked_softmax
from easy_rec.models.checks import require
from easy_rec.models.registry import register_model
from easy_rec.models.sequence_base import SequenceInterestModel
from easy_rec.models.sequence_towers import target_width
from easy_rec.protos import dmr_pb2, easy_rec_model_pb2


@register_model("DMR", dmr_pb2.DMR)
class DMR(SequenceInterestModel):
    """History e_t in recency order (t = 0 the most recent) with position embeddings p_t;
    target e_c; v(x) = W_v x the items' output embeddings (match_dim wide).

    User-to-item: alpha = softmax_t(z_u . tanh(W_u [e_t, p_t] + b_u)),
    u = leaky_relu(W_g sum_t alpha_t e_t + b_g), relevance r_u2i = u . v(e_c).
    Item-to-item: a_t = z_i . tanh(W_i [e_t, p_t, e_c] + b_i), relevance r_i2i = sum_t a_t,
    pooled interest sum_t softmax(a)_t e_t. dnn runs over [feature groups, r_u2i, r_i2i, pooled].

    Auxiliary match loss: the user representation of the history without its most recent
    behaviour should pick that behaviour's v(e_0) among the batch's (softmax, in-batch negatives).
    """

    def build_interest(self, feature_layer: FeatureLayer, group: str) -> int:
        dim = target_width(feature_layer, "DMR", group)
        max_len = feature_layer.sequence_dims(group)[2]
        params = self.params
        self.positions = PositionEmbedding(max_len, dim, name="positions")
        self.user_attention = AdditiveAttention(2 * dim, int(params.attention_dim),
                                                name="user_attention")
        self.item_attention = AdditiveAttention(3 * dim, int(params.attention_dim),
                                                name="item_attention")
        self.user_projection = Dense(dim, int(params.match_dim), name="user_projection")
        self.item_projection = Dense(dim, int(params.match_dim), use_bias=False,
                                     name="item_projection")
        return dim + 2

    def interest(self, seq: SequenceGroup, training: bool,
                 with_aux_loss: bool) -> tuple[tf.Tensor, tf.Tensor | None]:
        # reversing the real prefix of each row leaves the mask unchanged
        recent, mask = to_recency_order(seq.sequence, seq.length), seq.mask
        user = self.user_representation(recent, mask)
        u2i = tf.reduce_sum(user * self.item_projection(seq.query), axis=1, keepdims=True)
        length = recent.shape[1]
        target = tf.tile(seq.query[:, None, :], [1, length, 1])
        scores = self.item_attention(tf.concat([recent, self._positions(recent), target], axis=-1))
        i2i = tf.reduce_sum(scores * tf.cast(mask, scores.dtype), axis=1, keepdims=True)
        pooled = tf.einsum("bl,bld->bd", masked_softmax(scores, mask), recent)
        aux_loss = None
        if with_aux_loss:
            previous = self.user_representation(recent[:, 1:], mask[:, 1:])
            aux_loss = in_batch_match_loss(previous, self.item_projection(recent[:, 0]),
                                           seq.length >= 2, seq.length >= 1)
        return tf.concat([u2i, i2i, pooled], axis=1), aux_loss

    def user_representation(self, recent: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """[batch, match_dim] user vector of a recency-ordered history [batch, len, dim]."""
        scores = self.user_attention(tf.concat([recent, self._positions(recent)], axis=-1))
        pooled = tf.einsum("bl,bld->bd", masked_softmax(scores, mask), recent)
        return tf.nn.leaky_relu(self.user_projection(pooled))

    def _positions(self, recent: tf.Tensor) -> tf.Tensor:
        """Position embeddings p_0 .. p_{len-1} for each row: [batch, len, dim]."""
        table = self.positions.all()[:recent.shape[1]]
        return tf.tile(table[None], [tf.shape(recent)[0], 1, 1])

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        super().validate_config(model_config, locate)
        params = model_config.dmr
        require(params.attention_dim >= 1, "model_config.dmr.attention_dim",
                "attention_dim must be >= 1", locate)
        require(params.match_dim >= 1, "model_config.dmr.match_dim", "match_dim must be >= 1",
                locate)
