"""DSSM_SENet: DSSM whose towers first re-weight their feature embeddings by
squeeze-and-excitation (Hu et al. 2018), as EasyRec's DSSM_SENet."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.base import Layer
from easy_rec.layers.field_excitation import FieldExcitation
from easy_rec.layers.match import EmbeddingTower
from easy_rec.models.checks import require, require_groups
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.match_base import MatchModel, check_tower_sizes
from easy_rec.models.registry import register_model
from easy_rec.protos import dssm_senet_pb2, easy_rec_model_pb2

TOWERS = ("user", "item")


class SENetTower(Layer):
    """FieldExcitation over a group's feature embeddings, then an EmbeddingTower."""

    def __init__(self, field_dims: list[int], config: dssm_senet_pb2.DSSM_SENet_Tower,
                 name: str):
        super().__init__(name=name)
        with self.name_scope:
            self.senet = FieldExcitation(field_dims, int(config.senet.reduction_ratio),
                                         int(config.senet.num_squeeze_group), name="senet")
            self.tower = EmbeddingTower(self.senet.output_dim, **mlp_kwargs(config.dnn),
                                        name="dnn")

    def __call__(self, fields: list[tf.Tensor], training: bool) -> tf.Tensor:
        return self.tower(self.senet(fields), training)


@register_model("DSSM_SENet", dssm_senet_pb2.DSSM_SENet)
class DSSM_SENet(MatchModel):  # noqa: N801  (EasyRec's model_class name)
    """Groups 'user' and 'item' (DEEP). Each tower: FieldExcitation over its group's feature
    embeddings -> MLP whose last hidden_units entry is the (linear) embedding size."""

    temperature_for_cosine_only = True

    def build(self, feature_layer: FeatureLayer) -> None:
        for name in TOWERS:
            names, _ = feature_layer.groups[name]
            dims = [feature_layer.feature_dim(n) for n in names]
            setattr(self, f"{name}_tower",
                    SENetTower(dims, getattr(self.params, f"{name}_tower"), f"{name}_tower"))

    def user_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self.user_tower(features.deep["user"], training)

    def item_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self.item_tower(features.deep["item"], training)

    def scales_similarity(self) -> bool:
        return bool(self.params.scale_simi)

    @classmethod
    def id_fields(cls, model_config: easy_rec_model_pb2.EasyRecModel) -> dict[str, tuple[str, str]]:
        params = model_config.dssm_senet
        ids = {"user": ("model_config.dssm_senet.user_tower.id", params.user_tower.id),
               "item": ("model_config.dssm_senet.item_tower.id", params.item_tower.id)}
        if params.item_id:
            ids["item"] = ("model_config.dssm_senet.item_id", params.item_id)
        return {k: v for k, v in ids.items() if v[1]}

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_groups(model_config, list(TOWERS), locate)
        super().validate_config(model_config, locate)
        check_tower_sizes(model_config, locate)
        params = model_config.dssm_senet
        for name in TOWERS:
            senet = getattr(params, f"{name}_tower").senet
            path = f"model_config.dssm_senet.{name}_tower.senet"
            require(senet.reduction_ratio >= 1, f"{path}.reduction_ratio",
                    "reduction_ratio must be >= 1", locate)
            require(senet.num_squeeze_group >= 1, f"{path}.num_squeeze_group",
                    "num_squeeze_group must be >= 1 (every feature's embedding_dim must be "
                    "divisible by it)", locate)

