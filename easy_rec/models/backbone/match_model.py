"""MatchModel: a two-tower retrieval model whose towers are backbone outputs (EasyRec's
model_class MatchModel).

The backbone's output_blocks are the towers: model_params.user_tower_idx_in_output (0) and
item_tower_idx_in_output (1) pick the user and the item embedding. Each tower is computed from
the feature groups it reads only, so the exported user_embedding / item_embedding signatures
take only their own columns. Similarity, temperature (COSINE only, as in EasyRec), scale_simi, losses (pointwise CLASSIFICATION or
in-batch / sampled SOFTMAX_CROSS_ENTROPY) and outputs are those of every matching model
(match_base.py).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.models.backbone.input_layer import paired_feature_groups
from easy_rec.models.backbone.network import BACKBONE_PATH, Backbone
from easy_rec.models.backbone.rank_model import require_backbone
from easy_rec.models.backbone.spec import MAIN, BackboneError, analyse, groups_read
from easy_rec.models.checks import require
from easy_rec.models.match_base import MatchModel
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2


def tower_indices(model_config: easy_rec_model_pb2.EasyRecModel) -> dict[str, int]:
    """{'user': index, 'item': index} of the towers among the backbone's output_blocks."""
    params = model_config.model_params
    return {"user": params.user_tower_idx_in_output, "item": params.item_tower_idx_in_output}


@register_model("MatchModel", easy_rec_model_pb2.ModelParams)
class BackboneMatchModel(MatchModel):
    """model_config { model_class: "MatchModel" backbone { ... output_blocks: [user, item] }
    model_params { simi_func temperature ... } }."""

    reads_backbone = True
    #: EasyRec's backbone MatchModel divides COSINE similarities only by the temperature
    temperature_for_cosine_only = True

    @property
    def paired_groups(self) -> tuple[str, ...]:
        return paired_feature_groups(self.model_config)

    def scales_similarity(self) -> bool:
        return bool(self.params.scale_simi)

    def build(self, feature_layer: FeatureLayer) -> None:
        self.backbone = Backbone(self.model_config.backbone, feature_layer)
        self._index = tower_indices(self.model_config)
        shapes = self.backbone.output_shape
        widths = {tower: shapes[i][-1] for tower, i in self._index.items()}
        if widths["user"] != widths["item"]:
            raise BackboneError(f"{BACKBONE_PATH}.output_blocks", f"the user tower's width "
                                f"{widths['user']} differs from the item tower's {widths['item']}")
        self.user_groups = tuple(self.backbone.groups_for_output(self._index["user"]))
        self.item_groups = tuple(self.backbone.groups_for_output(self._index["item"]))

    def user_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self.backbone.output_at(features, training, self._index["user"])

    def item_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self.backbone.output_at(features, training, self._index["item"])

    @classmethod
    def tower_groups(cls, model_config: easy_rec_model_pb2.EasyRecModel
                     ) -> dict[str, tuple[str, ...]]:
        groups = [g.group_name for g in model_config.feature_groups]
        specs = analyse(model_config.backbone, groups)
        outputs = specs[MAIN].outputs
        return {tower: tuple(groups_read(specs, MAIN, [outputs[i]]))
                for tower, i in tower_indices(model_config).items()}

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_backbone(model_config, locate)
        super().validate_config(model_config, locate)
        backbone = model_config.backbone
        outputs = len(backbone.output_blocks)
        for tower, index in tower_indices(model_config).items():
            require(0 <= index < outputs, f"model_config.model_params.{tower}_tower_idx_in_output",
                    f"the {tower} tower is output {index} of the backbone, which has "
                    f"{outputs} output_blocks (the towers' blocks)", locate)
        require(not model_config.model_params.outputs, "model_config.model_params.outputs",
                "a MatchModel exports its towers' embeddings and similarity; EasyRec's MatchModel "
                "fails on extra outputs (RankModel and MultiTaskModel export them)", locate)
        require(not backbone.HasField("top_mlp"), f"{BACKBONE_PATH}.top_mlp",
                "a MatchModel's towers are output_blocks; top_mlp would merge them", locate)
