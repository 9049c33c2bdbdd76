"""CMBF (Chen et al., "CMBF: Cross-Modal-Based Fusion Recommendation Algorithm", Sensors 2021,
https://www.mdpi.com/1424-8220/21/16/5275), as EasyRec's CMBF.

Image tokens and text tokens each pass their own self-attention encoder, then a cross-modal
tower in which each modality attends to the other; the pooled image tokens, the text tokens
(general features one by one, each text sequence averaged) and the 'other' group feed the
final MLP.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.config.errors import ConfigError
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.base import Layer
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.multimodal import CrossModalTower, SegmentEmbedding
from easy_rec.layers.position import PositionEmbedding
from easy_rec.layers.transformer import TransformerEncoder
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.multimodal_inputs import (
    ModalityShapes,
    OtherFeatures,
    check_modality_groups,
    modality_shapes,
    tokens,
)
from easy_rec.models.registry import register_model
from easy_rec.protos import cmbf_pb2, easy_rec_model_pb2

#: stddev of the position and token-type tables (BERT's initializer_range)
TABLE_STDDEV = 0.02


class CMBFFusion(Layer):
    """The fusion of EasyRec's CMBF layer, from the modality groups to one vector
    ([batch, output_dim]); CMBF's body and DBMTL's bottom_cmbf.

    Groups (at least one): 'image' (RawFeatures of image embeddings), 'general' (embedded
    features of one width), 'text' (SequenceFeatures of one width, read unpooled) and 'other'.

    Image: with image_self_attention_layer_num 0 the image features are projected to
    multi_head_num * image_cross_head_size and fused as they are; otherwise they become tokens
    of width image_head_size * image_multi_head_num (several image features: one token each;
    one feature of image_feature_patch_num patches: one token per patch; else
    image_feature_dim tokens, one per value of the (projected) embedding times a learned
    vector) and pass image_self_attention_layer_num encoder layers. Text: the general
    features and every text sequence (projected to text_head_size * text_multi_head_num, with
    token-type and position embeddings) pass text_self_attention_layer_num encoder layers.
    Encoders have multi_head_num heads, GELU feed-forward layers 4x wide and no input norm.
    """

    def __init__(self, feature_layer: FeatureLayer, config: cmbf_pb2.CMBFTower,
                 name: str = "cmbf"):
        super().__init__(name=name)
        self.config = config
        with self.name_scope:
            self._build(feature_layer)

    def _build(self, feature_layer: FeatureLayer) -> None:
        config = self.config
        shapes = modality_shapes(feature_layer, "CMBF")
        self._general_count = shapes.general_count
        heads = int(config.multi_head_num)
        dropout, attention_dropout = config.hidden_dropout_prob, config.attention_probs_dropout_prob

        def encoder(width: int, layers: int, name: str) -> TransformerEncoder | None:
            if layers <= 0:
                return None
            return TransformerEncoder(width, layers, heads, width, 4 * width, dropout, "gelu",
                                      attention_dropout, normalize_input=False, name=name)

        image_width = 0
        if shapes.image_count:
            image_width = self._build_image(shapes.image_width, shapes.image_count)
            self.image_encoder = encoder(image_width, config.image_self_attention_layer_num,
                                         "image_encoder")
        text_width = 0
        if shapes.general_count or shapes.text_lengths:
            text_width = int(config.text_head_size * config.text_multi_head_num)
            self._build_text(shapes, text_width)
            self.text_encoder = encoder(text_width, config.text_self_attention_layer_num,
                                        "text_encoder")
        self.cross = None
        if image_width and text_width:
            self.cross = CrossModalTower(
                image_width, text_width, config.cross_modal_layer_num, heads,
                config.image_cross_head_size, config.text_cross_head_size, dropout,
                attention_dropout, name="cross_modal")
            image_width, text_width = self.cross.left_dim, self.cross.right_dim
        width = image_width + text_width * (shapes.general_count + len(shapes.text_lengths))
        self.other = None
        if shapes.other_width:
            self.other = OtherFeatures(shapes.other_width, config.other_feature_dnn
                                       if config.HasField("other_feature_dnn") else None)
            width += self.other.output_dim
        self.output_dim = width

    # -- image -------------------------------------------------------------------------------
    def _build_image(self, dim: int, count: int) -> int:
        """Creates the image projection; returns the width of the image tokens."""
        config = self.config
        self._image_tokens = count
        self._patches = 0
        self.image_map = None
        if config.image_self_attention_layer_num <= 0:
            width = int(config.multi_head_num * config.image_cross_head_size)
        else:
            width = int(config.image_head_size * config.image_multi_head_num)
            if count == 1 and config.image_feature_patch_num > 1:
                self._patches = int(config.image_feature_patch_num)
                if dim % self._patches:
                    raise ValueError(f"CMBF: the image embedding ({dim} values) does not split "
                                     f"into image_feature_patch_num {self._patches} patches")
                dim //= self._patches
            elif count == 1:
                self._image_tokens = int(config.image_feature_dim)
                self.image_projection = (Dense(dim, self._image_tokens, name="image_projection")
                                         if self._image_tokens != dim else None)
                self.image_map = PositionEmbedding(self._image_tokens, width, name="image_map")
                return width
        self.image_projection = Dense(dim, width, name="image_projection") if dim != width else None
        return width

    def _image(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        """Image tokens [batch, tokens, width] after the image encoder (if any)."""
        x = tokens(features, "image")
        if self.image_map is not None:  # one value per token, times the token's vector
            x = x[:, 0, :]
            if self.image_projection is not None:
                x = self.image_projection(x)
            x = x[:, :, None] * self.image_map.all()[None]
        else:
            if self._patches:
                x = tf.reshape(x, [-1, self._patches, x.shape[-1] // self._patches])
            if self.image_projection is not None:
                x = self.image_projection(x)
        if self.image_encoder is not None:
            x = self.image_encoder(x, tf.ones(tf.shape(x)[:2], tf.bool), training)
        return x

    # -- text --------------------------------------------------------------------------------
    def _build_text(self, shapes: ModalityShapes, width: int) -> None:
        config = self.config
        count = len(shapes.text_lengths)
        self.general_projection = (Dense(shapes.general_width, width, name="general_projection")
                                   if shapes.general_count and shapes.general_width != width
                                   else None)
        if config.use_position_embeddings and count:
            longest = max(shapes.text_lengths)
            if config.max_position_embeddings < longest:
                raise ValueError(f"CMBF: max_position_embeddings ({config.max_position_embeddings}"
                                 f") must be >= the longest text max_seq_len ({longest})")
        self.text_projections = [
            Dense(shapes.text_width, width, name=f"text_projection_{i}")
            if shapes.text_width != width else None for i in range(count)]
        self.token_types = (PositionEmbedding(count, width, TABLE_STDDEV, name="token_types")
                            if config.use_token_type and count else None)
        positions = int(config.max_position_embeddings) if config.use_position_embeddings else 0
        self.text_segments = [
            SegmentEmbedding(width, positions, TABLE_STDDEV, config.text_seq_emb_dropout_prob,
                             name=f"text_segment_{i}") for i in range(count)]

    def _text(self, features: FeatureLayerOutput, training: bool
              ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """(text tokens [batch, general + text lengths, width] after the text encoder, the mask
        of each part: the general tokens' (if any), then each text sequence's)."""
        parts, masks = [], []
        if self._general_count:
            general = tokens(features, "general")
            if self.general_projection is not None:
                general = self.general_projection(general)
            parts.append(general)
            masks.append(tf.ones(tf.shape(general)[:2], tf.bool))
        for i, seq in enumerate(features.unpooled.get("text", [])):
            x = seq.values
            if self.text_projections[i] is not None:
                x = self.text_projections[i](x)
            token_type = self.token_types.all()[i] if self.token_types is not None else None
            parts.append(self.text_segments[i](x, token_type, training))
            masks.append(seq.mask)
        x = tf.concat(parts, axis=1)
        if self.text_encoder is not None:
            x = self.text_encoder(x, tf.concat(masks, axis=1), training)
        return x, masks

    def _merge_text(self, x: tf.Tensor, masks: list[tf.Tensor]) -> tf.Tensor:
        """[batch, (general + text sequences) * width]: the general tokens as they are, each
        text sequence averaged over its real tokens."""
        pieces, start = [], 0
        if self._general_count:
            general = x[:, :self._general_count]
            pieces.append(tf.reshape(general, [-1, self._general_count * x.shape[-1]]))
            start = self._general_count
            masks = masks[1:]
        for mask in masks:
            length = mask.shape[1]
            weights = tf.cast(mask, x.dtype)[:, :, None]
            summed = tf.reduce_sum(x[:, start:start + length] * weights, axis=1)
            pieces.append(tf.math.divide_no_nan(summed, tf.reduce_sum(weights, axis=1)))
            start += length
        return tf.concat(pieces, axis=1)

    # -- forward -----------------------------------------------------------------------------
    def __call__(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        has_image = "image" in features.deep
        has_text = self._general_count or "text" in features.unpooled
        image = self._image(features, training) if has_image else None
        text, masks = self._text(features, training) if has_text else (None, [])
        if self.cross is not None:
            image, text = self.cross(image, text, None, tf.concat(masks, axis=1), training)
        parts = []
        if image is not None:
            parts.append(tf.reduce_mean(image, axis=1))
        if text is not None:
            parts.append(self._merge_text(text, masks))
        if self.other is not None:
            parts.append(self.other(features, training))
        return tf.concat(parts, axis=1)


@register_model("CMBF", cmbf_pb2.CMBF)
class CMBF(RankModel):
    """CMBFFusion of the modality groups -> final_dnn -> logits."""

    unpooled_groups = ("text",)

    def build(self, feature_layer: FeatureLayer) -> None:
        self.fusion = CMBFFusion(feature_layer, tower_config(self.params))
        self.final_dnn = MLP(self.fusion.output_dim, **mlp_kwargs(self.params.final_dnn),
                             name="final_dnn")
        self.output_layer = Dense(self.final_dnn.output_dim, self.output_dim, name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self.output_layer(self.final_dnn(self.fusion(features, training), training))

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require(len(model_config.cmbf.final_dnn.hidden_units) > 0,
                "model_config.cmbf.final_dnn.hidden_units", "final_dnn needs hidden_units", locate)
        params = model_config.cmbf
        flat = flat_fields(params)
        if flat and params.HasField("config"):
            field = f"model_config.cmbf.{flat[0]}"
            raise ConfigError(f"set CMBF's tower fields in cmbf.config or directly in cmbf "
                              f"(older EasyRec form), not both: {', '.join(flat)}",
                              line=locate(field), field=field)
        where = "model_config.cmbf" if flat else "model_config.cmbf.config"
        check_cmbf_tower(model_config, tower_config(params), where, locate)


def flat_fields(params: cmbf_pb2.CMBF) -> list[str]:
    """Names of the CMBFTower fields set directly in `cmbf` (the older EasyRec form)."""
    tower_fields = cmbf_pb2.CMBFTower.DESCRIPTOR.fields_by_name
    return [f.name for f, _ in params.ListFields() if f.name in tower_fields]


def tower_config(params: cmbf_pb2.CMBF) -> cmbf_pb2.CMBFTower:
    """cmbf.config, or a CMBFTower of the tower fields set directly in cmbf (older EasyRec
    releases' flat form; unset fields keep CMBFTower's defaults, which are the same)."""
    if params.HasField("config"):
        return params.config
    tower = cmbf_pb2.CMBFTower()
    for name in flat_fields(params):
        value = getattr(params, name)
        if name == "other_feature_dnn":
            tower.other_feature_dnn.CopyFrom(value)
        else:
            setattr(tower, name, value)
    return tower


def check_cmbf_tower(model_config: easy_rec_model_pb2.EasyRecModel, config: cmbf_pb2.CMBFTower,
                     where: str, locate: Locate) -> None:
    """ConfigError unless the CMBF settings at `where` fit the model's modality groups."""
    check_modality_groups(model_config, locate)
    groups = {g.group_name: g for g in model_config.feature_groups}
    require(config.multi_head_num >= 1, f"{where}.multi_head_num",
            "multi_head_num must be >= 1", locate)
    has_text = "text" in groups or "general" in groups
    image_encoded = "image" in groups and config.image_self_attention_layer_num > 0
    widths = {}
    if has_text:
        widths["text"] = config.text_head_size * config.text_multi_head_num
    if image_encoded:
        widths["image"] = config.image_head_size * config.image_multi_head_num
    for side, width in widths.items():
        require(width > 0 and width % config.multi_head_num == 0,
                f"{where}.{side}_head_size", f"the {side} tokens are {side}_head_size x "
                f"{side}_multi_head_num = {width} wide, which multi_head_num "
                f"({config.multi_head_num}) heads must divide", locate)
    if "image" in groups and has_text:
        for side in ("image", "text"):
            require(getattr(config, f"{side}_cross_head_size") > 0,
                    f"{where}.{side}_cross_head_size",
                    f"{side}_cross_head_size must be > 0 to fuse image and text", locate)
    elif "image" in groups and not image_encoded:
        require(config.image_cross_head_size > 0, f"{where}.image_cross_head_size",
                "without image self-attention the image is projected to multi_head_num x "
                "image_cross_head_size, which must be > 0", locate)
    single_image = "image" in groups and len(groups["image"].feature_names) == 1
    if image_encoded and single_image and config.image_feature_patch_num <= 1:
        require(config.image_feature_dim > 0, f"{where}.image_feature_dim",
                "one image feature without patches becomes image_feature_dim tokens: set "
                "image_feature_dim > 0", locate)
    if "text" in groups and config.use_position_embeddings:
        require(config.max_position_embeddings > 0, f"{where}.max_position_embeddings",
                "use_position_embeddings (default true) needs max_position_embeddings > 0 "
                "(>= every text feature's max_seq_len)", locate)
