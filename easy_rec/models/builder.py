"""Builds the configured model from a pipeline config through the registry."""
from __future__ import annotations

from easy_rec.config.features import feature_configs
from easy_rec.input.column_plan import ColumnPlan, build_column_plan
from easy_rec.models.base import RankModel
from easy_rec.models.registry import get_model_class
from easy_rec.protos import pipeline_pb2


def build_model(config: pipeline_pb2.EasyRecConfig, base_dir: str | None = None) -> RankModel:
    """The model named by model_config.model_class, with its feature layer."""
    cls = get_model_class(config.model_config.model_class)
    data = config.data_config
    return cls(config.model_config, feature_configs(config), base_dir,
               label_fields=list(data.label_fields) or ["label"],
               sample_weight=data.sample_weight or None, **cls.pipeline_arguments(config))


def model_column_plan(config: pipeline_pb2.EasyRecConfig, model: RankModel) -> ColumnPlan:
    """The column plan of `model` trained and evaluated as `config` says: its serving inputs,
    the group keys of eval_config's metrics and of every task's own metrics_set, and the
    columns its losses read."""
    return build_column_plan(config, model.serving_input_names, [t.metrics for t in model.tasks],
                             model.loss_input_names)
