"""`python -m easy_rec.predict --saved_model_dir D --input_path X --output_path Y`: batch prediction.

Streams a CSV or Parquet table through the SavedModel's `serving_default` signature and writes
the reserved columns followed by the model outputs; prints one JSON line of counts. See
docs/predict.md.
"""
from __future__ import annotations

import argparse
import json

from easy_rec import cli


def build_parser() -> argparse.ArgumentParser:
    """The command line of batch prediction."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saved_model_dir", required=True, help="SavedModel folder (an export)")
    parser.add_argument("--input_path", required=True,
                        help="input file(s): paths or globs, comma separated")
    parser.add_argument("--output_path", required=True, help="output file")
    parser.add_argument("--reserved_cols", default="",
                        help="input columns copied to the output, comma separated")
    parser.add_argument("--output_cols", default="",
                        help="model outputs to write, comma separated (default: all)")
    parser.add_argument("--batch_size", type=int, default=1024, help="rows per model call")
    parser.add_argument("--chunk_rows", type=int, default=65536,
                        help="rows read, predicted and written at a time (bounds memory)")
    parser.add_argument("--input_format", choices=["csv", "parquet"], default=None,
                        help="default: from the input extension (.parquet/.pq: parquet)")
    parser.add_argument("--output_format", choices=["csv", "parquet"], default=None,
                        help="default: from the output extension (.parquet/.pq: parquet)")
    parser.add_argument("--separator", default=None,
                        help=r"CSV separator, escapes allowed ('\t', '\001'); default ',' "
                             "or the pipeline config's")
    parser.add_argument("--list_separator", default=None,
                        help="joins the values of multi-dimensional outputs in a CSV cell "
                             "(default ',', or ';' when the separator is ',')")
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
    return parser


def main() -> int:
    """Entry point; prints the run's counts as one JSON line and returns the exit status."""
    args = build_parser().parse_args()
    from easy_rec.config.loader import load_pipeline_config
    from easy_rec.serving.batch_predict import batch_predict
    from easy_rec.serving.options import (
        DEFAULT_SEPARATOR,
        PredictOptions,
        apply_data_config,
        decode_separator,
        parse_defaults,
        parse_input_fields,
        split_names,
    )

    options = PredictOptions(
        saved_model_dir=args.saved_model_dir, input_path=args.input_path,
        output_path=args.output_path, reserved_cols=split_names(args.reserved_cols),
        output_cols=split_names(args.output_cols) or None, batch_size=args.batch_size,
        chunk_rows=args.chunk_rows, input_format=args.input_format,
        output_format=args.output_format,
        separator=decode_separator(args.separator or DEFAULT_SEPARATOR),
        list_separator=decode_separator(args.list_separator) if args.list_separator else None,
        with_header=args.with_header,
        column_names=parse_input_fields(args.input_fields) if args.input_fields else None,
        defaults=parse_defaults(args.defaults), ignore_error=args.ignore_error,
        progress=False if args.no_progress else None)
    if args.pipeline_config:
        config = load_pipeline_config(args.pipeline_config, validate=False).config
        apply_data_config(options, config.data_config, separator_given=args.separator is not None)
    print(json.dumps(batch_predict(options).as_dict(), sort_keys=True))
    return 0


if __name__ == "__main__":
    cli.run(main)
