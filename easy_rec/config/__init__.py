"""Pipeline config handling: parse, edit (--edit_config_json), locate and validate.

Nothing here imports TensorFlow; only validation looks model classes up in the model
registry (easy_rec.models), which is imported on first use.
"""
from easy_rec.config.edit import apply_edits
from easy_rec.config.errors import ConfigError
from easy_rec.config.loader import (
                                    LoadedConfig,
                                    feature_configs,
                                    feature_name,
                                    load_pipeline_config,
                                    parse_pipeline_config_text,
                                    save_pipeline_config,
)
from easy_rec.config.locator import FieldLocator
from easy_rec.config.validate import validate_pipeline_config

__all__ = [
    "ConfigError", "FieldLocator", "LoadedConfig", "apply_edits", "feature_configs", "feature_name",
    "load_pipeline_config", "parse_pipeline_config_text", "save_pipeline_config",
    "validate_pipeline_config",
]
