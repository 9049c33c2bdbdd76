"""CoMetricLearningI2I: collaborative metric learning of item embeddings from sessions, as
EasyRec's model of that name. Items clicked in the same session are positive pairs, every
other item of the batch a negative; a circle loss (Sun et al., "Circle Loss", CVPR 2020,
https://arxiv.org/abs/2002.10857) or a multi-similarity loss (Wang et al., "Multi-Similarity
Loss with General Pair Weighting for Deep Metric Learning", CVPR 2019) pulls positives
together and pushes negatives apart.

With s the cosine similarity of two rows' embeddings, P the positive pairs of an anchor (other
rows with its label and session) and N its negatives (all other rows):

    circle:  softplus(logsumexp_{n in N} gamma a_n (s_n - m) + logsumexp_{p in P} -gamma a_p (s_p - 1 + m))
             with a_p = relu(1 + m - s_p), a_n = relu(s_n + m), not differentiated
    multi-similarity (s clipped at 0):
             log(1 + sum_P exp(-alpha (s_p - lamb))) / alpha + log(1 + sum_N exp(beta (s_n - lamb))) / beta

each averaged over the anchors of the batch.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.match import EmbeddingTower
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require, require_groups
from easy_rec.models.layer_args import mlp_kwargs
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
#: logits of masked pairs, whose exp is 0 in float32
_MASKED = 1e12


def pair_masks(labels: tf.Tensor, sessions: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor]:
    """(positive, negative) [batch, batch] float masks: positive where rows a != b share the
    label (and the session, when given); negative for every other pair of distinct rows."""
    same = tf.equal(labels[:, None], labels[None, :])
    if sessions is not None:
        same = tf.logical_and(same, tf.equal(sessions[:, None], sessions[None, :]))
    distinct = tf.logical_not(tf.eye(tf.shape(labels)[0], dtype=tf.bool))
    positive = tf.cast(tf.logical_and(same, distinct), tf.float32)
    return positive, tf.cast(distinct, tf.float32) - positive


def circle_loss(similarity: tf.Tensor, positive: tf.Tensor, negative: tf.Tensor,
                margin: float, gamma: float) -> tf.Tensor:
    """Mean circle loss of a [batch, batch] cosine matrix (module docstring)."""
    a_p = tf.nn.relu(1.0 + margin - tf.stop_gradient(similarity))
    a_n = tf.nn.relu(tf.stop_gradient(similarity) + margin)
    logit_p = -gamma * a_p * (similarity - (1.0 - margin)) * positive - (1 - positive) * _MASKED
    logit_n = gamma * a_n * (similarity - margin) * negative - (1 - negative) * _MASKED
    return tf.reduce_mean(tf.nn.softplus(tf.reduce_logsumexp(logit_n, axis=1)
                                         + tf.reduce_logsumexp(logit_p, axis=1)))


def multi_similarity_loss(similarity: tf.Tensor, positive: tf.Tensor, negative: tf.Tensor,
                          alpha: float, beta: float, lamb: float) -> tf.Tensor:
    """Mean multi-similarity loss of a [batch, batch] cosine matrix (module docstring)."""
    s = tf.maximum(similarity, 0.0)
    pos = tf.reduce_sum(tf.exp(-alpha * (s - lamb)) * positive, axis=1)
    neg = tf.reduce_sum(tf.exp(beta * (s - lamb)) * negative, axis=1)
    return tf.reduce_mean(tf.math.log1p(pos) / alpha + tf.math.log1p(neg) / beta)


@register_model("CoMetricLearningI2I", collaborative_metric_learning_pb2.CoMetricLearningI2I)
class CoMetricLearningI2I(RankModel):
    """Item embeddings: an MLP over the feature group named by `input` whose last hidden_units
    entry is the (linear) embedding size. label_fields[0] is the click label; `session_id` names
    the column (e.g. user_id) whose rows form a session. Outputs `float_emb`, and with
    output_l2_normalized_emb (default) `norm_emb`; `sample_id` echoes that column if set.
    Evaluation reports the loss over each eval batch."""

    own_losses = tuple(LOSS_FIELDS)

    def build(self, feature_layer: FeatureLayer) -> None:
        self.tower = EmbeddingTower(feature_layer.group_dim(self.params.input),
                                    **mlp_kwargs(self.params.dnn), name="dnn")

    def task_outputs(self, features: FeatureLayerOutput, training: bool) -> dict[str, tf.Tensor]:
        embedding = self.tower(features.concat(self.params.input), training)
        outputs = {"float_emb": embedding}
        if self.params.output_l2_normalized_emb:
            outputs["norm_emb"] = tf.math.l2_normalize(embedding, axis=-1)
        return outputs

    def __call__(self, raw: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        outputs = super().__call__(raw, training)
        if self.params.sample_id:
            outputs["sample_id"] = tf.identity(raw[self.params.sample_id])
        return outputs

    def loss(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]) -> tf.Tensor:
        embedding = tf.math.l2_normalize(outputs["float_emb"], axis=-1)
        similarity = tf.matmul(embedding, embedding, transpose_b=True)
        labels = batch[self.tasks[0].label_field]
        sessions = batch[self.params.session_id] if self.params.session_id else None
        positive, negative = pair_masks(labels, sessions)
        if self.loss_type == loss_pb2.CIRCLE_LOSS:
            config = self.params.circle_loss
            return circle_loss(similarity, positive, negative, config.margin, config.gamma)
        config = self.params.multi_similarity_loss
        return multi_similarity_loss(similarity, positive, negative, config.alpha, config.beta,
                                     config.lamb)

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
        require(bool(params.input), "model_config.metric_learning.input",
                "input must name the feature group of the items", locate)
        require_groups(model_config, [params.input], locate)
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
            name = metric.WhichOneof("metric")
            require(False, f"eval_config.metrics_set[{i}]", f"{name} is not supported: "
                    "CoMetricLearningI2I's evaluation reports the loss (EasyRec's in-batch "
                    "metric-learning recall / precision at k are not implemented)", locate)
