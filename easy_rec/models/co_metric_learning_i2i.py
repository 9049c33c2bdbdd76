"""CoMetricLearningI2I: collaborative metric learning of item embeddings from sessions, as
EasyRec's model of that name. Items clicked in the same session are positive pairs, every
other item of the batch a negative; a circle loss (Sun et al., "Circle Loss", CVPR 2020,
https://arxiv.org/abs/2002.10857) or a multi-similarity loss (Wang et al., "Multi-Similarity
Loss with General Pair Weighting for Deep Metric Learning", CVPR 2019) pulls positives
together and pushes negatives apart.

The losses are easy_rec.models.losses.metric_learning's circle_loss and multi_similarity_loss
over the batch's embeddings: positive pairs are other rows with a row's label and session,
negatives all other rows.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import BatchNorm
from easy_rec.layers.highway import Highway
from easy_rec.layers.match import EmbeddingTower
from easy_rec.metrics.metric_learning import SESSION_OUTPUT
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require, require_groups
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.losses.metric_learning import circle_loss, multi_similarity_loss
from easy_rec.models.registry import register_model
from easy_rec.protos import (
    collaborative_metric_learning_pb2,
    easy_rec_model_pb2,
    loss_pb2,
    pipeline_pb2,
)

#: model_config.loss_type -> the metric_learning field holding its parameters
LOSS_FIELDS = {loss_pb2.CIRCLE_LOSS: "circle_loss",
               loss_pb2.MULTI_SIMILARITY_LOSS: "multi_similarity_loss"}
EMBEDDING_OUTPUTS = ("float_emb", "norm_emb")


@register_model("CoMetricLearningI2I", collaborative_metric_learning_pb2.CoMetricLearningI2I)
class CoMetricLearningI2I(RankModel):
    """Item embeddings: an MLP over the feature group named by `input`, and for each `highway`
    tower its group through batch norm and a Highway layer (emb_size wide), whose last
    hidden_units entry is the (linear) embedding size. label_fields[0] is the click label; `session_id` names
    the column (e.g. user_id) whose rows form a session. Outputs `float_emb`, and with
    output_l2_normalized_emb (default) `norm_emb`; `sample_id` echoes that column if set.
    Evaluation reports the loss over each eval batch, precision_at_topk and recall_at_topk
    (metric learning's, within each eval batch; the session column is the `session_id` output
    they read)."""

    own_losses = tuple(LOSS_FIELDS)
    reads_losses = False
    user_items_refusal = ("it embeds single items (item to item); its inputs have no user "
                          "side to compute once per request")

    def build(self, feature_layer: FeatureLayer) -> None:
        params = self.params
        width = feature_layer.group_dim(params.input) if params.input else 0
        self.highways = []
        for i, tower in enumerate(params.highway):
            dim = feature_layer.group_dim(tower.input)
            highway = Highway(dim, int(tower.emb_size) or None, max(int(tower.num_layers), 1),
                              tower.activation, float(tower.dropout_rate),
                              float(tower.init_gate_bias), name=f"highway_{i}")
            self.highways.append((tower.input, BatchNorm(dim, name=f"highway_{i}_bn"), highway))
            width += highway.output_dim
        self.tower = EmbeddingTower(width, **mlp_kwargs(params.dnn), name="dnn")

    def task_outputs(self, features: FeatureLayerOutput, training: bool) -> dict[str, tf.Tensor]:
        parts = [features.concat(self.params.input)] if self.params.input else []
        for group, norm, highway in self.highways:
            parts.append(highway(norm(features.concat(group), training), training))
        embedding = self.tower(tf.concat(parts, axis=1), training)
        outputs = {"float_emb": embedding}
        if self.params.output_l2_normalized_emb:
            outputs["norm_emb"] = tf.math.l2_normalize(embedding, axis=-1)
        return outputs

    def __call__(self, raw: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        outputs = super().__call__(raw, training)
        if self.params.sample_id:
            outputs["sample_id"] = tf.identity(raw[self.params.sample_id])
        if self.params.session_id in raw:  # a label column: present in training and evaluation
            outputs[SESSION_OUTPUT] = tf.identity(raw[self.params.session_id])
        return outputs

    def loss(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]) -> tf.Tensor:
        labels = batch[self.tasks[0].label_field]
        sessions = batch[self.params.session_id] if self.params.session_id else None
        if self.loss_type == loss_pb2.CIRCLE_LOSS:
            config = self.params.circle_loss
            return circle_loss(outputs["float_emb"], labels, sessions, config.margin,
                               config.gamma)
        config = self.params.multi_similarity_loss
        return multi_similarity_loss(outputs["float_emb"], labels, sessions, config.alpha,
                                     config.beta, config.lamb)

    def serving_outputs(self, outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {k: outputs[k] for k in (*EMBEDDING_OUTPUTS, "sample_id") if k in outputs}

    @property
    def serving_input_names(self) -> list[str]:
        names = self.feature_layer.input_names
        sample_id = self.params.sample_id
        return names + [sample_id] if sample_id and sample_id not in names else names

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        params = model_config.metric_learning
        groups = [params.input] if params.input else []
        groups += [tower.input for tower in params.highway]
        require(bool(groups), "model_config.metric_learning.input",
                "input (or a highway tower) must name a feature group of the items", locate)
        require_groups(model_config, groups, locate)
        require(len(params.dnn.hidden_units) > 0, "model_config.metric_learning.dnn.hidden_units",
                "dnn needs hidden_units (the last is the embedding size)", locate)
        field = LOSS_FIELDS.get(model_config.loss_type)
        require(field is not None, "model_config.loss_type", "CoMetricLearningI2I trains with "
                "loss_type CIRCLE_LOSS or MULTI_SIMILARITY_LOSS", locate)
        chosen = params.WhichOneof("loss")
        require(chosen in (None, field), f"model_config.metric_learning.{chosen}",
                f"loss_type {loss_pb2.LossType.Name(model_config.loss_type)} reads "
                f"metric_learning.{field}, not {chosen}", locate)

    @classmethod
    def validate_pipeline(cls, config: pipeline_pb2.EasyRecConfig, locate: Locate) -> None:
        params = config.model_config.metric_learning
        labels = list(config.data_config.label_fields)
        require(not params.session_id or params.session_id in labels[1:],
                "model_config.metric_learning.session_id", f"session_id {params.session_id!r} "
                "must be one of data_config.label_fields after the click label (as in EasyRec)",
                locate)
        inputs = {f.input_name for f in config.data_config.input_fields}
        require(not params.sample_id or params.sample_id in inputs,
                "model_config.metric_learning.sample_id",
                f"sample_id {params.sample_id!r} is not an input field", locate)
        for i, metric in enumerate(config.eval_config.metrics_set):
            kind = metric.WhichOneof("metric")
            require(kind in ("precision_at_topk", "recall_at_topk"),
                    f"eval_config.metrics_set[{i}]", "CoMetricLearningI2I's evaluation reports "
                    f"the loss, precision_at_topk and recall_at_topk; {kind} is not supported",
                    locate)
            if kind == "recall_at_topk":
                require(metric.recall_at_topk.topk > 0,
                        f"eval_config.metrics_set[{i}].recall_at_topk.topk",
                        f"topk must be > 0, got {metric.recall_at_topk.topk}", locate)
