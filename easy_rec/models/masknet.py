"""MaskNet: MaskBlocks (instance-guided masks) in parallel or in series, then an MLP."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.mask_block import MaskBlock
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require, require_field_group
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, masknet_pb2

GROUP = "all"


@register_model("MaskNet", masknet_pb2.MaskNet)
class MaskNet(RankModel):
    """masknet { mask_blocks {...} ... use_parallel [mlp {...}] l2_regularization }.

    Every block's mask is computed from the concatenated embeddings of group 'all'. Parallel:
    each block masks the embeddings and the outputs are concatenated; serial: the first block
    masks the embeddings, each later one the previous block's output. logit = dense(MLP(...)),
    or dense(...) without mlp.
    """

    def build(self, feature_layer: FeatureLayer) -> None:
        embedding_dim = feature_layer.group_dim(GROUP)
        parallel = self.params.use_parallel
        self.blocks = []
        for i, config in enumerate(self.params.mask_blocks):
            aggregation = (int(embedding_dim * config.reduction_factor)
                           if config.HasField("reduction_factor") else int(config.aggregation_size))
            input_dim = embedding_dim if parallel or not self.blocks else self.blocks[-1].output_dim
            self.blocks.append(MaskBlock(
                input_dim, embedding_dim, aggregation, int(config.output_size),
                config.input_layer_norm, int(config.projection_dim), name=f"mask_block_{i}"))
        width = (sum(block.output_dim for block in self.blocks) if parallel
                 else self.blocks[-1].output_dim)
        self.mlp = (MLP(width, **mlp_kwargs(self.params.mlp), name="mlp")
                    if self.params.HasField("mlp") else None)
        self.output_layer = Dense(self.mlp.output_dim if self.mlp else width, self.output_dim,
                                  name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        embeddings = features.concat(GROUP)
        if self.params.use_parallel:
            hidden = tf.concat([block(embeddings, embeddings) for block in self.blocks], axis=1)
        else:
            hidden = embeddings
            for block in self.blocks:
                hidden = block(hidden, embeddings)
        if self.mlp is not None:
            hidden = self.mlp(hidden, training)
        return self.output_layer(hidden)

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_field_group(model_config, GROUP, 1, locate)
        params = model_config.masknet
        require(len(params.mask_blocks) > 0, "model_config.masknet",
                "MaskNet needs at least one mask_blocks entry", locate)
        for i, block in enumerate(params.mask_blocks):
            where = f"model_config.masknet.mask_blocks[{i}]"
            if block.HasField("reduction_factor"):
                require(block.reduction_factor > 0, f"{where}.reduction_factor",
                        f"reduction_factor must be > 0, got {block.reduction_factor}", locate)
            else:
                require(block.aggregation_size >= 1, where, "a mask block needs "
                        "reduction_factor or aggregation_size (the mask MLP's hidden width)",
                        locate)
