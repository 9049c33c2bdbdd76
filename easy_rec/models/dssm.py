"""DSSM (Huang et al. 2013): a user tower and an item tower, each an MLP over its feature
group, compared by cosine or inner product."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.base import split_values
from easy_rec.features.categorical import as_strings
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.match import EmbeddingTower
from easy_rec.models.checks import require, require_groups
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.match_base import MatchModel, check_tower_sizes
from easy_rec.models.registry import register_model
from easy_rec.protos import dssm_pb2, easy_rec_model_pb2

TOWERS = ("user", "item")


@register_model("DSSM", dssm_pb2.DSSM)
class DSSM(MatchModel):
    """Groups 'user' and 'item' (DEEP); user_tower / item_tower hold each tower's id column and
    MLP, whose last hidden_units entry is the (linear) embedding size. Logits are
    (u . v / temperature) * |w| + b with learned w, b (scale_simi, on by default as in EasyRec);
    temperature applies to COSINE only. hist_seq_masks names SequenceFeatures / TagFeatures
    of the user group holding the user's past item ids: with SOFTMAX_CROSS_ENTROPY those items
    are no negatives of the row (masked among in-batch and sampled candidates)."""

    temperature_for_cosine_only = True

    def build(self, feature_layer: FeatureLayer) -> None:
        self.user_tower = EmbeddingTower(feature_layer.group_dim("user"),
                                         **mlp_kwargs(self.params.user_tower.dnn),
                                         name="user_tower")
        self.item_tower = EmbeddingTower(feature_layer.group_dim("item"),
                                         **mlp_kwargs(self.params.item_tower.dnn),
                                         name="item_tower")

    def scales_similarity(self) -> bool:
        return bool(self.params.scale_simi)

    def history_ids(self, batch: dict[str, tf.Tensor]) -> tf.RaggedTensor | None:
        """The item ids of the hist_seq_masks features (their columns split on their
        separators), concatenated per row."""
        names = list(self.params.hist_seq_masks)
        if not names:
            return None
        configs = [self.feature_layer.features[n].config for n in names]
        parts = [split_values(as_strings(batch[c.input_names[0]]), c.separator) for c in configs]
        return tf.concat(parts, axis=1) if len(parts) > 1 else parts[0]

    def user_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self.user_tower(features.concat("user"), training)

    def item_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self.item_tower(features.concat("item"), training)

    @classmethod
    def id_fields(cls, model_config: easy_rec_model_pb2.EasyRecModel) -> dict[str, tuple[str, str]]:
        """The towers' ids; dssm.item_id, when set, names the item id instead (EasyRec uses it
        to mask sampled negatives equal to a row's item)."""
        ids = {name: (f"model_config.dssm.{name}_tower.id",
                      getattr(model_config.dssm, f"{name}_tower").id) for name in TOWERS}
        if model_config.dssm.item_id:
            ids["item"] = ("model_config.dssm.item_id", model_config.dssm.item_id)
        return ids

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_groups(model_config, list(TOWERS), locate)
        super().validate_config(model_config, locate)
        user = next(g for g in model_config.feature_groups if g.group_name == "user")
        for i, name in enumerate(model_config.dssm.hist_seq_masks):
            require(name in user.feature_names, f"model_config.dssm.hist_seq_masks[{i}]",
                    f"{name!r} must be a feature of group 'user' (a history of item ids)", locate)
        check_tower_sizes(model_config, locate)
