"""MultiTowerDIN (DIN, Zhou et al. 2018): MultiTower plus target-attention towers over histories."""
from __future__ import annotations

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer
from easy_rec.layers.target_attention import NORMALIZERS, TargetAttention
from easy_rec.models.checks import require
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.models.sequence_towers import SequenceTowerModel, target_width
from easy_rec.protos import easy_rec_model_pb2, models_pb2


@register_model("DIN", models_pb2.MultiTower)
@register_model("MultiTowerDIN", models_pb2.MultiTower)
class MultiTowerDIN(SequenceTowerModel):
    """towers { input dnn } (MLP per feature group) + din_towers { input dnn } (one per
    seq_att_groups entry: the history pooled by attention to the target keys) -> final_dnn."""

    sequence_towers_field = "din_towers"

    def build_sequence_tower(self, feature_layer: FeatureLayer,
                             tower_config: models_pb2.DINTower) -> TargetAttention:
        dim = target_width(feature_layer, "DIN", tower_config.input)
        return TargetAttention(dim, mlp_kwargs(tower_config.dnn),
                               tower_config.attention_normalizer, name=f"din_{tower_config.input}")

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        super().validate_config(model_config, locate)
        for i, tower in enumerate(model_config.multi_tower.din_towers):
            require(tower.attention_normalizer in NORMALIZERS,
                    f"model_config.multi_tower.din_towers[{i}].attention_normalizer",
                    f"attention_normalizer must be one of {', '.join(NORMALIZERS)}", locate)
