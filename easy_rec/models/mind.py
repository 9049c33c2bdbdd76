"""MIND (Multi-Interest Network with Dynamic Routing, Li et al. 2019): a multi-interest user
tower over the behaviour history and an item tower MLP."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers import match
from easy_rec.layers.capsule import CapsuleRouting, label_aware_attention
from easy_rec.layers.core import MLP
from easy_rec.layers.match import EmbeddingTower
from easy_rec.models.checks import (
    require,
    require_groups,
    require_sequence_group,
    sequence_group_name,
)
from easy_rec.models.layer_args import capsule_kwargs, mlp_kwargs
from easy_rec.models.match_base import MatchModel
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, mind_pb2

USER_GROUP = "user"
ITEM_GROUP = "item"


@register_model("MIND", mind_pb2.MIND)
class MIND(MatchModel):
    """User tower: the sequence group's behaviours [-> pre_capsule_dnn] -> dynamic routing to
    K capsules; each capsule, concatenated with the profile (group 'user' [-> user_dnn]),
    passes concat_dnn -> [batch, K, dim] interests. Item tower: item_dnn over group 'item'.

    A user with K' < K interests (adaptive count) repeats its first interest in the remaining
    slots, so the best-interest score and interest-wise retrieval see only real interests.
    Training scores each row with the label-aware attention of its own item over the K'
    interests; evaluation and serving take the best interest.
    """

    item_groups = (ITEM_GROUP,)

    def build(self, feature_layer: FeatureLayer) -> None:
        params = self.params
        self._group = sequence_group_name(self.model_config, params)
        has_profile = USER_GROUP in feature_layer.groups
        self.user_groups = (USER_GROUP, self._group) if has_profile else (self._group,)
        _, hists = feature_layer.sequence_groups[self._group]
        self._history = feature_layer.features[hists[0]]
        _, seq_dim, max_len = feature_layer.sequence_dims(self._group)
        self.pre_capsule_dnn = MLP(seq_dim, **mlp_kwargs(params.pre_capsule_dnn),
                                   name="pre_capsule_dnn") \
            if params.HasField("pre_capsule_dnn") else None
        low_dim = self.pre_capsule_dnn.output_dim if self.pre_capsule_dnn else seq_dim
        self.capsules = CapsuleRouting(low_dim, max_len, **capsule_kwargs(params.capsule_config),
                                       name="capsules")
        self.user_dnn = None
        profile_dim = 0
        if has_profile:
            profile_dim = feature_layer.group_dim(USER_GROUP)
            if params.HasField("user_dnn"):
                self.user_dnn = MLP(profile_dim, **mlp_kwargs(params.user_dnn), name="user_dnn")
                profile_dim = self.user_dnn.output_dim
        self.concat_dnn = EmbeddingTower(self.capsules.high_dim + profile_dim,
                                         **mlp_kwargs(params.concat_dnn), name="concat_dnn")
        self.item_tower = EmbeddingTower(feature_layer.group_dim(ITEM_GROUP),
                                         **mlp_kwargs(params.item_dnn), name="item_tower")

    # -- towers ------------------------------------------------------------------------------
    def user_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        seq = features.sequence[self._group]
        behaviours = seq.sequence
        if self.pre_capsule_dnn is not None:
            flat = tf.reshape(behaviours, [-1, behaviours.shape[-1]])
            behaviours = tf.reshape(self.pre_capsule_dnn(flat, training),
                                    [tf.shape(behaviours)[0], -1, self.pre_capsule_dnn.output_dim])
        capsules, active = self.capsules(behaviours, seq.length)
        k = self.capsules.max_k
        if USER_GROUP in self.user_groups:
            profile = features.concat(USER_GROUP)
            if self.user_dnn is not None:
                profile = self.user_dnn(profile, training)
            capsules = tf.concat([capsules, tf.tile(profile[:, None, :], [1, k, 1])], axis=-1)
        flat = tf.reshape(capsules, [-1, capsules.shape[-1]])
        interests = tf.reshape(self.concat_dnn(flat, training), [-1, k, self.concat_dnn.output_dim])
        return tf.where(active[:, :, None], interests, interests[:, :1])

    def item_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self.item_tower(features.concat(ITEM_GROUP), training)

    def __call__(self, raw: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        outputs = super().__call__(raw, training)
        if training:
            # label-aware attention: each row's user vector attends to its own item
            active = self.capsules.active(self._history.encode(raw).ids.row_lengths())
            user = match.normalize(label_aware_attention(
                outputs["user_emb"], outputs["item_emb"], active, float(self.params.simi_pow)),
                self.cosine)
            outputs.update(self.pair_outputs(match.pair_scores(user, outputs["item_emb"])),
                           user_emb=user)
        return outputs

    # -- config ------------------------------------------------------------------------------
    @classmethod
    def id_fields(cls, model_config: easy_rec_model_pb2.EasyRecModel) -> dict[str, tuple[str, str]]:
        params = model_config.mind
        ids = {"item": ("model_config.mind.item_id", params.item_id)}
        if params.user_id:
            ids["user"] = ("model_config.mind.user_id", params.user_id)
        return ids

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        params = model_config.mind
        require_groups(model_config, [ITEM_GROUP], locate)
        name = require_sequence_group(model_config, params, locate)
        super().validate_config(model_config, locate)
        index = [g.group_name for g in model_config.seq_att_groups].index(name)
        require(all(not m.key for m in model_config.seq_att_groups[index].seq_att_map),
                f"model_config.seq_att_groups[{index}]", "MIND's sequence group is the user's "
                "behaviour history: list hist_seq only (no key; the item is in group 'item')",
                locate)
        capsule = params.capsule_config
        for field in ("max_k", "high_dim", "num_iters"):
            require(getattr(capsule, field) >= 1, f"model_config.mind.capsule_config.{field}",
                    f"{field} must be >= 1", locate)
        require(params.simi_pow > 0, "model_config.mind.simi_pow", "simi_pow must be > 0", locate)
        sizes = {f: list(getattr(params, f).hidden_units) for f in ("concat_dnn", "item_dnn")}
        for field, units in sizes.items():
            require(bool(units), f"model_config.mind.{field}.hidden_units",
                    f"{field} needs hidden_units (the last is the embedding size)", locate)
        require(sizes["concat_dnn"][-1] == sizes["item_dnn"][-1],
                "model_config.mind.item_dnn.hidden_units",
                f"the embedding sizes (last hidden_units) of concat_dnn and item_dnn must be "
                f"equal; got {sizes['concat_dnn'][-1]} and {sizes['item_dnn'][-1]}", locate)
