"""PDN (Li et al., "Path-based Deep Network for Candidate Item Matching in Recommenders",
SIGIR 2021, https://arxiv.org/abs/2105.08246), as EasyRec's PDN.

The relevance of a target item to a user sums two-hop paths user -> trigger item -> target
over the user's triggers (the items the user interacted with, oldest first):

    t_k = exp(TriggerNet(u2i_dnn([u2i_k, i_k]) + user_dnn(user)))        user's interest in trigger k
    s_k = exp(SimNet([c_k, c_k, i2i_k, v]))   with v = item_dnn(item), c_k = i2i_dnn(i_k) * v
    r   = sum_k t_k s_k  [+ softplus(direct)] [+ softplus(bias_dnn(bias))]
    probs = 1 - exp(-r)

where u2i_k, i_k, i2i_k are trigger k's embeddings in the sequence groups u2i_seq (the user's
behaviour on the trigger), i_seq (the trigger's own features) and i2i_seq (trigger -> target
statistics), and the optional direct net is a two-tower similarity of direct_user_dnn(user) and
direct_item_dnn(item) (cosine for COSINE, scaled by learned |w|, b with scale_simi).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers import match
from easy_rec.layers.core import MLP
from easy_rec.layers.match import EmbeddingTower
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require, require_groups
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, loss_pb2, match_pb2, pdn_pb2

SEQUENCES = ("u2i_seq", "i_seq", "i2i_seq")
#: probabilities are kept in [EPSILON, 1 - EPSILON] so that their logits are finite
EPSILON = 1e-7


@register_model("PDN", pdn_pb2.PDN)
class PDN(RankModel):
    """Groups 'user' and 'item' (DEEP), the sequence groups 'u2i_seq', 'i_seq', 'i2i_seq'
    (SequenceFeatures of the same triggers, read unpooled) and, with bias_dnn, 'bias'.
    trigger_dnn, sim_dnn and bias_dnn end in one linear unit; u2i_dnn and user_dnn, and
    i2i_dnn and item_dnn, end in the same width. Outputs also `trigger_out` and `sim_out`
    ([batch, triggers], 0 on padding)."""

    unpooled_groups = SEQUENCES

    def build(self, feature_layer: FeatureLayer) -> None:
        params = self.params
        widths = {}
        lengths = set()
        for group in SEQUENCES:
            dims = feature_layer.unpooled_dims(group)
            widths[group] = sum(d for d, _ in dims)
            lengths |= {n for _, n in dims}
        if len(lengths) != 1:
            raise ValueError(f"PDN: the SequenceFeatures of {', '.join(SEQUENCES)} describe the "
                             f"same triggers and need one max_seq_len; got {sorted(lengths)}")
        self.user_dnn = MLP(feature_layer.group_dim("user"), **mlp_kwargs(params.user_dnn),
                            name="user_dnn")
        self.item_dnn = MLP(feature_layer.group_dim("item"), **mlp_kwargs(params.item_dnn),
                            name="item_dnn")
        self.u2i_dnn = MLP(widths["u2i_seq"] + widths["i_seq"], **mlp_kwargs(params.u2i_dnn),
                           name="u2i_dnn")
        self.trigger_dnn = EmbeddingTower(self.u2i_dnn.output_dim,
                                          **mlp_kwargs(params.trigger_dnn), name="trigger_dnn")
        self.i2i_dnn = MLP(widths["i_seq"], **mlp_kwargs(params.i2i_dnn), name="i2i_dnn")
        self.sim_dnn = EmbeddingTower(
            2 * self.i2i_dnn.output_dim + widths["i2i_seq"] + self.item_dnn.output_dim,
            **mlp_kwargs(params.sim_dnn), name="sim_dnn")
        for a, b in ((self.u2i_dnn, self.user_dnn), (self.i2i_dnn, self.item_dnn)):
            if a.output_dim != b.output_dim:
                raise ValueError(f"PDN: {a.name} and {b.name} must end in the same width; got "
                                 f"{a.output_dim} and {b.output_dim}")
        self.direct = None
        if params.HasField("direct_user_dnn") and params.HasField("direct_item_dnn"):
            self.direct = (
                EmbeddingTower(feature_layer.group_dim("user"),
                               **mlp_kwargs(params.direct_user_dnn), name="direct_user_dnn"),
                EmbeddingTower(feature_layer.group_dim("item"),
                               **mlp_kwargs(params.direct_item_dnn), name="direct_item_dnn"))
            self.direct_scale = (match.SimilarityScale(name="direct_scale")
                                 if params.scale_simi else None)
        self.bias_dnn = (EmbeddingTower(feature_layer.group_dim("bias"),
                                        **mlp_kwargs(params.bias_dnn), name="bias_dnn")
                         if params.HasField("bias_dnn") else None)

    def path_scores(self, features: FeatureLayerOutput, training: bool
                    ) -> tuple[tf.Tensor, tf.Tensor]:
        """(trigger scores t, similarity scores s), each [batch, triggers], 0 on padding."""
        seqs = {g: features.unpooled[g] for g in SEQUENCES}
        mask = seqs["u2i_seq"][0].mask
        values = {g: tf.concat([v.values for v in seqs[g]], axis=-1) for g in SEQUENCES}
        user = self.user_dnn(features.concat("user"), training)
        item = self.item_dnn(features.concat("item"), training)
        trigger = positionwise(self.u2i_dnn, tf.concat([values["u2i_seq"], values["i_seq"]], -1),
                               training) + user[:, None, :]
        trigger_out = tf.exp(positionwise(self.trigger_dnn, trigger, training))[:, :, 0]
        cross = positionwise(self.i2i_dnn, values["i_seq"], training) * item[:, None, :]
        target = tf.tile(item[:, None, :], [1, tf.shape(cross)[1], 1])
        sim_in = tf.concat([cross, cross, values["i2i_seq"], target], axis=-1)
        sim_out = tf.exp(positionwise(self.sim_dnn, sim_in, training))[:, :, 0]
        valid = tf.cast(mask, tf.float32)
        return trigger_out * valid, sim_out * valid

    def relevance(self, features: FeatureLayerOutput, training: bool
                  ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(r [batch] >= 0, trigger_out, sim_out)."""
        trigger_out, sim_out = self.path_scores(features, training)
        relevance = tf.reduce_sum(trigger_out * sim_out, axis=1)
        if self.direct is not None:
            user_tower, item_tower = self.direct
            cosine = self.params.simi_func == match_pb2.COSINE
            user = match.normalize(user_tower(features.concat("user"), training), cosine)
            item = match.normalize(item_tower(features.concat("item"), training), cosine)
            direct = match.pair_scores(user, item)
            if self.direct_scale is not None:
                direct = self.direct_scale(direct)
            relevance += tf.nn.softplus(direct)
        if self.bias_dnn is not None:
            relevance += tf.nn.softplus(self.bias_dnn(features.concat("bias"), training)[:, 0])
        return relevance, trigger_out, sim_out

    def task_outputs(self, features: FeatureLayerOutput, training: bool) -> dict[str, tf.Tensor]:
        relevance, trigger_out, sim_out = self.relevance(features, training)
        probs = tf.clip_by_value(-tf.math.expm1(-relevance), EPSILON, 1.0 - EPSILON)
        logits = tf.math.log(probs) - tf.math.log1p(-probs)
        return {"logits": logits, "probs": probs, "trigger_out": trigger_out, "sim_out": sim_out}

    def serving_outputs(self, outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        served = super().serving_outputs(outputs)
        served.update(trigger_out=outputs["trigger_out"], sim_out=outputs["sim_out"])
        return served

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        params = model_config.pdn
        require_groups(model_config, ["user", "item", *SEQUENCES], locate)
        if params.HasField("bias_dnn"):
            require_groups(model_config, ["bias"], locate)
        require(model_config.loss_type == loss_pb2.CLASSIFICATION and model_config.num_class <= 1,
                "model_config.loss_type", "PDN predicts a click probability: loss_type "
                "CLASSIFICATION, num_class 1", locate)
        for field in ("user_dnn", "item_dnn", "u2i_dnn", "i2i_dnn"):
            require(len(getattr(params, field).hidden_units) > 0,
                    f"model_config.pdn.{field}.hidden_units", f"{field} needs hidden_units",
                    locate)
        for field in ("trigger_dnn", "sim_dnn", "bias_dnn"):
            units = getattr(params, field).hidden_units
            require(field == "bias_dnn" and not params.HasField(field)
                    or (len(units) > 0 and units[-1] == 1),
                    f"model_config.pdn.{field}.hidden_units",
                    f"{field} outputs one score per path: its last hidden_units entry must be "
                    "1", locate)
        require(params.HasField("direct_user_dnn") == params.HasField("direct_item_dnn"),
                "model_config.pdn.direct_user_dnn", "the direct net needs both direct_user_dnn "
                "and direct_item_dnn", locate)
        if params.HasField("direct_user_dnn"):
            sizes = [getattr(params, f).hidden_units[-1:] for f in
                     ("direct_user_dnn", "direct_item_dnn")]
            require(sizes[0] and sizes[0] == sizes[1], "model_config.pdn.direct_item_dnn",
                    "direct_user_dnn and direct_item_dnn need hidden_units ending in the same "
                    "width", locate)


def positionwise(layer: MLP | EmbeddingTower, x: tf.Tensor, training: bool) -> tf.Tensor:
    """Applies a [n, d] -> [n, k] layer to every position of [batch, len, d] -> [batch, len, k]."""
    shape = tf.shape(x)
    out = layer(tf.reshape(x, [-1, x.shape[-1]]), training)
    return tf.reshape(out, [shape[0], shape[1], out.shape[-1]])
