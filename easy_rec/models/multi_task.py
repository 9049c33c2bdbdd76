"""Base of the multi-task models: one named task per task tower, tower heads and the config
checks every multi-task model shares (tower names, labels, per-task metrics)."""
from __future__ import annotations

import re
from collections.abc import Sequence

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.config.errors import ConfigError
from easy_rec.features.feature_layer import FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.metrics.classification import GAUC_REDUCTIONS, GROUPED_AUC_FIELDS
from easy_rec.models.base import RankModel, Task
from easy_rec.models.checks import require_groups
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import model_config_field
from easy_rec.protos import (
    dataset_pb2,
    dnn_pb2,
    easy_rec_model_pb2,
    loss_pb2,
    pipeline_pb2,
    tower_pb2,
)

_REGRESSION_METRICS = frozenset(
    {"mean_squared_error", "mean_absolute_error", "root_mean_squared_error"})
# a task tower's message: TaskTower, or BayesTaskTower (DBMTL)
TaskTowerMessage = tower_pb2.TaskTower | tower_pb2.BayesTaskTower
# (field path of a tower in the pipeline config, the TaskTower / BayesTaskTower message)
TowerAt = tuple[str, TaskTowerMessage]


class TowerHead(tf.Module):
    """A task's MLP (identity when its DNN has no hidden_units) and its output layer."""

    def __init__(self, input_dim: int, dnn_config: dnn_pb2.DNN, output_dim: int,
                 name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.dnn = MLP(input_dim, **mlp_kwargs(dnn_config), name="dnn")
            self.output = Dense(self.dnn.output_dim, output_dim, name="output")

    def __call__(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        """[batch, output_dim] logits."""
        return self.output(self.dnn(x, training))



def task_of(tower: TaskTowerMessage, index: int, label_fields: Sequence[str],
            name: str | None = None) -> Task:
    """The Task a TaskTower / BayesTaskTower describes; an empty label_name means the label
    field at the tower's position."""
    return Task(name or tower.tower_name, tower.label_name or label_fields[index],
                tower.loss_type, max(int(tower.num_class), 1), float(tower.weight),
                tuple(tower.metrics_set), losses=tuple(tower.losses),
                use_sample_weight=tower.use_sample_weight,
                space_label=tower.task_space_indicator_label,
                in_space_weight=float(tower.in_task_space_weight),
                out_space_weight=float(tower.out_task_space_weight),
                relations=tuple(getattr(tower, "relation_tower_names", ())))


def config_error(locate: Locate, field: str, reason: str) -> ConfigError:
    """ConfigError for `field` at its line."""
    return ConfigError(reason, line=locate(field), field=field)


class MultiTaskModel(RankModel):
    """A model with one task per `task_towers` entry of its block.

    Subclasses implement `task_logits` (one [batch, output_dim] tensor per task, in tower
    order); outputs are `probs_<tower_name>`, `logits_<tower_name>` / `y_<tower_name>`.
    """

    # names a tower may not take because the model derives an output of that name
    reserved_tower_names: tuple[str, ...] = ()
    #: the losses are the task towers' (task_towers { losses }), not model_config.losses
    reads_losses = False

    @property
    def tasks(self) -> list[Task]:
        return [task_of(t, i, self.label_fields) for i, t in enumerate(self.params.task_towers)]

    def task_logits(self, features: FeatureLayerOutput, training: bool) -> list[tf.Tensor]:
        """Pre-activation scores of every task, in tower order."""
        raise NotImplementedError

    def task_outputs(self, features: FeatureLayerOutput, training: bool) -> dict[str, tf.Tensor]:
        outputs: dict[str, tf.Tensor] = {}
        for task, logits in zip(self.tasks, self.task_logits(features, training)):
            outputs.update(self.outputs_from_logits(logits, task))
        return outputs

    # -- config checks -----------------------------------------------------------------
    @classmethod
    def towers_in(cls, model_config: easy_rec_model_pb2.EasyRecModel) -> list[TowerAt]:
        """(field path, message) of every task tower of the model's block."""
        field = model_config_field(model_config.model_class)
        towers = getattr(model_config, field).task_towers
        return [(f"model_config.{field}.task_towers[{i}]", t) for i, t in enumerate(towers)]

    @classmethod
    def input_groups(cls, model_config: easy_rec_model_pb2.EasyRecModel) -> list[str]:
        """Feature groups the model reads: 'all', or none of its own with a backbone (which
        names the groups it reads)."""
        return [] if model_config.HasField("backbone") else ["all"]

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_groups(model_config, cls.input_groups(model_config), locate)
        towers = cls.towers_in(model_config)
        if not towers:
            field = f"model_config.{model_config_field(model_config.model_class)}"
            raise config_error(locate, field, f"{model_config.model_class} needs at least one "
                               "task_towers block")
        check_tower_names(towers, locate, cls.reserved_tower_names)

    @classmethod
    def validate_pipeline(cls, config: pipeline_pb2.EasyRecConfig, locate: Locate) -> None:
        check_task_labels(cls.towers_in(config.model_config), config.data_config, locate)
        for where, tower in cls.towers_in(config.model_config):
            check_task_metrics(where, tower, config, locate)


def check_tower_names(towers: Sequence[TowerAt], locate: Locate,
                      reserved: Sequence[str] = ()) -> None:
    """Tower names are identifiers, unique and not in `reserved`; num_class >= 1."""
    seen: dict[str, str] = {}
    for where, tower in towers:
        name = tower.tower_name
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise config_error(locate, f"{where}.tower_name", f"tower_name {name!r} must be "
                               "non-empty letters, digits and '_' (it names outputs and metrics)")
        if name in seen:
            raise config_error(locate, f"{where}.tower_name", f"tower_name {name!r} is used "
                               f"twice (first by {seen[name]}, line {locate(seen[name])})")
        if name in reserved:
            raise config_error(locate, f"{where}.tower_name", f"tower_name {name!r} is "
                               f"reserved for a derived output ({', '.join(reserved)})")
        seen[name] = where
        if tower.num_class < 1:
            raise config_error(locate, f"{where}.num_class",
                               f"num_class must be >= 1, got {tower.num_class}")


def check_relation_towers(towers: Sequence[TowerAt], locate: Locate) -> None:
    """Every relation_tower_names entry names a tower defined before the one that lists it."""
    earlier: set[str] = set()
    for where, tower in towers:
        for j, name in enumerate(tower.relation_tower_names):
            if name not in earlier:
                raise config_error(locate, f"{where}.relation_tower_names[{j}]", f"tower "
                                   f"{tower.tower_name!r} depends on {name!r}, which is not a "
                                   f"tower defined before it (earlier towers: "
                                   f"{', '.join(sorted(earlier)) or 'none'})")
        earlier.add(tower.tower_name)


def check_task_labels(towers: Sequence[TowerAt], data_config: dataset_pb2.DatasetConfig,
                      locate: Locate) -> None:
    """Every tower's label_name (or, when empty, the label field at its position) is one of
    data_config.label_fields."""
    labels = list(data_config.label_fields) or ["label"]
    for index, (where, tower) in enumerate(towers):
        if not tower.label_name:
            if index >= len(labels):
                raise config_error(locate, where, f"task tower {tower.tower_name!r} has no "
                                   f"label_name and data_config.label_fields has no entry "
                                   f"#{index} (label fields: {', '.join(labels)})")
            continue
        if tower.label_name not in labels:
            raise config_error(locate, f"{where}.label_name", f"label_name "
                               f"{tower.label_name!r} of task tower {tower.tower_name!r} is not "
                               f"in data_config.label_fields ({', '.join(labels)})")


def check_task_metrics(where: str, tower: TaskTowerMessage, config: pipeline_pb2.EasyRecConfig,
                       locate: Locate) -> None:
    """The task's metrics (its own metrics_set, else eval_config's) fit its outputs: regression
    metrics need a value output (y), classification metrics class probabilities; gauc keys are
    inputs."""
    own = bool(tower.metrics_set)
    metrics = tower.metrics_set if own else config.eval_config.metrics_set
    prefix = f"{where}.metrics_set" if own else "eval_config.metrics_set"
    task = task_of(tower, 0, ["label"])
    inputs = {f.input_name for f in config.data_config.input_fields}
    for i, metric in enumerate(metrics):
        field = f"{prefix}[{i}]"
        kind = metric.WhichOneof("metric")
        if kind is None:
            raise config_error(locate, field, "empty metrics_set entry")
        regression_metric = kind in _REGRESSION_METRICS
        if not (task.predicts_value if regression_metric else not task.is_regression):
            needs = "regression" if regression_metric else "classification"
            losses = ", ".join(dict.fromkeys(loss_pb2.LossType.Name(loss.loss_type)
                                             for loss in task.loss_entries))
            hint = "" if own else (f"; give {where} its own metrics_set (e.g. metrics_set "
                                   f"{{ {'auc' if regression_metric else 'root_mean_squared_error'}"
                                   f" {{}} }})")
            raise config_error(locate, field, f"metric {kind} is a {needs} metric but task "
                               f"{tower.tower_name!r} is trained with {losses}{hint}")
        if kind in GROUPED_AUC_FIELDS:  # gauc, session_auc
            settings, column_field = getattr(metric, kind), GROUPED_AUC_FIELDS[kind]
            column = getattr(settings, column_field)
            if column not in inputs:
                raise config_error(locate, f"{field}.{kind}.{column_field}", f"{kind} "
                                   f"{column_field} {column!r} is not in data_config.input_fields")
            if settings.reduction not in GAUC_REDUCTIONS:
                raise config_error(locate, f"{field}.{kind}.reduction", f"{kind} reduction "
                                   f"{settings.reduction!r} is not one of "
                                   f"{', '.join(GAUC_REDUCTIONS)}")
