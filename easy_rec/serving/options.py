"""Options of a batch prediction run, and how command-line text and pipeline configs fill them."""
from __future__ import annotations

import argparse
import codecs
import json
from dataclasses import dataclass, field

from easy_rec.protos import dataset_pb2, pipeline_pb2
from easy_rec.tables.errors import PredictError
from easy_rec.utils.pipeline_files import saved_model_config_path

DEFAULT_SEPARATOR = ","


@dataclass
class PredictOptions:
    """Everything `batch_predict` needs.

    `column_names` names the columns of header-less CSV input in file order; `defaults` maps an
    input column to the text that stands for its empty / null cells (else the dtype's zero).
    `chunk_rows` bounds the rows held in memory at a time (CSV additionally reads about
    `block_bytes` of text at a time); `batch_size` is the rows per signature call.
    """

    saved_model_dir: str
    input_path: str
    output_path: str
    reserved_cols: list[str] = field(default_factory=list)
    output_cols: list[str] | None = None
    batch_size: int = 1024
    chunk_rows: int = 65536
    block_bytes: int = 16 << 20
    input_format: str | None = None
    output_format: str | None = None
    separator: str = DEFAULT_SEPARATOR
    list_separator: str | None = None
    with_header: bool = False
    column_names: list[str] | None = None
    defaults: dict[str, str] = field(default_factory=dict)
    ignore_error: bool = False
    progress: bool | None = None
    #: the embedding store of a split export (docs/embedding_store.md)
    redis_url: str | None = None


def split_names(text: str | None) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c']; None or '' -> []."""
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def parse_typed_input_fields(text: str) -> list[tuple[str, str | None]]:
    """(name, FieldType name or None) pairs from 'name:TYPE,name,...'; PredictError for an
    unknown TYPE or a name given twice."""
    fields = []
    for item in split_names(text):
        name, _, type_name = item.partition(":")
        type_name = type_name.strip().upper()
        if type_name and type_name not in dataset_pb2.DatasetConfig.FieldType.keys():
            raise PredictError(f"--input_fields: {item!r}: unknown type {type_name} (use one of "
                               f"{', '.join(dataset_pb2.DatasetConfig.FieldType.keys())})")
        fields.append((name.strip(), type_name or None))
    if len({name for name, _ in fields}) != len(fields):
        raise PredictError(f"--input_fields names a column twice: {text}")
    return fields


def parse_input_fields(text: str) -> list[str]:
    """Column names from 'name:TYPE,name,...' (TYPE, if given, must be a FieldType name;
    values are converted to the SavedModel's input dtypes whatever the TYPE says)."""
    return [name for name, _ in parse_typed_input_fields(text)]


def parse_defaults(text: str | None) -> dict[str, str]:
    """'{"age": 0, "city": "unknown"}' -> {'age': '0', 'city': 'unknown'}."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise PredictError(f"--defaults is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise PredictError("--defaults must be a JSON object of column: value")
    return {str(k): _default_text(v) for k, v in value.items()}


def _default_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def decode_separator(text: str) -> str:
    r"""Command-line separator with escapes decoded: '\t' -> tab, '\001' -> chr(1)."""
    return codecs.decode(text, "unicode_escape")


def apply_data_config(options: PredictOptions, data_config: dataset_pb2.DatasetConfig,
                      separator_given: bool) -> None:
    """Fills what the options leave open from a pipeline config's data_config: column names,
    separator (unless given), with_header, and default_val of the input fields (explicit
    `options.defaults` win)."""
    if not options.column_names:
        options.column_names = [f.input_name for f in data_config.input_fields]
    if not separator_given:
        options.separator = data_config.separator
    options.with_header = options.with_header or data_config.with_header
    config_defaults = {f.input_name: f.default_val for f in data_config.input_fields
                       if f.HasField("default_val")}
    options.defaults = {**config_defaults, **options.defaults}


def add_table_arguments(parser: argparse.ArgumentParser, chunk_help: str,
                        batch_help: str = "rows per model call", batch_size: int = 1024) -> None:
    """Adds the options every command over an input table shares: batching, the input
    format and CSV layout, a pipeline config to take them from, defaults, errors, progress."""
    parser.add_argument("--batch_size", type=int, default=batch_size, help=batch_help)
    parser.add_argument("--chunk_rows", type=int, default=65536, help=chunk_help)
    parser.add_argument("--input_format", choices=["csv", "parquet"], default=None,
                        help="default: from the input extension (.parquet/.pq: parquet)")
    parser.add_argument("--separator", default=None,
                        help=r"CSV separator, escapes allowed ('\t', '\001'); default ',' "
                             "or the pipeline config's")
    parser.add_argument("--with_header", action="store_true",
                        help="the CSV input starts with a header line of column names")
    parser.add_argument("--input_fields", default=None,
                        help="column names of header-less CSV in order: name[:TYPE],...")
    parser.add_argument("--pipeline_config", default=None,
                        help="take column names, separator, with_header and default values "
                             "from this config's data_config")
    parser.add_argument("--defaults", default=None,
                        help='JSON object: value of empty cells per input, e.g. \'{"age": 30}\'')
    parser.add_argument("--ignore_error", action="store_true",
                        help="skip and count rows that do not parse instead of failing")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")


def options_from_arguments(args: argparse.Namespace,
                           config: pipeline_pb2.EasyRecConfig | None = None,
                           **extra) -> PredictOptions:
    """PredictOptions from the arguments add_table_arguments defines (plus saved_model_dir,
    input_path, output_path; empty for a command without them) and `extra` fields; the
    data_config of `config` (the pipeline config the caller loaded), else of
    --pipeline_config, else of the config inside the export, applied last."""
    from easy_rec.config.loader import load_pipeline_config

    options = PredictOptions(
        saved_model_dir=args.saved_model_dir, input_path=args.input_path,
        output_path=args.output_path, batch_size=max(args.batch_size, 1),
        chunk_rows=args.chunk_rows, input_format=args.input_format,
        separator=decode_separator(args.separator or DEFAULT_SEPARATOR),
        with_header=args.with_header,
        column_names=parse_input_fields(args.input_fields) if args.input_fields else None,
        defaults=parse_defaults(args.defaults), ignore_error=args.ignore_error,
        progress=False if args.no_progress else None, **extra)
    # --pipeline_config, else the config the export carries (EasyRec's assets/pipeline.config)
    config_path = args.pipeline_config or (
        saved_model_config_path(args.saved_model_dir) if args.saved_model_dir else None)
    if config is None and config_path:
        config = load_pipeline_config(config_path).config
    if config is not None:
        apply_data_config(options, config.data_config, separator_given=args.separator is not None)
        options.redis_url = options.redis_url or config.export_config.embedding_store.redis_url
    return options
