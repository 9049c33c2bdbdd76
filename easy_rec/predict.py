"""`python -m easy_rec.predict --saved_model_dir D --input_path X --output_path Y`: batch prediction.

Streams a CSV or Parquet table through the SavedModel's `serving_default` signature and writes
the reserved columns followed by the model outputs; prints one JSON line of counts. See
docs/predict.md.
"""
from __future__ import annotations

import argparse
import json

from easy_rec import cli
from easy_rec.serving.options import add_table_arguments


def build_parser() -> argparse.ArgumentParser:
    """The command line of batch prediction."""
    parser = cli.build_parser("easy_rec.predict", __doc__)
    parser.add_argument("--saved_model_dir", required=True, help="SavedModel folder (an export)")
    parser.add_argument("--input_path", required=True,
                        help="input file(s): paths or globs, comma separated")
    parser.add_argument("--output_path", required=True, help="output file")
    parser.add_argument("--reserved_cols", default="",
                        help="input columns copied to the output, comma separated")
    parser.add_argument("--output_cols", default="",
                        help="model outputs to write, comma separated (default: all)")
    parser.add_argument("--output_format", choices=["csv", "parquet"], default=None,
                        help="default: from the output extension (.parquet/.pq: parquet)")
    parser.add_argument("--list_separator", default=None,
                        help="joins the values of multi-dimensional outputs in a CSV cell "
                             "(default ',', or ';' when the separator is ',')")
    parser.add_argument("--redis_url", default=None,
                        help="embedding store of a split export (default: the URL in its "
                        "config; password from the URL or $EASY_REC_REDIS_PASSWORD)")
    add_table_arguments(parser, "rows read, predicted and written at a time (bounds memory)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point (`argv`: the arguments, default sys.argv); prints the run's counts as one
    JSON line and returns the exit status."""
    args = cli.parse_args(build_parser(), argv)
    from easy_rec.serving.batch_predict import batch_predict
    from easy_rec.serving.options import decode_separator, options_from_arguments, split_names

    options = options_from_arguments(
        args, reserved_cols=split_names(args.reserved_cols),
        output_cols=split_names(args.output_cols) or None, output_format=args.output_format,
        list_separator=decode_separator(args.list_separator) if args.list_separator else None,
        redis_url=args.redis_url)
    print(json.dumps(batch_predict(options).as_dict(), sort_keys=True))
    return 0


if __name__ == "__main__":
    cli.run(main)
