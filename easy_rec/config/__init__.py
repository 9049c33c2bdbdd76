"""Pipeline config language: parse, edit (--edit_config_json), locate fields, run checks.

A leaf package: it depends on the generated protos and the standard library only. The checks
of each config section live with the package that reads the section; `easy_rec.pipeline`
runs them all.
"""
from easy_rec.config.context import Check, CheckContext
from easy_rec.config.edit import apply_edits
from easy_rec.config.errors import ConfigError
from easy_rec.config.features import feature_configs, feature_list_field, feature_name
from easy_rec.config.loader import (
    LoadedConfig,
    check_required_fields,
    load_pipeline_config,
    parse_pipeline_config_text,
)
from easy_rec.config.locator import FieldLocator

__all__ = [
    "Check", "CheckContext", "ConfigError", "FieldLocator", "LoadedConfig", "apply_edits",
    "check_required_fields", "feature_configs", "feature_list_field", "feature_name",
    "load_pipeline_config", "parse_pipeline_config_text",
]
