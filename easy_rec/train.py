"""`python -m easy_rec.train --pipeline_config x.config`: train, evaluate, checkpoint, export."""
from __future__ import annotations

import argparse
import json
import logging
import os

from easy_rec import cli

logger = logging.getLogger("easy_rec.train")


def build_parser() -> argparse.ArgumentParser:
    """The command line of training."""
    parser = cli.build_parser("easy_rec.train", __doc__)
    cli.add_config_arguments(parser)
    parser.add_argument("--check_config_only", action="store_true",
                        help="validate the config and exit 0 (valid) or 1 (invalid)")
    return parser


def main() -> int:
    """Entry point; returns the process exit status."""
    args = cli.parse_args(build_parser())
    loaded = cli.load_config(args)
    if args.check_config_only:
        print(f"{args.pipeline_config}: config OK")
        return 0
    from easy_rec.distribute.run import run_training_task

    # TF_CONFIG decides this process's role (one process without it): docs/distributed.md
    summary = run_training_task(loaded.config,
                                os.path.dirname(os.path.abspath(args.pipeline_config)))
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    cli.run(main)
