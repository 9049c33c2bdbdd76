"""`python -m easy_rec.export --pipeline_config x.config --export_dir D`: write a SavedModel.

Without --pipeline_config, --model_dir names a trained model_dir and its pipeline.config
(the config as run, which training writes there) is used, as EasyRec's export does.
"""
from __future__ import annotations

import argparse
import os

from easy_rec import cli
from easy_rec.config.errors import ConfigError
from easy_rec.utils.pipeline_files import PIPELINE_CONFIG_NAME


def build_parser() -> argparse.ArgumentParser:
    """The command line of export (no input paths: export reads no data)."""
    parser = cli.build_parser("easy_rec.export", __doc__)
    cli.add_config_arguments(parser, inputs=[], config_help=(
        f"pipeline config file (default: <--model_dir>/{PIPELINE_CONFIG_NAME}, written by "
        "training)"))
    parser.add_argument("--export_dir", required=True,
                        help="the SavedModel goes to <export_dir>/<timestamp>/")
    parser.add_argument("--checkpoint_path", default=None,
                        help="checkpoint prefix or directory (default: latest in model_dir)")
    return parser


def config_of_model_dir(args: argparse.Namespace) -> None:
    """Points a missing --pipeline_config at model_dir's pipeline.config (ConfigError when
    neither is usable)."""
    if args.pipeline_config:
        return
    if not args.model_dir:
        raise ConfigError("give --pipeline_config, or --model_dir of a trained model (its "
                          f"{PIPELINE_CONFIG_NAME} is used)", path="<command line>")
    path = os.path.join(args.model_dir, PIPELINE_CONFIG_NAME)
    if not os.path.isfile(path):
        raise ConfigError(f"{args.model_dir} has no {PIPELINE_CONFIG_NAME} (training writes it "
                          "there); give --pipeline_config", path=path)
    args.pipeline_config = path


def main() -> int:
    """Entry point; prints the export path and returns the exit status."""
    args = cli.parse_args(build_parser())
    config_of_model_dir(args)
    config = cli.load_config(args).config
    from easy_rec.export.exporter import export_saved_model
    from easy_rec.training.restore import load_trained_model
    from easy_rec.utils.writable import require_writable_dir

    # only export_dir is written: checkpoints are read from a model_dir that may be read-only
    require_writable_dir(args.export_dir, "--export_dir")
    base_dir = os.path.dirname(os.path.abspath(args.pipeline_config))
    model, step, _ = load_trained_model(config, args.checkpoint_path, base_dir)
    print(export_saved_model(model, config, args.export_dir, step, base_dir=base_dir))
    return 0


if __name__ == "__main__":
    cli.run(main)
