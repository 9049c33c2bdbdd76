"""Writing pipeline configs: the text EasyRec writes (text format, UTF-8 kept readable), put
in place atomically, under the names EasyRec uses (model_dir/pipeline.config, and
assets/pipeline.config inside a SavedModel)."""
from __future__ import annotations

import logging
import os

from google.protobuf import text_format
from google.protobuf.message import Message

from easy_rec.utils.files import atomic_write_text

logger = logging.getLogger(__name__)

#: file name of the config as run, in model_dir and in a SavedModel's assets
PIPELINE_CONFIG_NAME = "pipeline.config"
#: where a SavedModel export keeps the config it was made from
SAVED_MODEL_CONFIG = os.path.join("assets", PIPELINE_CONFIG_NAME)


def saved_model_config_path(saved_model_dir: str) -> str | None:
    """The pipeline config inside a SavedModel export; None for an export without one."""
    path = os.path.join(saved_model_dir, SAVED_MODEL_CONFIG)
    return path if os.path.isfile(path) else None


def pipeline_config_text(config: Message) -> str:
    """`config` in protobuf text format (non-ASCII text as UTF-8, as EasyRec writes it)."""
    return text_format.MessageToString(config, as_utf8=True)


def save_pipeline_config(config: Message, path: str) -> None:
    """Writes `config` in text format to `path` atomically (temp file + rename)."""
    atomic_write_text(path, pipeline_config_text(config))
    logger.info("wrote pipeline config %s", path)
