"""Base class of ranking models: feature layer, logits -> outputs, losses, regularisation."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.base import declared_kernels
from easy_rec.models import registry as model_registry
from easy_rec.protos import easy_rec_model_pb2, eval_pb2, feature_config_pb2, loss_pb2, pipeline_pb2

LossType = loss_pb2.LossType
_REGRESSION_LOSSES = (loss_pb2.L2_LOSS, loss_pb2.SIGMOID_L2_LOSS)
SERVING_OUTPUTS = ("probs", "logits", "y")
SignatureFunction = Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]


@dataclass(frozen=True)
class Task:
    """One prediction head: the label column it learns, its loss and how its outputs are named.

    Single-task models have one task with an empty name, so their outputs are `probs`,
    `logits`, `y` and their metrics `auc`, ...; a multi-task model names each task, giving
    `probs_<name>` and `auc_<name>`.
    """

    name: str
    label_field: str
    loss_type: int = loss_pb2.CLASSIFICATION
    num_class: int = 1
    weight: float = 1.0
    # the task's own metrics; empty: eval_config.metrics_set
    metrics: tuple[eval_pb2.EvalMetrics, ...] = ()

    def key(self, output: str) -> str:
        """Output or metric key of this task, e.g. 'probs' or 'probs_ctr'."""
        return f"{output}_{self.name}" if self.name else output

    @property
    def is_regression(self) -> bool:
        """True when the task predicts a real value ('y') rather than class probabilities."""
        return self.loss_type in _REGRESSION_LOSSES

    @property
    def output_dim(self) -> int:
        """Width of the task's logits (1 for binary / regression)."""
        return self.num_class if self.num_class > 1 else 1


