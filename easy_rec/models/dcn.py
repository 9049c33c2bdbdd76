"""DCN (Deep & Cross Network): a deep tower and a cross tower side by side, then a final MLP."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.config.errors import ConfigError
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.base import Layer
from easy_rec.layers.core import MLP, Dense, get_activation
from easy_rec.layers.cross import CrossNet, CrossStack
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require, require_field_group
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import dcn_pb2, easy_rec_model_pb2


@register_model("DCN", dcn_pb2.DCN)
class DCN(RankModel):
    """dcn { deep_tower { input dnn } cross_tower { input cross_num [version ...] } final_dnn
    l2_regularization }.

    logit = dense(final_dnn([MLP(deep group), cross(cross group)])). Version 1 (default): each
    cross layer computes x_{l+1} = x0 * (x_l . w_l) + b_l + x_l. Version 2 (DCN-v2):
    x_{l+1} = x0 * (act(W_l x_l + b_l) + diag_scale * x_l) + x_l with W_l full-rank or of rank
    projection_dim. As in EasyRec, l2_regularization covers the MLPs' kernels, not the cross
    weights or the output layer.
    """

    l2_exempt = ("output_layer", "cross")

    def build(self, feature_layer: FeatureLayer) -> None:
        deep, cross = self.params.deep_tower, self.params.cross_tower
        self._inputs = (deep.input, cross.input)
        self.deep = MLP(feature_layer.group_dim(deep.input), **mlp_kwargs(deep.dnn), name="deep")
        self.cross = cross_tower(feature_layer.group_dim(cross.input), cross)
        self.final_dnn = MLP(self.deep.output_dim + self.cross.output_dim,
                             **mlp_kwargs(self.params.final_dnn), name="final_dnn")
        self.output_layer = Dense(self.final_dnn.output_dim, self.output_dim, name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        deep_group, cross_group = self._inputs
        deep = self.deep(features.concat(deep_group), training)
        cross = self.cross(features.concat(cross_group))
        return self.output_layer(self.final_dnn(tf.concat([deep, cross], axis=1), training))

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        params = model_config.dcn
        for group in (params.deep_tower.input, params.cross_tower.input):
            require_field_group(model_config, group, 1, locate)
        tower, path = params.cross_tower, "model_config.dcn.cross_tower"
        require(tower.cross_num >= 1, f"{path}.cross_num", "cross_num must be >= 1", locate)
        require(tower.version in (1, 2), f"{path}.version",
                f"version must be 1 (DCN) or 2 (DCN-v2), got {tower.version}", locate)
        require(tower.diag_scale >= 0, f"{path}.diag_scale",
                f"diag_scale must be >= 0, got {tower.diag_scale}", locate)
        if tower.version == 2 and tower.preactivation:
            try:
                get_activation(tower.preactivation)
            except ValueError as error:
                raise ConfigError(str(error), line=locate(f"{path}.preactivation"),
                                  field=f"{path}.preactivation") from None


def cross_tower(dim: int, tower: dcn_pb2.CrossTower) -> Layer:
    """DCN's vector cross network (version 1) or a stack of DCN-v2 Cross layers (version 2);
    the DCN-v2 options are ignored by version 1, as in EasyRec."""
    if tower.version == 1:
        return CrossNet(dim, int(tower.cross_num), name="cross")
    return CrossStack(dim, int(tower.cross_num), projection_dim=int(tower.projection_dim),
                      diag_scale=float(tower.diag_scale), use_bias=tower.use_bias,
                      preactivation=tower.preactivation or None, name="cross")
