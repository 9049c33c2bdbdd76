"""`python -m easy_rec.export --pipeline_config x.config --export_dir D`: write a SavedModel."""
from __future__ import annotations

import argparse
import os

from easy_rec import cli


def build_parser() -> argparse.ArgumentParser:
    """The command line of export (no input paths: export reads no data)."""
    parser = cli.build_parser("easy_rec.export", __doc__)
    cli.add_config_arguments(parser, inputs=[])
    parser.add_argument("--export_dir", required=True,
                        help="the SavedModel goes to <export_dir>/<timestamp>/")
    parser.add_argument("--checkpoint_path", default=None,
                        help="checkpoint prefix or directory (default: latest in model_dir)")
    return parser


def main() -> int:
    """Entry point; prints the export path and returns the exit status."""
    args = cli.parse_args(build_parser())
    config = cli.load_config(args).config
    from easy_rec.export.exporter import export_saved_model
    from easy_rec.training.restore import load_trained_model
    from easy_rec.utils.writable import require_writable_dir

    # only export_dir is written: checkpoints are read from a model_dir that may be read-only
    require_writable_dir(args.export_dir, "--export_dir")
    base_dir = os.path.dirname(os.path.abspath(args.pipeline_config))
    model, step, _ = load_trained_model(config, args.checkpoint_path, base_dir)
    print(export_saved_model(model, config.data_config, args.export_dir, step))
    return 0


if __name__ == "__main__":
    cli.run(main)
