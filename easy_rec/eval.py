"""`python -m easy_rec.eval --pipeline_config x.config [--checkpoint_path P]`: evaluate a checkpoint."""
from __future__ import annotations

import argparse
import json
import logging
import os

from easy_rec import cli

logger = logging.getLogger("easy_rec.eval")


def build_parser() -> argparse.ArgumentParser:
    """The command line of evaluation."""
    parser = cli.build_parser("easy_rec.eval", __doc__)
    cli.add_config_arguments(parser, inputs=["eval_input_path"])
    parser.add_argument("--checkpoint_path", default=None,
                        help="checkpoint prefix or directory (default: latest in model_dir)")
    return parser


def main() -> int:
    """Entry point; prints the metrics as one JSON line and returns the exit status."""
    parser = build_parser()
    args = cli.parse_args(parser)
    loaded = cli.load_config(args)
    config = loaded.config
    from easy_rec.input.reader import eval_input_path

    eval_path = eval_input_path(config)
    if not eval_path:
        parser.error("the config has no eval_input_path (or pass --eval_input_path)")
    from easy_rec.models.builder import model_column_plan
    from easy_rec.training.evaluation.evaluator import Evaluator
    from easy_rec.training.restore import load_trained_model
    from easy_rec.utils.writable import unwritable_reason

    base_dir = os.path.dirname(os.path.abspath(args.pipeline_config))
    # checkpoints are only read: a read-only model_dir just keeps eval_results/ from being written
    read_only = unwritable_reason(config.model_dir)
    if read_only is not None:
        logger.warning("model_dir %s is not writable (%s): the results are printed only, not "
                       "written to its eval_results/ and eval/", config.model_dir, read_only)
    model, step, path = load_trained_model(config, args.checkpoint_path, base_dir)
    results = Evaluator(config, model, eval_path, model_column_plan(config, model),
                        write_results=read_only is None).evaluate(step)
    print(json.dumps({"checkpoint": path, "global_step": step, **results}, sort_keys=True))
    return 0


if __name__ == "__main__":
    cli.run(main)
