"""DPIN (Deep Position-wise Interaction Network, Huang et al. 2021).

The paper scores an ad at every display position at once: a position-free base module, a
deep position-wise interaction module (for each position k, the user's behaviours at k,
combined with the position embedding p_k and the context, then a transformer across the
positions) and a position-wise combination module (one MLP shared by all positions over
[base, r_k, p_k]). Here a behaviour's position is its recency in the history (0 = the most
recent), so position k holds the one behaviour k steps before the row's item.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.position import PositionEmbedding, to_recency_order
from easy_rec.layers.target_attention import TargetAttention
from easy_rec.layers.transformer import TransformerEncoder
from easy_rec.models.base import RankModel
from easy_rec.models.checks import (
    require,
    require_groups,
    require_sequence_group,
    sequence_group_name,
)
from easy_rec.models.layer_args import mlp_kwargs, transformer_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import dpin_pb2, easy_rec_model_pb2, feature_config_pb2, pipeline_pb2


@register_model("DPIN", dpin_pb2.DPIN)
class DPIN(RankModel):
    """Feature groups -> base_dnn; the sequence group -> position-wise representations r_k;
    logit_k = w . combination_dnn([base, r_k, p_k]).

    The row's logit is logit_k at its position k (`position_field`, else `default_position`).
    Training computes only that one; evaluation and serving compute every position, returned
    as `position_probs` / `position_logits` ([batch, num_positions]).
    """

    def build(self, feature_layer: FeatureLayer) -> None:
        params = self.params
        self._group = sequence_group_name(self.model_config, params)
        self._base_groups = [g for g, (_, kind) in feature_layer.groups.items()
                             if kind != feature_config_pb2.WIDE]
        query_dim, seq_dim, self.num_positions = feature_layer.sequence_dims(self._group)
        hidden = int(params.hidden_size)
        position_dim = int(params.position_embedding_dim)
        base_dim = sum(feature_layer.group_dim(g) for g in self._base_groups)
        self.history_attention = None
        if params.HasField("history_attention_dnn"):
            if query_dim != seq_dim:
                raise ValueError(
                    f"DPIN history_attention_dnn: the keys of sequence group {self._group!r} "
                    f"({query_dim} wide) must be as wide as its histories ({seq_dim})")
            self.history_attention = TargetAttention(
                seq_dim, mlp_kwargs(params.history_attention_dnn), name="history_attention")
            base_dim += seq_dim
        self.base_dnn = MLP(base_dim, **mlp_kwargs(params.base_dnn), name="base_dnn")
        self.position_embedding = PositionEmbedding(self.num_positions, position_dim,
                                                    name="position_embedding")
        self._context = params.context_group or None
        context_dim = feature_layer.group_dim(self._context) if self._context else 0
        # position-wise non-linear interaction of the behaviour at k with p_k and the context
        self.position_input = Dense(seq_dim + position_dim + context_dim, hidden,
                                    name="position_input")
        self.position_transformer = TransformerEncoder(
            hidden, **transformer_kwargs(params.position_transformer), name="position_transformer")
        self.combination_dnn = MLP(self.base_dnn.output_dim + hidden + position_dim,
                                   **mlp_kwargs(params.combination_dnn), name="combination_dnn")
        self.output_layer = Dense(self.combination_dnn.output_dim, 1, name="output")

    @property
    def serving_input_names(self) -> list[str]:
        names = self.feature_layer.input_names
        field = self.params.position_field
        return names + [field] if field and field not in names else names

    def position_representations(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        """[batch, num_positions, hidden_size] r_k; zero where position k has no behaviour."""
        seq = features.sequence[self._group]
        behaviours = to_recency_order(seq.sequence, seq.length)
        mask = tf.sequence_mask(seq.length, self.num_positions)
        inputs = [behaviours, self._tiled_positions(tf.shape(behaviours)[0])]
        if self._context:
            context = features.concat(self._context)
            inputs.append(tf.tile(context[:, None, :], [1, self.num_positions, 1]))
        inputs = tf.concat(inputs, axis=-1)
        hidden = tf.nn.relu(self.position_input(inputs)) * tf.cast(mask, tf.float32)[:, :, None]
        return self.position_transformer(hidden, mask, training)

    def base_module(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        """[batch, base_dnn width]: base_dnn over the feature groups (and, with
        history_attention_dnn, the history pooled by target attention)."""
        inputs = [features.concat(g) for g in self._base_groups]
        if self.history_attention is not None:
            seq = features.sequence[self._group]
            inputs.append(self.history_attention(seq.query, seq.sequence, seq.mask, training))
        return self.base_dnn(tf.concat(inputs, axis=1), training)

    def combine(self, base: tf.Tensor, represented: tf.Tensor, positions: tf.Tensor,
                training: bool) -> tf.Tensor:
        """Position-wise combination: base [batch, base_dim], represented r [batch, n, hidden]
        and position embeddings [batch, n, position_dim] of n positions -> logits [batch, n]."""
        n = tf.shape(represented)[1]
        inputs = tf.concat([tf.tile(base[:, None, :], [1, n, 1]), represented, positions], -1)
        flat = tf.reshape(inputs, [-1, inputs.shape[-1]])
        logits = self.output_layer(self.combination_dnn(flat, training))
        return tf.reshape(logits, [-1, n])

    def __call__(self, raw: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        features = self.feature_layer(raw, training=training)
        base = self.base_module(features, training)
        represented = self.position_representations(features, training)
        row_position = self._row_positions(raw, tf.shape(base)[0])
        if training:
            # only each row's own position has a label: score just that one
            own = row_position[:, None]
            logits = self.combine(base, tf.gather(represented, own, batch_dims=1),
                                  self.position_embedding(own), training)
            outputs = self.outputs_from_logits(logits[:, 0])
        else:
            every = self.combine(base, represented, self._tiled_positions(tf.shape(base)[0]),
                                 training)
            outputs = self.outputs_from_logits(tf.gather(every, row_position, batch_dims=1))
            outputs.update(position_logits=every, position_probs=tf.sigmoid(every))
        outputs["embedding_l2"] = features.embedding_l2
        return outputs

    def _tiled_positions(self, batch: tf.Tensor) -> tf.Tensor:
        """[batch, num_positions, position_embedding_dim] embeddings of every position."""
        return tf.tile(self.position_embedding.all()[None], [batch, 1, 1])

    def _row_positions(self, raw: dict[str, tf.Tensor], batch: tf.Tensor) -> tf.Tensor:
        """[batch] int32 position of each row: its position_field value, else default_position
        (clipped to the positions there are)."""
        field = self.params.position_field
        if field:
            position = tf.cast(tf.reshape(raw[field], [-1]), tf.int32)
        else:
            position = tf.fill([batch], int(self.params.default_position))
        return tf.clip_by_value(position, 0, self.num_positions - 1)

    def serving_outputs(self, outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        served = super().serving_outputs(outputs)
        served.update(position_probs=outputs["position_probs"],
                      position_logits=outputs["position_logits"])
        return served

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        params = model_config.dpin
        group = require_sequence_group(model_config, params, locate)
        if params.context_group:
            require_groups(model_config, [params.context_group], locate)
        index = [g.group_name for g in model_config.seq_att_groups].index(group)
        require(not params.HasField("history_attention_dnn") or any(
            m.key for m in model_config.seq_att_groups[index].seq_att_map),
            "model_config.dpin.history_attention_dnn", "history_attention_dnn attends from the "
            f"candidate item: give sequence group {group!r} keys (seq_att_map.key)", locate)
        require(model_config.num_class <= 1, "model_config.num_class",
                "DPIN predicts one click probability per position (num_class 1)", locate)
        require(params.hidden_size > 0 and params.position_embedding_dim > 0,
                "model_config.dpin.hidden_size",
                "hidden_size and position_embedding_dim must be > 0", locate)
        heads = params.position_transformer.num_attention_heads
        require(heads > 0 and params.hidden_size % heads == 0,
                "model_config.dpin.position_transformer.num_attention_heads",
                f"hidden_size {params.hidden_size} must be a multiple of num_attention_heads "
                f"{heads}", locate)
        require(params.position_transformer.num_hidden_layers > 0,
                "model_config.dpin.position_transformer.num_hidden_layers",
                "num_hidden_layers must be >= 1", locate)

    @classmethod
    def validate_pipeline(cls, config: pipeline_pb2.EasyRecConfig, locate: Locate) -> None:
        field = config.model_config.dpin.position_field
        inputs = {f.input_name for f in config.data_config.input_fields}
        require(not field or field in inputs, "model_config.dpin.position_field",
                f"position_field {field!r} is not one of data_config.input_fields", locate)
