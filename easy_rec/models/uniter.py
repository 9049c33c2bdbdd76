"""UNITER (Chen et al., "UNITER: UNiversal Image-TExt Representation Learning", ECCV 2020,
https://arxiv.org/abs/1909.11740), as EasyRec's Uniter ranking model.

One transformer encodes a [CLS] token followed by the image tokens, the general features and
the text sequences, each segment with its token-type embedding (and positions for image and
text); the [CLS] output, with the 'other' group, feeds the final MLP.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.base import Layer
from easy_rec.layers.core import MLP, Dense, get_activation
from easy_rec.layers.multimodal import SegmentEmbedding
from easy_rec.layers.position import PositionEmbedding
from easy_rec.layers.transformer import TransformerEncoder
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.multimodal_inputs import (
    OtherFeatures,
    check_modality_groups,
    modality_shapes,
    tokens,
)
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, uniter_pb2


class UniterFusion(Layer):
    """The encoder of EasyRec's Uniter layer, from the modality groups to [batch,
    output_dim] = [CLS output, other]; Uniter's body and DBMTL's bottom_uniter.

    Groups (at least one): 'image' (RawFeatures of image embeddings, one token each),
    'general' (embedded features of one width, one token each), 'text' (SequenceFeatures of one
    width) and 'other'. Tokens are projected to hidden_size where their width differs.

    Token types (used when there are several segments or several image / text features):
    image 0, general next, then one per text feature. Positions: one table for the image
    tokens and one per text feature (use_position_embeddings), max_position_embeddings rows.
    The [CLS] vector, token-type and position tables start truncated-normal with
    initializer_range.
    """

    def __init__(self, feature_layer: FeatureLayer, config: uniter_pb2.UniterTower,
                 name: str = "uniter"):
        super().__init__(name=name)
        with self.name_scope:
            self._build(feature_layer, config)

    def _build(self, feature_layer: FeatureLayer, config: uniter_pb2.UniterTower) -> None:
        shapes = modality_shapes(feature_layer, "Uniter")
        hidden = int(config.hidden_size)
        stddev = float(config.initializer_range)
        dropout = float(config.hidden_dropout_prob)
        text_count = len(shapes.text_lengths)
        segments = [bool(shapes.image_count), bool(shapes.general_count), bool(text_count)]
        types = text_count + int(bool(shapes.image_count)) + int(bool(shapes.general_count))
        use_types = sum(segments) > 1 or text_count > 1 or shapes.image_count > 1
        self.token_types = (PositionEmbedding(types, hidden, stddev, name="token_types")
                            if use_types else None)
        positions = int(config.max_position_embeddings) if config.use_position_embeddings else 0
        if positions and text_count and positions < max(shapes.text_lengths):
            raise ValueError(f"Uniter: max_position_embeddings ({positions}) must be >= the "
                             f"longest text max_seq_len ({max(shapes.text_lengths)})")

        def projection(width: int, name: str) -> Dense | None:
            return Dense(width, hidden, name=name) if width and width != hidden else None

        self.image_projection = projection(shapes.image_width, "image_projection")
        self.image_segment = (SegmentEmbedding(hidden, positions, stddev, dropout, name="image")
                              if shapes.image_count else None)
        self.general_projection = projection(shapes.general_width, "general_projection")
        self.general_segment = (SegmentEmbedding(hidden, 0, stddev, dropout, name="general")
                                if shapes.general_count else None)
        self.text_projections = [projection(shapes.text_width, f"text_projection_{i}")
                                 for i in range(text_count)]
        self.text_segments = [SegmentEmbedding(hidden, positions, stddev, dropout,
                                               name=f"text_{i}") for i in range(text_count)]
        width = 0
        if any(segments):
            self.cls = tf.Variable(tf.random.truncated_normal([hidden], stddev=stddev), name="cls")
            self.encoder = TransformerEncoder(
                hidden, int(config.num_hidden_layers), int(config.num_attention_heads), hidden,
                int(config.intermediate_size), dropout, config.hidden_act,
                float(config.attention_probs_dropout_prob), normalize_input=False,
                name="encoder")
            width = hidden
        self.other = None
        if shapes.other_width:
            self.other = OtherFeatures(shapes.other_width, config.other_feature_dnn
                                       if config.HasField("other_feature_dnn") else None)
            width += self.other.output_dim
        self.output_dim = width

    def _segments(self, features: FeatureLayerOutput, training: bool
                  ) -> tuple[list[tf.Tensor], list[tf.Tensor]]:
        """(token segments [batch, n, hidden], their masks) in encoder order after [CLS]."""
        types = self.token_types.all() if self.token_types is not None else None
        next_type = 0
        parts, masks = [], []

        def add(x: tf.Tensor, projection: Dense | None, segment: SegmentEmbedding,
                mask: tf.Tensor | None) -> None:
            nonlocal next_type
            if projection is not None:
                x = projection(x)
            token_type = types[next_type] if types is not None else None
            next_type += 1
            parts.append(segment(x, token_type, training))
            masks.append(mask if mask is not None else tf.ones(tf.shape(x)[:2], tf.bool))

        if self.image_segment is not None:
            add(tokens(features, "image"), self.image_projection, self.image_segment, None)
        if self.general_segment is not None:
            add(tokens(features, "general"), self.general_projection, self.general_segment, None)
        for seq, projection, segment in zip(features.unpooled.get("text", []),
                                            self.text_projections, self.text_segments):
            add(seq.values, projection, segment, seq.mask)
        return parts, masks

    def __call__(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        parts = []
        segments, masks = self._segments(features, training)
        if segments:
            batch = tf.shape(segments[0])[0]
            cls = tf.tile(self.cls[None, None, :], [batch, 1, 1])
            x = tf.concat([cls, *segments], axis=1)
            mask = tf.concat([tf.ones([batch, 1], tf.bool), *masks], axis=1)
            parts.append(self.encoder(x, mask, training)[:, 0, :])
        if self.other is not None:
            parts.append(self.other(features, training))
        return tf.concat(parts, axis=1)


@register_model("Uniter", uniter_pb2.Uniter)
class Uniter(RankModel):
    """UniterFusion of the modality groups -> final_dnn -> logits."""

    unpooled_groups = ("text",)

    def build(self, feature_layer: FeatureLayer) -> None:
        self.fusion = UniterFusion(feature_layer, self.params.config)
        self.final_dnn = MLP(self.fusion.output_dim, **mlp_kwargs(self.params.final_dnn),
                             name="final_dnn")
        self.output_layer = Dense(self.final_dnn.output_dim, self.output_dim, name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self.output_layer(self.final_dnn(self.fusion(features, training), training))

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require(len(model_config.uniter.final_dnn.hidden_units) > 0,
                "model_config.uniter.final_dnn.hidden_units", "final_dnn needs hidden_units",
                locate)
        check_uniter_tower(model_config, model_config.uniter.config, "model_config.uniter.config",
                           locate)


def check_uniter_tower(model_config: easy_rec_model_pb2.EasyRecModel,
                       config: uniter_pb2.UniterTower, where: str, locate: Locate) -> None:
    """ConfigError unless the Uniter settings at `where` fit the model's modality groups."""
    check_modality_groups(model_config, locate)
    groups = {g.group_name for g in model_config.feature_groups}
    if not groups & {"image", "general", "text"}:
        return
    for field in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                  "intermediate_size"):
        require(getattr(config, field) >= 1, f"{where}.{field}", f"{field} must be >= 1",
                locate)
    try:
        get_activation(config.hidden_act)
    except ValueError as error:
        require(False, f"{where}.hidden_act", str(error), locate)
    require(config.hidden_size % config.num_attention_heads == 0, f"{where}.hidden_size",
            f"hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
            f"({config.num_attention_heads})", locate)
    if "text" in groups and config.use_position_embeddings:
        require(config.max_position_embeddings > 0, f"{where}.max_position_embeddings",
                "use_position_embeddings (default true) needs max_position_embeddings > 0",
                locate)

