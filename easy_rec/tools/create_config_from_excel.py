"""`python -m easy_rec.tools.create_config_from_excel`: a pipeline config from an Excel workbook.

    python -m easy_rec.tools.create_config_from_excel --model_type deepfm \\
        --excel_path samples/excel/deepfm.xlsx --output_path deepfm.config \\
        --train_input_path samples/data/movielens_train.csv \\
        --eval_input_path samples/data/movielens_test.csv --column_separator '\\t'

Reads EasyRec's workbook layout (sheets features, global, group, types, basic_types; see
docs/excel_config.md), checks it, builds the config, checks the config like
``easy_rec.train --check_config_only`` does and writes it atomically. A bad workbook is reported
as ``x.xlsx: sheet 'features' row 7 column 'type': <what is wrong>`` with exit status 1, and no
file is written.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys

from easy_rec import cli
from easy_rec.config.errors import ConfigError
from easy_rec.tools.excel import (
    MODEL_TYPES,
    ConvertOptions,
    ExcelConfigError,
    GeneratedConfig,
    assign_groups,
    build_config,
    read_workbook,
)
from easy_rec.tools.excel.builder import DEFAULT_MODEL_DIR
from easy_rec.utils.files import atomic_write_text

logger = logging.getLogger("easy_rec.tools.create_config_from_excel")

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|[tnr\\])")
_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}


def unescape_separator(text: str) -> str:
    """``\\t``, ``\\001``, ``\\x01`` and ``\\\\`` typed on a command line as the characters."""
    def replace(match: re.Match) -> str:
        code = match.group(1)
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        return chr(int(code[1:], 16)) if code[0] == "x" else chr(int(code, 8))
    return _ESCAPE.sub(replace, text)


def convert(excel_path: str, output_path: str, options: ConvertOptions) -> GeneratedConfig:
    """Reads the workbook, builds and checks the config, writes it to `output_path`.

    Raises ExcelConfigError (nothing is written) for a bad workbook.
    """
    from easy_rec.pipeline import save_pipeline_config

    spec = read_workbook(excel_path)
    groups = assign_groups(spec, options.model_type)
    generated = build_config(spec, groups, options)
    check_generated(generated, excel_path, output_path)
    if generated.supported:
        save_pipeline_config(generated.message(), output_path)
    else:
        atomic_write_text(output_path, generated.text())
        logger.info("wrote pipeline config %s", output_path)
    return generated


def check_generated(generated: GeneratedConfig, excel_path: str, output_path: str) -> None:
    """Parses and validates the generated config (without its model block when this
    framework's proto lacks that block: then only parsed, not validated)."""
    from easy_rec.pipeline import parse_pipeline_config_text

    try:
        if generated.supported:
            parse_pipeline_config_text(generated.text(), output_path, validate=True)
            return
        parse_pipeline_config_text(generated.text_without_model_block(), output_path,
                                   validate=False)
    except ConfigError as error:
        where = f"{error.field}: " if error.field else ""
        raise ExcelConfigError(f"the config built from the workbook is invalid: {where}"
                               f"{error.reason}", path=excel_path) from None
    logger.warning("model_class %s is not implemented by this framework (no %r block in "
                   "model_config): the config was parsed without that block and not validated",
                   generated.config.model_config.model_class, generated.block_field)


def build_parser() -> argparse.ArgumentParser:
    """The command line of the tool."""
    parser = cli.build_parser("easy_rec.tools.create_config_from_excel", __doc__)
    parser.add_argument("--model_type", required=True, choices=MODEL_TYPES,
                        help="model of the config; the workbook's groups must match it")
    parser.add_argument("--excel_path", required=True,
                        help="the .xlsx workbook (.xls needs xlrd installed)")
    parser.add_argument("--output_path", required=True, help="the config file to write")
    parser.add_argument("--train_input_path", default="", help="train_input_path of the config")
    parser.add_argument("--eval_input_path", default="", help="eval_input_path of the config")
    parser.add_argument("--model_dir", default="", help=f"model_dir (default {DEFAULT_MODEL_DIR})")
    parser.add_argument("--column_separator", default=",",
                        help="separator between the columns of the data files ('\\t' for tab)")
    parser.add_argument("--incol_separator", default="|",
                        help="separator inside tags and indexes columns")
    return parser


def options_from_args(args: argparse.Namespace) -> ConvertOptions:
    """ConvertOptions from the command line; bad separators raise ConfigError."""
    column, incol = unescape_separator(args.column_separator), \
        unescape_separator(args.incol_separator)
    if not column or not incol:
        raise ConfigError("--column_separator and --incol_separator must not be empty")
    if column == incol:
        raise ConfigError(f"--column_separator and --incol_separator are both {column!r}; the "
                          "separator inside tags columns must differ from the column separator")
    return ConvertOptions(model_type=args.model_type, train_input_path=args.train_input_path,
                          eval_input_path=args.eval_input_path,
                          model_dir=args.model_dir or DEFAULT_MODEL_DIR,
                          column_separator=column, incol_separator=incol)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 written, 1 bad workbook or config)."""
    args = cli.parse_args(build_parser(), argv)
    try:
        options = options_from_args(args)
        convert(args.excel_path, args.output_path, options)
    except (ConfigError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not args.model_dir:
        logger.warning("--model_dir is not given; the config uses %s", DEFAULT_MODEL_DIR)
    if not args.train_input_path or not args.eval_input_path:
        logger.info("set train_input_path and eval_input_path in %s (or pass them to "
                    "easy_rec.train)", args.output_path)
    print(f"{args.output_path}: written ({options.model_type} config from {args.excel_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
