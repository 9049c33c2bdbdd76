"""Shared command-line plumbing of the easy_rec entry points (train, eval, export)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable

from easy_rec.config.errors import ConfigError
from easy_rec.config.loader import LoadedConfig
from easy_rec.pipeline import load_pipeline_config


def setup_logging() -> None:
    """INFO-level logging with timestamps; TensorFlow's C++ chatter reduced to warnings."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--pipeline_config, --edit_config_json and the EasyRec path overrides."""
    parser.add_argument("--pipeline_config", "--pipeline_config_path", dest="pipeline_config",
                        required=True, help="pipeline config file (protobuf text format)")
    parser.add_argument("--edit_config_json", default=None,
                        help='JSON object of overrides, e.g. \'{"train_config.num_steps": 100}\'')
    parser.add_argument("--model_dir", default=None, help="overrides model_dir")
    parser.add_argument("--train_input_path", default=None, help="overrides train_input_path")
    parser.add_argument("--eval_input_path", default=None, help="overrides eval_input_path")


def load_config(args: argparse.Namespace) -> LoadedConfig:
    """Parses, edits and validates the pipeline config named on the command line."""
    edits: dict = {}
    if args.edit_config_json:
        try:
            edits = json.loads(args.edit_config_json)
        except json.JSONDecodeError as error:
            raise ConfigError(f"--edit_config_json is not valid JSON: {error}",
                              path="<edit_config_json>") from None
    for key in ("model_dir", "train_input_path", "eval_input_path"):
        if getattr(args, key):
            edits[key] = getattr(args, key)
    return load_pipeline_config(args.pipeline_config, edits or None)


def run(main: Callable[[], int]) -> None:
    """Runs `main`, turning config and input errors into a message and exit status 1."""
    from easy_rec.tables.errors import InputError
    from easy_rec.training.trainer import InputStateError, MalformedInputError
    from easy_rec.utils.writable import NotWritableError

    setup_logging()
    try:
        status = main()
    except (ConfigError, InputError, MalformedInputError, InputStateError, NotWritableError,
            FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        status = 1
    sys.exit(status)
