"""Base class of ranking models: feature layer, logits -> outputs, losses, regularisation."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.models import registry as model_registry
from easy_rec.protos import easy_rec_model_pb2, loss_pb2

LossType = loss_pb2.LossType
_REGRESSION_LOSSES = (loss_pb2.L2_LOSS, loss_pb2.SIGMOID_L2_LOSS)


class RankModel(tf.Module):
    """A model maps raw input columns to outputs.

    Subclasses build their layers in `build(feature_layer)` and compute `logits(features,
    training)` ([batch] or [batch, num_class]) from the feature layer's output. This class
    owns everything else: output heads (probs / logits / y), losses, sample weights and L2.
    """

    wide_output_dim: int = 1

    def __init__(self, model_config: easy_rec_model_pb2.EasyRecModel, feature_configs,
                 base_dir: str | None = None):
        super().__init__(name=type(self).__name__)
        self.model_config = model_config
        self.params = getattr(model_config, model_registry.model_config_field(model_config.model_class))
        self.num_class = max(int(model_config.num_class), 1)
        self.loss_type = model_config.loss_type
        with self.name_scope:
            self.feature_layer = FeatureLayer(
                feature_configs, model_config.feature_groups, self.wide_output_dim_from_config(),
                base_dir)
            self.build(self.feature_layer)

    def wide_output_dim_from_config(self) -> int:
        """Width of wide embeddings; models with a wide part override it from their config."""
        return 1

    @property
    def is_regression(self) -> bool:
        """True when the model predicts a real value ('y') rather than class probabilities."""
        return self.loss_type in _REGRESSION_LOSSES

    @property
    def output_dim(self) -> int:
        """Width of the logits (1 for binary / regression)."""
        return self.num_class if self.num_class > 1 else 1

    def build(self, feature_layer: FeatureLayer) -> None:
        """Creates the model's layers."""
        raise NotImplementedError

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        """[batch, output_dim] pre-activation scores."""
        raise NotImplementedError

    def regularized_kernels(self) -> list[tf.Variable]:
        """Dense weight matrices that l2_regularization applies to."""
        return []

    def dense_l2(self) -> tf.Tensor:
        """l2_regularization (of the model's block) * sum of 0.5 * ||W||^2 over its kernels."""
        scale = float(getattr(self.params, "l2_regularization", 0.0))
        return scale * l2_of(self.regularized_kernels())

    def __call__(self, raw: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        features = self.feature_layer(raw, training=training)
        logits = self.logits(features, training)
        outputs = self.outputs_from_logits(logits)
        outputs["embedding_l2"] = features.embedding_l2
        return outputs

    def outputs_from_logits(self, logits: tf.Tensor) -> dict[str, tf.Tensor]:
        """Serving outputs: probs and logits (classification) or y (regression)."""
        if self.num_class > 1:
            return {"logits": logits, "probs": tf.nn.softmax(logits),
                    "y": tf.argmax(logits, axis=1)}
        logits = tf.reshape(logits, [-1])
        if self.loss_type == loss_pb2.L2_LOSS:
            return {"y": logits}
        if self.loss_type == loss_pb2.SIGMOID_L2_LOSS:
            return {"y": tf.sigmoid(logits), "logits": logits}
        return {"logits": logits, "probs": tf.sigmoid(logits)}

    def loss(self, outputs: dict[str, tf.Tensor], labels: tf.Tensor,
             weights: tf.Tensor | None = None) -> tf.Tensor:
        """Weighted mean of the per-example loss (over examples with non-zero weight)."""
        per_example = self._per_example_loss(outputs, labels)
        if weights is None:
            return tf.reduce_mean(per_example)
        weights = tf.cast(weights, tf.float32)
        return tf.math.divide_no_nan(
            tf.reduce_sum(per_example * weights),
            tf.cast(tf.math.count_nonzero(weights), tf.float32))

    def _per_example_loss(self, outputs: dict[str, tf.Tensor], labels: tf.Tensor) -> tf.Tensor:
        if self.num_class > 1:
            return tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(labels, tf.int32), logits=outputs["logits"])
        labels = tf.cast(labels, tf.float32)
        if self.is_regression:
            return tf.square(outputs["y"] - labels)
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=outputs["logits"])

    def regularization(self, outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        """Embedding L2 (on looked-up rows) plus the model's dense L2."""
        emb_reg = float(self.model_config.embedding_regularization)
        return emb_reg * outputs["embedding_l2"] + self.dense_l2()

    @property
    def serving_input_names(self) -> list[str]:
        """Raw input columns the exported signature takes."""
        return self.feature_layer.input_names

    @classmethod
    def validate_config(cls, model_config, locate) -> None:  # noqa: ARG003
        """Model-specific config checks (ConfigError); nothing by default."""


def l2_of(variables) -> tf.Tensor:
    """Sum of tf.nn.l2_loss over variables."""
    variables = list(variables)
    return tf.add_n([tf.nn.l2_loss(v) for v in variables]) if variables else tf.constant(0.0)


def kernels_of(*layers) -> list[tf.Variable]:
    """Kernels of MLPs (all layers) and Dense layers, skipping None entries."""
    kernels: list[tf.Variable] = []
    for layer in layers:
        if layer is None:
            continue
        kernels += layer.kernels() if hasattr(layer, "kernels") else [layer.kernel]
    return kernels