class RankModel(tf.Module):
    """A model maps raw input columns to outputs.

    Subclasses build their layers in `build(feature_layer)` and compute `logits(features,
    training)` ([batch] or [batch, num_class]) from the feature layer's output. This class
    owns everything else: output heads (probs / logits / y), losses, sample weights and L2.
    """

    wide_output_dim: int = 1
    #: attributes holding layers whose kernels l2_regularization leaves alone (EasyRec does not
    #: regularise e.g. the output layer of DCN, AutoInt and MultiTower)
    l2_exempt: tuple[str, ...] = ()

    def __init__(self, model_config: easy_rec_model_pb2.EasyRecModel,
                 feature_configs: Sequence[feature_config_pb2.FeatureConfig],
                 base_dir: str | None = None, label_fields: Sequence[str] = ("label",),
                 sample_weight: str | None = None):
        """label_fields / sample_weight: data_config's label columns and weight column."""
        super().__init__(name=type(self).__name__)
        self.model_config = model_config
        self.label_fields = list(label_fields)
        self.sample_weight = sample_weight or None
        self.params = getattr(model_config, model_registry.model_config_field(model_config.model_class))
        self.num_class = max(int(model_config.num_class), 1)
        self.loss_type = model_config.loss_type
        with self.name_scope:
            self.feature_layer = FeatureLayer(
                feature_configs, model_config.feature_groups, self.wide_output_dim_from_config(),
                base_dir, model_config.seq_att_groups)
            self.build(self.feature_layer)

    def wide_output_dim_from_config(self) -> int:
        """Width of wide embeddings; models with a wide part override it from their config."""
        return 1

    @property
    def tasks(self) -> list[Task]:
        """Prediction heads; one unnamed task on label_fields[0] unless a model overrides it."""
        return [Task("", self.label_fields[0], self.loss_type, self.num_class)]

    @property
    def is_regression(self) -> bool:
        """True when the (single) task predicts a real value ('y')."""
        return self.tasks[0].is_regression

    @property
    def output_dim(self) -> int:
        """Width of the (single) task's logits (1 for binary / regression)."""
        return self.tasks[0].output_dim

    def build(self, feature_layer: FeatureLayer) -> None:
        """Creates the model's layers."""
        raise NotImplementedError

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        """[batch, output_dim] pre-activation scores."""
        raise NotImplementedError

    def regularized_kernels(self) -> list[tf.Variable]:
        """Kernels that l2_regularization applies to: those declared by every layer of the
        model (easy_rec.layers.base), outside the feature layer, whose embeddings and wide
        weights embedding_regularization covers, and outside the `l2_exempt` layers."""
        skipped = [self.feature_layer, *(getattr(self, name) for name in self.l2_exempt)]
        skip = {id(m) for layer in skipped for m in (layer, *layer.submodules)}
        return declared_kernels(m for m in self.submodules if id(m) not in skip)

    def dense_l2(self) -> tf.Tensor:
        """l2_regularization (of the model's block) * sum of 0.5 * ||W||^2 over its kernels."""
        scale = float(getattr(self.params, "l2_regularization", 0.0))
        return scale * l2_of(self.regularized_kernels())

    def __call__(self, raw: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        features = self.feature_layer(raw, training=training)
        outputs = self.task_outputs(features, training)
        outputs["embedding_l2"] = features.embedding_l2
        return outputs

    def task_outputs(self, features: FeatureLayerOutput, training: bool) -> dict[str, tf.Tensor]:
        """Outputs of every task; multi-task models override it, others implement `logits`."""
        return self.outputs_from_logits(self.logits(features, training))

    def outputs_from_logits(self, logits: tf.Tensor, task: Task | None = None) -> dict[str, tf.Tensor]:
        """Outputs of one task: probs and logits (classification) or y (regression)."""
        task = task or self.tasks[0]
        if task.num_class > 1:
            out = {"logits": logits, "probs": tf.nn.softmax(logits), "y": tf.argmax(logits, axis=1)}
        else:
            logits = tf.reshape(logits, [-1])
            if task.loss_type == loss_pb2.L2_LOSS:
                out = {"y": logits}
            elif task.loss_type == loss_pb2.SIGMOID_L2_LOSS:
                out = {"y": tf.sigmoid(logits), "logits": logits}
            else:
                out = {"logits": logits, "probs": tf.sigmoid(logits)}
        return {task.key(k): v for k, v in out.items()}

    def loss(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]) -> tf.Tensor:
        """Sum over tasks of task weight * weighted mean per-example loss.

        The mean is over examples with non-zero sample weight when data_config.sample_weight is set.
        """
        weights = tf.cast(batch[self.sample_weight], tf.float32) if self.sample_weight else None
        total = []
        for task in self.tasks:
            per_example = self.per_example_loss(outputs, batch[task.label_field], task)
            total.append(task.weight * weighted_mean(per_example, weights))
        return tf.add_n(total)

    def per_example_loss(self, outputs: dict[str, tf.Tensor], labels: tf.Tensor,
                         task: Task) -> tf.Tensor:
        """[batch] loss of one task."""
        if task.num_class > 1:
            return tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(labels, tf.int32), logits=outputs[task.key("logits")])
        labels = tf.cast(labels, tf.float32)
        if task.is_regression:
            return tf.square(outputs[task.key("y")] - labels)
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=outputs[task.key("logits")])

    def serving_outputs(self, outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The outputs the exported serving signature returns."""
        keys = [t.key(k) for t in self.tasks for k in SERVING_OUTPUTS]
        return {k: outputs[k] for k in keys if k in outputs}

    def regularization(self, outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        """Embedding L2 (on looked-up rows) plus the model's dense L2."""
        emb_reg = float(self.model_config.embedding_regularization)
        return emb_reg * outputs["embedding_l2"] + self.dense_l2()

    @property
    def serving_input_names(self) -> list[str]:
        """Raw input columns the exported signature takes."""
        return self.feature_layer.input_names

    def extra_signatures(self) -> dict[str, tuple[list[str], SignatureFunction]]:
        """Exported signatures besides serving_default: name -> (the raw input columns it takes,
        a function of those columns returning named outputs); none by default."""
        return {}

    @classmethod
    def pipeline_arguments(cls, config: pipeline_pb2.EasyRecConfig  # noqa: ARG003
                           ) -> dict[str, object]:
        """Extra constructor arguments taken from the pipeline config (e.g. data_config's
        negative sampler); none by default."""
        return {}

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel,  # noqa: ARG003
                        locate: Locate) -> None:  # noqa: ARG003
        """Model-specific config checks (ConfigError); nothing by default."""

    @classmethod
    def validate_pipeline(cls, config: pipeline_pb2.EasyRecConfig,  # noqa: ARG003
                          locate: Locate) -> None:  # noqa: ARG003
        """Checks of the model block against the rest of the pipeline config (label fields,
        input fields, eval metrics), run after validate_config; nothing by default."""


def weighted_mean(values: tf.Tensor, weights: tf.Tensor | None) -> tf.Tensor:
    """Mean of values, or sum(values * weights) / number of non-zero weights."""
    if weights is None:
        return tf.reduce_mean(values)
    return tf.math.divide_no_nan(tf.reduce_sum(values * weights),
                                 tf.cast(tf.math.count_nonzero(weights), tf.float32))


def l2_of(variables: Iterable[tf.Variable]) -> tf.Tensor:
    """Sum of tf.nn.l2_loss over variables."""
    variables = list(variables)
    return tf.add_n([tf.nn.l2_loss(v) for v in variables]) if variables else tf.constant(0.0)

