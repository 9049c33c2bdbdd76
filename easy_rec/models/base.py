"""Base class of ranking models: feature layer, logits -> outputs, losses, regularisation."""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features import passthrough_feature
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.base import declared_kernels
from easy_rec.models import registry as model_registry
from easy_rec.models.losses.grad_norm import GradNorm
from easy_rec.models.losses.heads import (
    PROBABILITY_HEADS,
    VALUE_HEADS,
    common_head,
    head_outputs,
    logits_width,
)
from easy_rec.models.losses.kd import Distillation
from easy_rec.models.losses.names import REGULARIZATION
from easy_rec.models.losses.registry import LossInputs, loss_spec, session_column
from easy_rec.models.losses.task_loss import TaskLoss, with_model_params
from easy_rec.protos import easy_rec_model_pb2, eval_pb2, feature_config_pb2, loss_pb2, pipeline_pb2

LossType = loss_pb2.LossType
#: loss types comparing embeddings, not a task's logits: only the models listing them in
#: own_losses compute them
EMBEDDING_LOSSES = (loss_pb2.CIRCLE_LOSS, loss_pb2.MULTI_SIMILARITY_LOSS,
                    loss_pb2.SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING)
SERVING_OUTPUTS = ("probs", "logits", "y")
#: outputs key of the variational dropout penalty of the feature groups
DROPOUT_PENALTY_KEY = "variational_dropout_loss"
# marks the outputs of a training call of a model with grad_norm: loss() then adds GradNorm's
# own term and updates its state (losses.grad_norm)
GRAD_NORM_STEP_KEY = "grad_norm_step"
SignatureFunction = Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]


@dataclass(frozen=True)
class Task:
    """One prediction head: the label column it learns, its losses and how its outputs are named.

    Single-task models have one task with an empty name, so their outputs are `probs`,
    `logits`, `y` and their metrics `auc`, ...; a multi-task model names each task, giving
    `probs_<name>` and `auc_<name>`. The losses decide the outputs (losses.heads).
    """

    name: str
    label_field: str
    loss_type: int = loss_pb2.CLASSIFICATION
    num_class: int = 1
    weight: float = 1.0
    # the task's own metrics; empty: eval_config.metrics_set
    metrics: tuple[eval_pb2.EvalMetrics, ...] = ()
    # several losses (model_config.losses or a tower's); empty: loss_type alone
    losses: tuple[loss_pb2.Loss, ...] = ()
    # whether data_config.sample_weight weighs this task's rows
    use_sample_weight: bool = True
    # label column marking the task's sample space (> 0 inside), and the weights of the rows
    # inside and outside it; empty: every row weighs 1
    space_label: str = ""
    in_space_weight: float = 1.0
    out_space_weight: float = 1.0
    # tasks whose probabilities bound this one's (ORDER_CALIBRATE_LOSS)
    relations: tuple[str, ...] = ()

    def key(self, output: str) -> str:
        """Output or metric key of this task, e.g. 'probs' or 'probs_ctr'."""
        return f"{output}_{self.name}" if self.name else output

    @property
    def loss_entries(self) -> tuple[loss_pb2.Loss, ...]:
        """The losses the task is trained with: `losses`, else one entry of loss_type."""
        return self.losses or (loss_pb2.Loss(loss_type=self.loss_type),)

    @property
    def head(self) -> str:
        """Name of the task's output head (losses.heads.HEADS); ValueError when its losses
        need different heads."""
        heads = []
        for loss in self.loss_entries:
            if loss.loss_type != loss_pb2.ORDER_CALIBRATE_LOSS:
                spec = loss_spec(loss.loss_type)
                if spec is None:
                    raise ValueError(f"{loss_pb2.LossType.Name(loss.loss_type)} is not a loss "
                                     "of a task's output")
                heads.append(spec.head_for(self.num_class))
        return common_head(heads)

    @property
    def is_regression(self) -> bool:
        """True when the task predicts a real value ('y') rather than class probabilities."""
        return self.head not in PROBABILITY_HEADS

    @property
    def predicts_value(self) -> bool:
        """True when the task has a 'y' output that regression metrics read."""
        return self.head in VALUE_HEADS

    @property
    def output_dim(self) -> int:
        """Width of the task's logits (1 for binary / regression)."""
        return logits_width(self.head, self.num_class)

    @property
    def metric_classes(self) -> int:
        """num_class as the metrics see it: JRC and ZILN tasks predict one probability."""
        return self.num_class if self.head == "multiclass" else 1


