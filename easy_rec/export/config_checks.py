"""Checks of export_config: a known exporter_type, for the best exporter a metric that
evaluation reports, and user features of a model that can score one user × N items."""
from __future__ import annotations

import os

from easy_rec.config.context import CheckContext
from easy_rec.config.features import feature_name
from easy_rec.config.resources import (
    asset_file_name,
    config_file_candidates,
    resolve_config_file,
)
from easy_rec.export.multi_value import list_columns
from easy_rec.export.policy import EXPORTER_TYPES, best_metric
from easy_rec.export.user_items import SIGNATURE
from easy_rec.models.registry import get_model_class, registered_models
from easy_rec.utils.pipeline_files import SAVED_MODEL_CONFIG


def check_export_config(ctx: CheckContext) -> None:
    """exporter_type is known; asset file names do not collide; multi-value inputs are list
    columns; best_exporter_metric is a configured eval metric."""
    export = ctx.config.export_config
    check_asset_names(ctx)
    check_multi_value_fields(ctx)
    check_user_features(ctx)
    if export.exporter_type not in EXPORTER_TYPES:
        ctx.fail("export_config.exporter_type", f"exporter_type {export.exporter_type!r} "
                 f"is not one of {', '.join(EXPORTER_TYPES)}")
    if export.exporter_type != "best":
        return
    if not best_metric(ctx.config):
        ctx.fail("export_config.best_exporter_metric", f"best_exporter_metric "
                 f"{export.best_exporter_metric!r} is not a configured eval metric, and there "
                 "is none to use instead (eval_config.metrics_set is empty)")


def check_asset_names(ctx: CheckContext) -> None:
    """asset_files entries land in the export's assets/ under their base names: those must
    differ from each other and from the pipeline config the export carries."""
    taken = {os.path.basename(SAVED_MODEL_CONFIG): "the pipeline config of the export"}
    for i, entry in enumerate(ctx.config.export_config.asset_files):
        name = os.path.basename(asset_file_name(entry))
        if not name or name in taken:
            ctx.fail(f"export_config.asset_files[{i}]", f"asset file {entry!r} would be "
                     f"assets/{name} in the export, which is already {taken.get(name, 'a folder')}")
        taken[name] = repr(entry)


def check_multi_value_fields(ctx: CheckContext) -> None:
    """Each multi_value_fields column is one a feature reads as a list."""
    listed = list_columns(ctx.config)
    for i, name in enumerate(ctx.config.export_config.multi_value_fields.input_name):
        if name not in listed:
            ctx.fail(f"export_config.multi_value_fields.input_name[{i}]", f"{name!r} is not "
                     "read as a list by any feature (the inputs of a TagFeature or "
                     "SequenceFeature, a RawFeature with raw_input_dim > 1), so it cannot be a "
                     "multi-value input")


def check_user_features(ctx: CheckContext) -> None:
    """user_features name configured features, user_feature_groups feature groups, and a
    model that cannot score one user × N items declares neither (export.user_items)."""
    export = ctx.config.export_config
    features = {feature_name(config) for _, config in ctx.features}
    for i, name in enumerate(export.user_features):
        if name not in features:
            ctx.fail(f"export_config.user_features[{i}]", f"user feature {name!r} is not a "
                     "configured feature (feature_name, else its first input name)")
    groups = [g.group_name for g in ctx.config.model_config.feature_groups]
    for i, name in enumerate(export.user_feature_groups):
        if name not in groups:
            ctx.fail(f"export_config.user_feature_groups[{i}]", f"{name!r} is not a feature "
                     f"group of model_config (groups: {', '.join(groups) or 'none'})")
    declared = "user_features" if export.user_features else "user_feature_groups"
    model_class = ctx.config.model_config.model_class
    if (export.user_features or export.user_feature_groups) and model_class in registered_models():
        refusal = get_model_class(model_class).user_items_refusal
        if refusal:
            ctx.fail(f"export_config.{declared}", f"{model_class} cannot export the "
                     f"{SIGNATURE} signature that user features ask for: {refusal}",
                     f"export_config.{declared}[0]")


def check_asset_files(ctx: CheckContext) -> None:
    """Each asset_files entry names an existing file."""
    for i, entry in enumerate(ctx.config.export_config.asset_files):
        name = asset_file_name(entry)
        if resolve_config_file(name, ctx.base_dir) is None:
            tried = ", ".join(config_file_candidates(name, ctx.base_dir))
            ctx.fail(f"export_config.asset_files[{i}]", f"asset file {name} does not exist "
                     f"(tried {tried})")
