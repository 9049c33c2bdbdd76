"""`python -m easy_rec.distribute.launch --num_workers N --num_ps M [--evaluator] -- <train args>`:
a whole training cluster on this machine.

Starts a chief, N workers and M parameter servers (and an evaluator) on free 127.0.0.1
ports, each running `python -m easy_rec.train <train args>` with its own TF_CONFIG. Every
line a task prints is shown with its task in front (`[worker:1] ...`). A failed worker is
restarted; a lost chief or ps restarts the whole cluster (training resumes from the last
checkpoint); when the chief finishes, or the restarts are used up, every task is stopped
and a summary is printed. See docs/distributed.md.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from easy_rec import cli
from easy_rec.distribute.cluster_spec import cluster_tasks, local_cluster
from easy_rec.distribute.supervisor import Supervisor, SupervisorOptions

logger = logging.getLogger("easy_rec.distribute")

DEFAULT_PROGRAM = "easy_rec.train"


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of the launcher."""
    parser = cli.build_parser("easy_rec.distribute.launch", __doc__)
    defaults = SupervisorOptions()
    parser.add_argument("--num_workers", type=_count, required=True,
                        help="workers besides the chief (task index 0)")
    parser.add_argument("--num_ps", type=_count, required=True,
                        help="parameter servers (0 for MultiWorkerMirroredStrategy)")
    parser.add_argument("--evaluator", action="store_true",
                        help="also start an evaluator task (outside the cluster dict)")
    parser.add_argument("--max_restarts", type=_count, default=defaults.max_restarts,
                        help="restarts allowed for the whole job, counting worker and "
                             "evaluator restarts and restarts of the whole cluster")
    parser.add_argument("--restart_delay_s", type=_seconds, default=defaults.restart_delay_s,
                        help="seconds between a task's end and its restart")
    parser.add_argument("--stop_timeout_s", type=_seconds, default=defaults.stop_timeout_s,
                        help="seconds a task has to exit after SIGTERM before SIGKILL")
    parser.add_argument("--evaluator_timeout_s", type=_seconds,
                        default=defaults.evaluator_timeout_s,
                        help="seconds the evaluator may go on after the chief finished")
    parser.add_argument("--program", default=DEFAULT_PROGRAM,
                        help="module every task runs with `python -m` (advanced and tests: "
                             "a stand-in program)")
    parser.add_argument("train_args", nargs="*", metavar="-- TRAIN_ARGS",
                        help="the arguments of every task's program, after `--`, e.g. "
                             "-- --pipeline_config x.config")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the launcher's exit status (0: the chief finished; 1: restarts
    used up; 2: a bad command line; 128 + N: stopped by signal N)."""
    env = dict(os.environ)   # the tasks' environment, before --verbose changes ours
    parser = build_parser()
    args = cli.parse_args(parser, argv, tensorflow=False)
    if not args.train_args:
        parser.error("give the training arguments after `--`, e.g. "
                     "-- --pipeline_config x.config")
    cluster = local_cluster(args.num_workers, args.num_ps)
    tasks = cluster_tasks(cluster, args.evaluator)
    logger.info("cluster: %s%s", cluster, " and an evaluator" if args.evaluator else "")
    supervisor = Supervisor(
        cluster, tasks, [sys.executable, "-m", args.program, *args.train_args], env,
        SupervisorOptions(args.max_restarts, args.restart_delay_s, args.stop_timeout_s,
                          args.evaluator_timeout_s))
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda signum, _frame: supervisor.request_stop(signum))
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
