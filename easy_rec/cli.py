"""Shared command-line plumbing of the easy_rec entry points: parsers, the console, errors.

Importing this module and building a parser never import TensorFlow, so ``--help`` is quick;
an entry point imports its TensorFlow code after `parse_args`. Without ``--verbose`` the
console carries easy_rec's own log lines and errors only: TensorFlow's and absl's info and
warning lines (its start-up banner included) are left out.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence

from easy_rec.config.errors import ConfigError
from easy_rec.config.loader import LoadedConfig

CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONFIG_INPUTS = ("train_input_path", "eval_input_path")
# What TensorFlow's C++ libraries print while they load, before absl logging is initialized
# (TF_CPP_MIN_LOG_LEVEL does not reach these): info / warning lines like
# "I0000 00:00:1796264370.141024   17525 port.cc:153] oneDNN custom operations are on. ...".
_LOAD_NOISE = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\)"
                         r"|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] ")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout; adds "(default: X)" to an option's help unless the
    option is required, its default is empty, or its help already speaks of the default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.required or not action.option_strings or "default" in text
                or action.default in (None, False, "", argparse.SUPPRESS)):
            return text
        return f"{text} (default: %(default)s)".lstrip()


def build_parser(module: str, description: str | None) -> argparse.ArgumentParser:
    """A parser whose usage reads ``python -m <module>``, with defaults shown and --verbose."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's and absl's info and warning lines and "
                             "easy_rec's debug lines")
    return parser


def add_config_arguments(parser: argparse.ArgumentParser,
                         inputs: Sequence[str] = CONFIG_INPUTS,
                         config_help: str | None = None) -> None:
    """--pipeline_config, --edit_config_json, --model_dir and the input path overrides that
    apply to the command (`inputs`: some of CONFIG_INPUTS). With `config_help`,
    --pipeline_config is optional and described by it (the command finds a config itself)."""
    parser.add_argument("--pipeline_config", "--pipeline_config_path", dest="pipeline_config",
                        required=config_help is None,
                        help=config_help or "pipeline config file (protobuf text format)")
    parser.add_argument("--edit_config_json", default=None,
                        help='JSON object of overrides, e.g. \'{"train_config.num_steps": 100}\'')
    parser.add_argument("--model_dir", default=None, help="overrides model_dir")
    for name in inputs:
        parser.add_argument(f"--{name}", default=None, help=f"overrides {name}")


def load_config(args: argparse.Namespace) -> LoadedConfig:
    """Parses, edits and validates the pipeline config named on the command line."""
    from easy_rec.pipeline import load_pipeline_config

    edits: dict = {}
    if args.edit_config_json:
        try:
            edits = json.loads(args.edit_config_json)
        except json.JSONDecodeError as error:
            raise ConfigError(f"--edit_config_json is not valid JSON: {error}",
                              path="<edit_config_json>") from None
    for key in ("model_dir", *CONFIG_INPUTS):
        if getattr(args, key, None):
            edits[key] = getattr(args, key)
    return load_pipeline_config(args.pipeline_config, edits or None)


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None, *,
               tensorflow: bool = True) -> argparse.Namespace:
    """Parses the command line and sets up the console by --verbose; a command that runs
    TensorFlow (`tensorflow`) has it imported now, its start-up banner left out unless
    --verbose."""
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if tensorflow and not args.verbose:
        import_tensorflow_quietly()
    return args


def setup_logging(verbose: bool = False) -> None:
    """INFO lines with timestamps on stderr; TensorFlow's and absl's lines (C++ and Python)
    only from errors up, unless `verbose` (then also theirs from INFO and easy_rec's DEBUG).

    Call it before TensorFlow is imported: TensorFlow reads TF_CPP_MIN_LOG_LEVEL when it loads,
    and adds its own console handler (printing every line twice) when the root logger has none.
    """
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format=CONSOLE_FORMAT)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO if verbose else absl_logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.INFO if verbose else logging.ERROR)
    logging.getLogger("easy_rec").setLevel(logging.DEBUG if verbose else logging.INFO)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with the info and warning lines its C++ libraries write to stderr
    while loading (the oneDNN and CPU-feature notices) dropped; other output passes through."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines(keepends=True)
            sys.stderr.write("".join(ln for ln in lines if not _LOAD_NOISE.match(ln)))


def _reported_errors() -> tuple[type[Exception], ...]:
    """The errors `run` reports as ``error: ...`` with exit status 1 (imported when one is
    raised: some live beside TensorFlow code)."""
    from easy_rec.tables.errors import InputError
    from easy_rec.training.trainer import InputStateError, MalformedInputError
    from easy_rec.utils.writable import NotWritableError

    return (ConfigError, InputError, MalformedInputError, InputStateError, NotWritableError,
            FileNotFoundError)


def run(main: Callable[[], int]) -> None:
    """Runs `main`, turning config and input errors into a message and exit status 1."""
    try:
        status = main()
    except Exception as error:
        if not isinstance(error, _reported_errors()):
            raise
        print(f"error: {error}", file=sys.stderr)
        status = 1
    sys.exit(status)
