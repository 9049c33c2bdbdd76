"""The checks of a whole pipeline config, in the order they run.

Each section is checked by the package that reads it; this list is the one place that puts
them together. The first problem found is raised, so the order decides which error a config
with several problems reports: options that parse but are not supported first (the reason
is what the user needs to read), then the model block (a wrong block reads better than the
required fields missing inside it), then required fields, data_config, features, the
losses, the backbone, model_config, train_config, eval_config, export_config and the drift
guard.
"""
from __future__ import annotations

from easy_rec.config.context import Check
from easy_rec.config.data_checks import (
    check_batch_size,
    check_data_config_present,
    check_input_field_names,
    check_label_columns,
)
from easy_rec.config.loader import check_required_fields
from easy_rec.config.unsupported import check_unsupported_fields
from easy_rec.distribute.config_checks import check_train_distribute
from easy_rec.export.config_checks import check_asset_files, check_export_config
from easy_rec.features.config_checks import (
    check_feature_groups,
    check_features,
    check_seq_att_groups,
)
from easy_rec.input.config_checks import (
    check_default_values,
    check_ignore_values,
    check_input_paths,
    check_input_type,
    check_kafka_inputs,
    check_label_dims,
    check_parquet_v2_features,
    check_reading_options,
    check_separator,
)
from easy_rec.metrics.config_checks import check_eval_config
from easy_rec.models.backbone.config_checks import check_backbone, check_text_groups
from easy_rec.models.config_checks import (
    check_losses,
    check_matching_settings,
    check_model_block,
    check_model_config,
)
from easy_rec.training.config_checks import check_drift_guard, check_train_config

PIPELINE_CHECKS: tuple[Check, ...] = (
    check_unsupported_fields,
    check_model_block,
    check_required_fields,
    check_data_config_present,
    check_input_type,
    check_input_paths,
    check_kafka_inputs,
    check_separator,
    check_batch_size,
    check_input_field_names,
    check_default_values,
    check_ignore_values,
    check_reading_options,
    check_parquet_v2_features,
    check_label_columns,
    check_label_dims,
    check_features,
    check_feature_groups,
    check_seq_att_groups,
    check_losses,
    check_backbone,
    check_text_groups,
    check_model_config,
    check_matching_settings,
    check_train_config,
    check_train_distribute,
    check_eval_config,
    check_export_config,
    check_asset_files,
    check_drift_guard,
)
