"""MultiTower with sequence towers: the shared part of MultiTowerDIN and MultiTowerBST."""
from __future__ import annotations

import tensorflow as tf
from google.protobuf.message import Message

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers import shared_rows
from easy_rec.layers.core import MLP, Dense
from easy_rec.models.base import RankModel
from easy_rec.models.checks import (
    require,
    require_groups,
    require_sequence_groups,
    warn_ignored_sequence_towers,
)
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.multi_tower import group_tower
from easy_rec.protos import easy_rec_model_pb2


class SequenceTowerModel(RankModel):
    """multi_tower { towers { input dnn } ... <sequence towers> { input ... } final_dnn }.

    Each `towers` entry is an MLP over a feature group; each sequence tower (read from the
    multi_tower field named by `sequence_towers_field`) summarises a seq_att_groups entry. All
    tower outputs are concatenated into final_dnn and the output layer. A subclass sets
    `sequence_towers_field` and builds one tower per entry in `build_sequence_tower`.
    """

    #: the multi_tower field listing the sequence towers, e.g. 'din_towers'
    sequence_towers_field = ""

    def build(self, feature_layer: FeatureLayer) -> None:
        self._tower_inputs = [t.input for t in self.params.towers]
        self.towers = [MLP(feature_layer.group_dim(t.input), **mlp_kwargs(t.dnn),
                           name=f"tower_{t.input}") for t in self.params.towers]
        configs = getattr(self.params, self.sequence_towers_field)
        self._sequence_inputs = [t.input for t in configs]
        self.sequence_towers = [self.build_sequence_tower(feature_layer, t) for t in configs]
        width = sum(t.output_dim for t in self.towers + self.sequence_towers)
        self.final_dnn = MLP(width, **mlp_kwargs(self.params.final_dnn), name="final_dnn")
        self.output_layer = Dense(self.final_dnn.output_dim, self.output_dim, name="output")

    def build_sequence_tower(self, feature_layer: FeatureLayer, tower_config: Message) -> tf.Module:
        """A module with `output_dim` and `__call__(query, sequence, mask,
        training) -> [batch, output_dim]` over the seq_att_groups entry `tower_config.input`."""
        raise NotImplementedError

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        parts = [group_tower(features, tower, group, training)
                 for tower, group in zip(self.towers, self._tower_inputs)]
        for tower, group in zip(self.sequence_towers, self._sequence_inputs):
            seq = features.sequence[group]
            parts.append(tower(seq.query, seq.sequence, seq.mask, training))
        return self.output_layer(self.final_dnn(shared_rows.concat(parts, axis=1), training))

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        params = model_config.multi_tower
        field = cls.sequence_towers_field
        require(bool(getattr(params, field)), "model_config.multi_tower",
                f"{model_config.model_class} needs at least one {field} block", locate)
        warn_ignored_sequence_towers(model_config, field)
        require_groups(model_config, [t.input for t in params.towers], locate)
        require_sequence_groups(model_config, [t.input for t in getattr(params, field)], locate)


def target_width(feature_layer: FeatureLayer, model_class: str, group: str) -> int:
    """Width shared by the keys (target) and the histories of sequence group `group`; a
    ValueError explains how to pair them when they differ (called while building)."""
    query_dim, seq_dim, _ = feature_layer.sequence_dims(group)
    if query_dim != seq_dim:
        raise ValueError(
            f"{model_class} sequence group {group!r}: the keys' embeddings ({query_dim} wide) "
            f"must be as wide as the histories' ({seq_dim}); pair each key with a hist_seq of "
            "the same embedding_dim")
    return seq_dim
