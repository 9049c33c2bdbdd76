"""Pipeline configs checked in full: every section by the package that reads it.

`easy_rec.config` parses and edits configs and knows nothing of features, models or
readers; this package sits above all of them and runs their checks (`checks.PIPELINE_CHECKS`)
on load. Entry points, tools and tests load configs through here.
"""
from __future__ import annotations

import logging

from google.protobuf.message import Message

from easy_rec.config.context import CheckContext, Locate
from easy_rec.config.loader import REQUIRED_ONLY, Edits, LoadedConfig
from easy_rec.config.loader import load_pipeline_config as _load
from easy_rec.config.loader import parse_pipeline_config_text as _parse
from easy_rec.pipeline.checks import PIPELINE_CHECKS
from easy_rec.utils.pipeline_files import save_pipeline_config

__all__ = ["PIPELINE_CHECKS", "load_pipeline_config", "parse_pipeline_config_text",
           "save_pipeline_config", "validate_pipeline_config"]

logger = logging.getLogger(__name__)


def load_pipeline_config(path: str, edits: Edits = None, validate: bool = True) -> LoadedConfig:
    """Reads the config at `path`, applies `edits` (``--edit_config_json`` semantics) and runs
    every check (only the required-field check when `validate` is False)."""
    return _load(path, edits, PIPELINE_CHECKS if validate else REQUIRED_ONLY)


def parse_pipeline_config_text(text: str, path: str = "<string>", edits: Edits = None,
                               validate: bool = True) -> LoadedConfig:
    """`load_pipeline_config` for config text (attributed to file `path` in errors)."""
    return _parse(text, path, edits, PIPELINE_CHECKS if validate else REQUIRED_ONLY)


def validate_pipeline_config(config: Message, locate: Locate, path: str) -> None:
    """Runs every check on an already parsed config; raises the first ConfigError."""
    CheckContext(config, path, locate).run(PIPELINE_CHECKS)
    logger.debug("config %s passed validation", path)
