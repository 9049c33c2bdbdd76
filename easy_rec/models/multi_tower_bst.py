"""MultiTowerBST (BST, Chen et al. 2019): MultiTower plus Behavior Sequence Transformer towers."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer
from easy_rec.layers.core import get_activation
from easy_rec.layers.position import PositionEmbedding, to_recency_order
from easy_rec.layers.transformer import TransformerEncoder
from easy_rec.models.checks import require
from easy_rec.models.registry import register_model
from easy_rec.models.sequence_towers import SequenceTowerModel, target_width
from easy_rec.protos import bst_pb2, easy_rec_model_pb2, models_pb2


class BehaviorSequenceTransformer(tf.Module):
    """One BST tower: transformer blocks over [target, 1st most recent, ..., seq_len-th most
    recent] history elements, each plus its learned position embedding (position = recency;
    the target is the newest element, position 0). The outputs of all seq_len + 1 tokens are
    flattened (padded tokens contribute zeros): [batch, (seq_len + 1) * dim]."""

    def __init__(self, dim: int, max_len: int, config: bst_pb2.BSTTower, name: str | None = None):
        super().__init__(name=name)
        self.seq_len = int(config.seq_len) or max_len
        if self.seq_len > max_len:
            raise ValueError(f"BST tower {config.input!r}: seq_len {self.seq_len} exceeds the "
                             f"history's max_seq_len {max_len}")
        with self.name_scope:
            self.positions = PositionEmbedding(self.seq_len + 1, dim, name="positions")
            self.encoder = TransformerEncoder(
                dim, int(config.num_blocks), int(config.multi_head_size), int(config.hidden_size),
                int(config.ffn_hidden_size), float(config.dropout_ratio), config.activation,
                name="encoder")
        self.output_dim = (self.seq_len + 1) * dim

    def __call__(self, query: tf.Tensor, sequence: tf.Tensor, mask: tf.Tensor,
                 training: bool = False) -> tf.Tensor:
        """query [batch, dim], right-padded sequence [batch, max_len, dim], mask [batch,
        max_len] -> [batch, output_dim]."""
        length = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        recent = to_recency_order(sequence, length)[:, :self.seq_len]
        tokens = tf.concat([query[:, None, :], recent], axis=1) + self.positions.all()[None]
        # reversing the real prefix of each row leaves the mask unchanged
        token_mask = tf.concat([tf.ones_like(mask[:, :1]), mask[:, :self.seq_len]], axis=1)
        encoded = self.encoder(tokens, token_mask, training)
        return tf.reshape(encoded, [-1, self.output_dim])



@register_model("BST", models_pb2.MultiTower)
@register_model("MultiTowerBST", models_pb2.MultiTower)
class MultiTowerBST(SequenceTowerModel):
    """towers { input dnn } (MLP per feature group) + bst_towers { input seq_len
    multi_head_size ... } (one transformer per seq_att_groups entry) -> final_dnn."""

    sequence_towers_field = "bst_towers"

    def build_sequence_tower(self, feature_layer: FeatureLayer,
                             tower_config: bst_pb2.BSTTower) -> BehaviorSequenceTransformer:
        dim = target_width(feature_layer, "BST", tower_config.input)
        max_len = feature_layer.sequence_dims(tower_config.input)[2]
        width = tower_config.hidden_size or dim
        if width % tower_config.multi_head_size:
            raise ValueError(
                f"BST tower {tower_config.input!r}: the attention width {width} (hidden_size, "
                f"else the history embedding width) must be a multiple of multi_head_size "
                f"{tower_config.multi_head_size}")
        return BehaviorSequenceTransformer(dim, max_len, tower_config,
                                           name=f"bst_{tower_config.input}")

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        super().validate_config(model_config, locate)
        for i, tower in enumerate(model_config.multi_tower.bst_towers):
            where = f"model_config.multi_tower.bst_towers[{i}]"
            require(tower.multi_head_size >= 1, f"{where}.multi_head_size",
                    "multi_head_size must be >= 1", locate)
            require(tower.num_blocks >= 1, f"{where}.num_blocks", "num_blocks must be >= 1", locate)
            require(not tower.hidden_size or tower.hidden_size % tower.multi_head_size == 0,
                    f"{where}.hidden_size", f"hidden_size {tower.hidden_size} must be a multiple "
                    f"of multi_head_size {tower.multi_head_size}", locate)
            require(0.0 <= tower.dropout_ratio < 1.0, f"{where}.dropout_ratio",
                    "dropout_ratio must be in [0, 1)", locate)
            require(_is_activation(tower.activation), f"{where}.activation",
                    f"unknown activation {tower.activation!r}", locate)


def _is_activation(name: str) -> bool:
    try:
        get_activation(name)
    except ValueError:
        return False
    return True
