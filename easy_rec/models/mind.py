"""MIND (Multi-Interest Network with Dynamic Routing, Li et al. 2019): a multi-interest user
tower over the behaviour history and an item tower MLP."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers import match
from easy_rec.layers.capsule import CapsuleRouting, label_aware_attention, time_weights
from easy_rec.layers.core import MLP, BatchNorm
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
#: EasyRec's behaviour group: a feature group of SequenceFeatures, read as sequences
HIST_GROUP = "hist"
#: the time feature of group 'hist' EasyRec used before time_id_fea existed
LEGACY_TIME_FEATURE = "time_id"


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

    @property
    def unpooled_groups(self) -> tuple[str, ...]:
        """EasyRec's form: feature group 'hist' read as sequences (dropped when absent)."""
        return (HIST_GROUP,)

    def build(self, feature_layer: FeatureLayer) -> None:
        params = self.params
        self._hist_form = HIST_GROUP in feature_layer.groups
        self._group = HIST_GROUP if self._hist_form else \
            sequence_group_name(self.model_config, params)
        has_profile = USER_GROUP in feature_layer.groups
        self.user_groups = (USER_GROUP, self._group) if has_profile else (self._group,)
        if self._hist_form:
            seq_dim, max_len = self._hist_layout(feature_layer)
            self._history = feature_layer.features[self._behaviours[0]]
        else:
            _, hists = feature_layer.sequence_groups[self._group]
            self._history = feature_layer.features[hists[0]]
            _, seq_dim, max_len = feature_layer.sequence_dims(self._group)
        self.pre_capsule_dnn = MLP(seq_dim, **mlp_kwargs(params.pre_capsule_dnn),
                                   name="pre_capsule_dnn") \
            if params.pre_capsule_dnn.hidden_units else None
        low_dim = self.pre_capsule_dnn.output_dim if self.pre_capsule_dnn else seq_dim
        self.capsules = CapsuleRouting(low_dim, max_len, **capsule_kwargs(params.capsule_config),
                                       name="capsules")
        # without concat_dnn (EasyRec's configs before it existed) user_dnn is the MLP on
        # [capsule, profile embeddings], as EasyRec's MIND was then
        legacy = not params.concat_dnn.hidden_units
        self.user_dnn = self.profile_bn = None
        profile_dim = 0
        if has_profile:
            profile_dim = feature_layer.group_dim(USER_GROUP)
            if not legacy:  # as EasyRec's MIND: batch norm, then user_dnn, on the profile
                self.profile_bn = BatchNorm(profile_dim, name="user_fea_bn")
            if params.user_dnn.hidden_units and not legacy:
                self.user_dnn = MLP(profile_dim, **mlp_kwargs(params.user_dnn), name="user_dnn")
                profile_dim = self.user_dnn.output_dim
        self.concat_dnn = EmbeddingTower(
            self.capsules.high_dim + profile_dim,
            **mlp_kwargs(params.user_dnn if legacy else params.concat_dnn), name="concat_dnn")
        self.item_tower = EmbeddingTower(feature_layer.group_dim(ITEM_GROUP),
                                         **mlp_kwargs(params.item_dnn), name="item_tower")

    def _hist_layout(self, feature_layer: FeatureLayer) -> tuple[int, int]:
        """(behaviour width, padded length) of group 'hist'; sets the behaviour features and
        the time feature (time_id_fea, or, as EasyRec before that field, a feature named
        time_id) from the group's features."""
        names = feature_layer.groups[HIST_GROUP][0]
        time_name = self.params.time_id_fea or (LEGACY_TIME_FEATURE
                                                 if LEGACY_TIME_FEATURE in names else "")
        self._time_feature = time_name if time_name in names else None
        self._behaviours = [n for n in names if n != self._time_feature]
        dims = {n: feature_layer.feature_dim(n) for n in names}
        lengths = {n: feature_layer.features[n].max_len for n in names}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"MIND: the features of group 'hist' need one max_seq_len, got "
                             f"{lengths}")
        if self._time_feature is not None and dims[self._time_feature] != 1:
            raise ValueError(f"MIND: time feature {self._time_feature!r} needs embedding_dim 1, "
                             f"got {dims[self._time_feature]}")
        widths = [dims[n] for n in self._behaviours]
        if not widths:
            raise ValueError("MIND: group 'hist' needs a behaviour feature besides the time one")
        if self._sums_sequences:
            if len(set(widths)) != 1:
                raise ValueError(
                    "MIND: user_seq_combine SUM averages the features of group 'hist', so "
                    f"they need one embedding_dim, got {dict(zip(self._behaviours, widths))} "
                    "(use CONCAT, or name the time feature in time_id_fea)")
            return widths[0], lengths[names[0]]
        return sum(widths), lengths[names[0]]

    @property
    def _sums_sequences(self) -> bool:
        return self.params.user_seq_combine == mind_pb2.MIND.SUM

    # -- towers ------------------------------------------------------------------------------
    def _behaviour_sequence(self, features: FeatureLayerOutput, training: bool
                            ) -> tuple[tf.Tensor, tf.Tensor]:
        """(behaviours [batch, len, dim] after pre_capsule_dnn and time weights, lengths)."""
        if self._hist_form:
            values = dict(zip(self.feature_layer.groups[HIST_GROUP][0],
                              features.unpooled[HIST_GROUP]))
            parts = [values[n].values for n in self._behaviours]
            behaviours = (tf.add_n(parts) / len(parts) if self._sums_sequences
                          else tf.concat(parts, axis=-1))
            length = values[self._behaviours[0]].length
        else:
            seq = features.sequence[self._group]
            behaviours, length = seq.sequence, seq.length
        if self.pre_capsule_dnn is not None:
            flat = tf.reshape(behaviours, [-1, behaviours.shape[-1]])
            behaviours = tf.reshape(self.pre_capsule_dnn(flat, training),
                                    [tf.shape(behaviours)[0], -1, self.pre_capsule_dnn.output_dim])
        if self._hist_form and self._time_feature is not None:
            behaviours *= time_weights(values[self._time_feature].values,
                                       values[self._behaviours[0]].mask)
        return behaviours, length

    def user_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        behaviours, length = self._behaviour_sequence(features, training)
        capsules, active = self.capsules(behaviours, length)
        k = self.capsules.max_k
        if USER_GROUP in self.user_groups:
            profile = features.concat(USER_GROUP)
            if self.profile_bn is not None:
                profile = self.profile_bn(profile, training)
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
    def scales_similarity(self) -> bool:
        return bool(self.params.scale_simi)

    @classmethod
    def id_fields(cls, model_config: easy_rec_model_pb2.EasyRecModel) -> dict[str, tuple[str, str]]:
        params = model_config.mind
        ids = {}
        if params.item_id:
            ids["item"] = ("model_config.mind.item_id", params.item_id)
        if params.user_id:
            ids["user"] = ("model_config.mind.user_id", params.user_id)
        return ids

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        params = model_config.mind
        require_groups(model_config, [ITEM_GROUP], locate)
        groups = {g.group_name: g for g in model_config.feature_groups}
        if HIST_GROUP not in groups:
            name = require_sequence_group(model_config, params, locate)
            index = [g.group_name for g in model_config.seq_att_groups].index(name)
            require(all(not m.key for m in model_config.seq_att_groups[index].seq_att_map),
                    f"model_config.seq_att_groups[{index}]", "MIND's sequence group is the "
                    "user's behaviour history: list hist_seq only (no key; the item is in group "
                    "'item')", locate)
        if params.time_id_fea:
            require(HIST_GROUP in groups and
                    params.time_id_fea in groups[HIST_GROUP].feature_names,
                    "model_config.mind.time_id_fea", f"time_id_fea {params.time_id_fea!r} must "
                    "be a feature of feature group 'hist'", locate)
        super().validate_config(model_config, locate)
        capsule = params.capsule_config
        for field in ("max_k", "high_dim", "num_iters"):
            require(getattr(capsule, field) >= 1, f"model_config.mind.capsule_config.{field}",
                    f"{field} must be >= 1", locate)
        require(params.simi_pow > 0, "model_config.mind.simi_pow", "simi_pow must be > 0", locate)
        # without concat_dnn, user_dnn is the MLP on [capsule, profile] (EasyRec's older form)
        user_field = "concat_dnn" if params.concat_dnn.hidden_units else "user_dnn"
        sizes = {f: list(getattr(params, f).hidden_units) for f in (user_field, "item_dnn")}
        for field, units in sizes.items():
            require(bool(units), f"model_config.mind.{field}.hidden_units",
                    f"{field} needs hidden_units (the last is the embedding size)", locate)
        require(sizes[user_field][-1] == sizes["item_dnn"][-1],
                "model_config.mind.item_dnn.hidden_units",
                f"the embedding sizes (last hidden_units) of {user_field} and item_dnn must be "
                f"equal; got {sizes[user_field][-1]} and {sizes['item_dnn'][-1]}", locate)
