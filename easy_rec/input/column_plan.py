"""The columns a job reads and what each is for, worked out once from the pipeline config.

`build_column_plan` reads data_config (labels, sample weight), eval_config and the tasks'
metric sets (gauc uid fields) and the feature configs (which feature types read which
column); the reader, the evaluator, the drift guard and the retrieval evaluation take the
resulting `ColumnPlan` instead of each deriving the same lists from the config.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from easy_rec.config.features import feature_configs
from easy_rec.metrics.classification import GROUPED_AUC_FIELDS
from easy_rec.protos import eval_pb2, feature_config_pb2, pipeline_pb2

# Feature types that take a list column (a RaggedTensor) in place of a separator-joined string.
LIST_COLUMN_FEATURES = ("TagFeature", "RawFeature")


@dataclass(frozen=True)
class ColumnPlan:
    """What a job reads: feature inputs, labels, sample weight and grouped-metric keys.

    feature_inputs: the raw input columns the model's features read (its serving inputs).
    labels: data_config.label_fields.
    sample_weight: data_config.sample_weight, None when unset.
    group_keys: columns grouped metrics group rows by (gauc uid fields), first-seen order.
    loss_keys: other columns the losses read (session ids of pairwise / listwise losses,
      task-space columns of distillation losses).
    feature_type_inputs: feature type name (e.g. 'IdFeature') -> the input columns of the
      configured features of that type.
    scalar_uses: column -> a use of it that needs one value per row (label field,
      sample_weight, gauc uid_field, or a feature type outside LIST_COLUMN_FEATURES).
    """

    feature_inputs: tuple[str, ...]
    labels: tuple[str, ...]
    sample_weight: str | None
    group_keys: tuple[str, ...]
    loss_keys: tuple[str, ...]
    feature_type_inputs: Mapping[str, frozenset[str]]
    scalar_uses: Mapping[str, str]

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column to parse: feature inputs, labels, sample weight, group and loss keys."""
        weight = (self.sample_weight,) if self.sample_weight else ()
        return tuple(dict.fromkeys(self.feature_inputs + self.labels + weight + self.group_keys
                                   + self.loss_keys))

    def feature_inputs_of_type(self, type_name: str) -> frozenset[str]:
        """The feature inputs read by features of type `type_name` (e.g. 'RawFeature')."""
        return self.feature_type_inputs.get(type_name, frozenset()) & set(self.feature_inputs)


def gauc_group_fields(metrics_set: Iterable[eval_pb2.EvalMetrics]) -> list[str]:
    """Feature columns that grouped metrics (gauc uid_field, session_auc session_id_field)
    need, in first-seen order."""
    fields: list[str] = []
    for metric in metrics_set:
        kind = metric.WhichOneof("metric")
        if kind in GROUPED_AUC_FIELDS:
            column = getattr(getattr(metric, kind), GROUPED_AUC_FIELDS[kind])
            if column not in fields:
                fields.append(column)
    return fields


def build_column_plan(config: pipeline_pb2.EasyRecConfig, feature_inputs: Sequence[str] = (),
                      task_metrics: Iterable[Sequence[eval_pb2.EvalMetrics]] = (),
                      loss_keys: Sequence[str] = ()) -> ColumnPlan:
    """The plan of `config` for a model reading `feature_inputs`.

    task_metrics: the metric sets of the model's tasks besides eval_config.metrics_set (a
    multi-task tower's own metrics_set); their gauc uid fields are group keys as well.
    loss_keys: columns the model's losses read (one value per row).
    """
    data = config.data_config
    metrics = list(config.eval_config.metrics_set) + [m for ms in task_metrics for m in ms]
    group_keys = tuple(gauc_group_fields(metrics))
    by_type: dict[str, set[str]] = {}
    scalar_uses = {name: "label field" for name in data.label_fields}
    if data.sample_weight:
        scalar_uses[data.sample_weight] = "sample_weight"
    for name in group_keys:
        scalar_uses[name] = "gauc / session_auc group field"
    for name in loss_keys:
        scalar_uses.setdefault(name, "loss column (session ids or task space)")
    for feature in feature_configs(config):
        type_name = feature_config_pb2.FeatureConfig.FeatureType.Name(feature.feature_type)
        by_type.setdefault(type_name, set()).update(feature.input_names)
        if type_name not in LIST_COLUMN_FEATURES:
            for name in feature.input_names:
                scalar_uses.setdefault(name, f"{type_name} {feature.feature_name or name!r}")
    return ColumnPlan(
        feature_inputs=tuple(feature_inputs), labels=tuple(data.label_fields),
        sample_weight=data.sample_weight or None, group_keys=group_keys,
        loss_keys=tuple(loss_keys),
        feature_type_inputs=MappingProxyType({k: frozenset(v) for k, v in by_type.items()}),
        scalar_uses=MappingProxyType(scalar_uses))