class RankModel(tf.Module):
    """A model maps raw input columns to outputs.

    Subclasses build their layers in `build(feature_layer)` and compute `logits(features,
    training)` ([batch] or [batch, num_class]) from the feature layer's output. This class
    owns everything else: output heads (probs / logits / y), losses, sample weights and L2.
    """

    wide_output_dim: int = 1
    #: feature groups read as padded sequences of SequenceFeatures (FeatureLayer)
    unpooled_groups: tuple[str, ...] = ()
    #: feature groups read as (history, target) sequence groups (FeatureLayer)
    paired_groups: tuple[str, ...] = ()
    #: whether the model draws negatives from data_config's sampler
    uses_negative_sampler: ClassVar[bool] = False
    #: loss types of EMBEDDING_LOSSES (loss_type or model_config.losses entries) it computes
    own_losses: ClassVar[tuple[int, ...]] = ()
    #: whether the model reads model_config.losses (its task's losses, losses.task_loss)
    reads_losses: ClassVar[bool] = True
    #: whether the model reads model_config.backbone (easy_rec.models.backbone)
    reads_backbone: ClassVar[bool] = False
    #: attributes holding layers whose kernels l2_regularization leaves alone (EasyRec does not
    #: regularise e.g. the output layer of DCN, AutoInt and MultiTower)
    l2_exempt: tuple[str, ...] = ()
    #: whether model_config.grad_norm applies (the model defines shared_kernel)
    supports_grad_norm: ClassVar[bool] = False
    #: why the model cannot score one user × N items (export.user_items); empty: it can
    user_items_refusal: ClassVar[str] = ""

    def __init__(self, model_config: easy_rec_model_pb2.EasyRecModel,
                 feature_configs: Sequence[feature_config_pb2.FeatureConfig],
                 base_dir: str | None = None, label_fields: Sequence[str] = ("label",),
                 sample_weight: str | None = None, string_columns: Collection[str] = ()):
        """label_fields / sample_weight: data_config's label columns and weight column;
        string_columns: its STRING input fields (a PassThroughFeature over one is text)."""
        super().__init__(name=type(self).__name__)
        self.model_config = model_config
        self.label_fields = list(label_fields)
        self.sample_weight = sample_weight or None
        self.params = getattr(model_config, model_registry.model_config_field(model_config.model_class))
        self.num_class = max(int(model_config.num_class), 1)
        self.loss_type = model_config.loss_type
        dropout = model_config.variational_dropout \
            if model_config.HasField("variational_dropout") else None
        with self.name_scope:
            self.feature_layer = FeatureLayer(
                feature_configs, model_config.feature_groups, self.wide_output_dim_from_config(),
                base_dir, model_config.seq_att_groups, self.unpooled_groups,
                variational_dropout=dropout, paired_groups=self.paired_groups,
                string_columns=string_columns)
            self.build(self.feature_layer)
            # models computing embedding losses (own_losses) replace loss() altogether
            self.task_losses = [] if self.own_losses else [
                TaskLoss(with_model_params(task.loss_entries, model_config),
                         model_config.loss_weight_strategy, suffix=task.key(""),
                         name=f"loss_{task.name or 'task'}") for task in self.tasks]
            taken = [n for loss in self.task_losses for n in loss.names]
            self.distillation = Distillation(model_config.kd, taken, name="kd") \
                if model_config.kd else None
            self.grad_norm = GradNorm(len(self.task_losses), model_config.grad_norm_alpha,
                                      name="grad_norm") if model_config.grad_norm else None

    def wide_output_dim_from_config(self) -> int:
        """Width of wide embeddings; models with a wide part override it from their config."""
        return 1

    @property
    def main_label(self) -> str:
        """The label of a single-task model: model_config.label_name when set, else the first
        label field (as EasyRec's RankModel picks it)."""
        return self.model_config.label_name or self.label_fields[0]

    @property
    def tasks(self) -> list[Task]:
        """Prediction heads; one unnamed task on main_label unless a model overrides it.
        A model with own_losses computes its losses itself: its task has a plain binary head
        (its embedding loss types have no task head)."""
        if self.own_losses:
            return [Task("", self.main_label, loss_pb2.CLASSIFICATION, self.num_class)]
        return [Task("", self.main_label, self.loss_type, self.num_class,
                     losses=tuple(self.model_config.losses))]

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

    def first_optimizer_variables(self) -> list[tf.Variable]:
        """What optimizer_config[0] trains when there are two blocks (the second trains the
        rest): EasyRec's input layer, i.e. every embedding table and the wide weights of
        raw features."""
        return self.feature_layer.input_variables()

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
        if features.dropout_penalty is not None:
            outputs[DROPOUT_PENALTY_KEY] = features.dropout_penalty
        if training and self.grad_norm is not None:
            outputs[GRAD_NORM_STEP_KEY] = tf.constant(1.0)
        return outputs

    def task_outputs(self, features: FeatureLayerOutput, training: bool) -> dict[str, tf.Tensor]:
        """Outputs of every task; multi-task models override it, others implement `logits`."""
        return self.outputs_from_logits(self.logits(features, training))

    def outputs_from_logits(self, logits: tf.Tensor, task: Task | None = None) -> dict[str, tf.Tensor]:
        """Outputs of one task's head: probs and logits (classification), y (regression), ..."""
        task = task or self.tasks[0]
        return {task.key(k): v for k, v in head_outputs(task.head, logits).items()}

    def loss(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]) -> tf.Tensor:
        """The training loss without regularization: the sum of loss_dict."""
        return tf.add_n(list(self.loss_dict(outputs, batch).values()))

    def loss_dict(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]
                  ) -> dict[str, tf.Tensor]:
        """The loss terms by the names EasyRec logs them under (losses.names): every task's
        weighted losses (losses.task_loss), GradNorm-weighted with model_config.grad_norm
        (losses.grad_norm: one term per task, named after its first loss, and in a training
        call, whose outputs carry GRAD_NORM_STEP_KEY, its own `grad_norm_loss`), and the
        distillation terms of model_config.kd. Models with losses of their own override it.

        A task's row weights are data_config.sample_weight (unless the task sets
        use_sample_weight: false) times its task-space weights; each loss is a mean over rows
        (or pairs, or lists) with non-zero weight.
        """
        tasks = self.tasks
        random = None
        if self.model_config.loss_weight_strategy == easy_rec_model_pb2.EasyRecModel.Random:
            slots = sum(loss.num_terms for loss in self.task_losses)
            random = tf.split(tf.nn.softmax(tf.random.normal([slots])),
                              [loss.num_terms for loss in self.task_losses])
        per_task = []
        for i, (task, task_loss) in enumerate(zip(tasks, self.task_losses)):
            own = {k: outputs[task.key(k)] for k in ("logits", "probs", "y")
                   if task.key(k) in outputs}
            inputs = LossInputs(batch[task.label_field], own, self.row_weights(task, batch), batch)
            related = [outputs[t.key("probs")] for t in tasks if t.name in task.relations]
            per_task.append(task_loss(inputs, task.weight, random[i] if random else None, related))
        if self.grad_norm is None:
            terms = {name: value for task_terms in per_task for name, value in task_terms.items()}
        else:
            weighted = self.grad_norm([tf.add_n(list(t.values())) for t in per_task],
                                      self.shared_kernel(), GRAD_NORM_STEP_KEY in outputs)
            names = [next(iter(t)) for t in per_task] + ["grad_norm_loss"]
            terms = dict(zip(names, weighted))
        if self.distillation is not None:
            terms.update(self.distillation(outputs, batch))
        return terms

    def shared_kernel(self) -> tf.Variable:
        """The kernel of the last layer every task shares (GradNorm's W); only models with
        `supports_grad_norm` define it."""
        raise NotImplementedError(f"{type(self).__name__} does not support grad_norm")

    def row_weights(self, task: Task, batch: dict[str, tf.Tensor]) -> tf.Tensor | None:
        """[batch] weights of the task's rows (sample weight x task-space weight), or None."""
        weights = None
        if self.sample_weight and task.use_sample_weight:
            weights = tf.cast(batch[self.sample_weight], tf.float32)
        if task.space_label:
            inside = tf.cast(batch[task.space_label] > 0, tf.float32)
            space = task.in_space_weight * inside + task.out_space_weight * (1.0 - inside)
            weights = space if weights is None else weights * space
        return weights

    @property
    def loss_input_names(self) -> list[str]:
        """Input columns the losses read besides labels and sample weight (session ids of
        pairwise / listwise / JRC losses, task-space columns of kd entries)."""
        kd = self.model_config.kd
        names = [session_column(loss) for task in self.tasks for loss in task.loss_entries]
        names += [session_column(entry) for entry in kd]
        names += [entry.task_space_indicator_name for entry in kd]
        return list(dict.fromkeys(n for n in names if n))

    def serving_outputs(self, outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The outputs the exported serving signature returns."""
        keys = [t.key(k) for t in self.tasks for k in SERVING_OUTPUTS]
        return {k: outputs[k] for k in keys if k in outputs}

    def regularization(self, outputs: dict[str, tf.Tensor]) -> tf.Tensor:
        """The sum of regularization_dict."""
        return tf.add_n(list(self.regularization_dict(outputs).values()))

    def regularization_dict(self, outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """As EasyRec reports them: `regularization_loss`, the embedding L2 (on looked-up rows)
        plus the model's dense L2, and `variational_dropout_loss`, the variational dropout
        penalty of the feature groups (when they have one)."""
        emb_reg = float(self.model_config.embedding_regularization)
        terms = {REGULARIZATION: emb_reg * outputs["embedding_l2"] + self.dense_l2()}
        if DROPOUT_PENALTY_KEY in outputs:
            terms[DROPOUT_PENALTY_KEY] = outputs[DROPOUT_PENALTY_KEY]
        return terms

    @property
    def serving_input_names(self) -> list[str]:
        """Raw input columns the exported signature takes."""
        return self.feature_layer.input_names

    def extra_signatures(self) -> dict[str, tuple[list[str], SignatureFunction]]:
        """Exported signatures besides serving_default: name -> (the raw input columns it takes,
        a function of those columns returning named outputs); none by default."""
        return {}

    @classmethod
    def pipeline_arguments(cls, config: pipeline_pb2.EasyRecConfig) -> dict[str, object]:
        """Extra constructor arguments taken from the pipeline config (e.g. data_config's
        negative sampler); by default its STRING input fields (string_columns)."""
        return {"string_columns": passthrough_feature.string_columns(config.data_config)}

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel,  # noqa: ARG003
                        locate: Locate) -> None:  # noqa: ARG003
        """Model-specific config checks (ConfigError); nothing by default."""

    @classmethod
    def validate_pipeline(cls, config: pipeline_pb2.EasyRecConfig,  # noqa: ARG003
                          locate: Locate) -> None:  # noqa: ARG003
        """Checks of the model block against the rest of the pipeline config (label fields,
        input fields, eval metrics), run after validate_config; nothing by default."""


def l2_of(variables: Iterable[tf.Variable]) -> tf.Tensor:
    """Sum of tf.nn.l2_loss over variables."""
    variables = list(variables)
    return tf.add_n([tf.nn.l2_loss(v) for v in variables]) if variables else tf.constant(0.0)

