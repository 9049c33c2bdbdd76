"""Checks of train_distribute, sync_replicas, chief_redundant, chief_reads_input (and
drift_guard under parameter servers) against TF_CONFIG's cluster.

They read the environment (TF_CONFIG) besides the config, so `--check_config_only` run with the
job's TF_CONFIG checks what the job will run.
"""
from __future__ import annotations

import logging

from easy_rec.config.context import CheckContext
from easy_rec.distribute.mode import Mode, ModeError, choose_mode
from easy_rec.distribute.tf_config import TFConfigError, read_tf_config

logger = logging.getLogger(__name__)


def check_train_distribute(ctx: CheckContext) -> None:
    """train_distribute fits the cluster; options of synchronous training are refused where
    the chosen mode cannot honour them."""
    train = ctx.config.train_config
    try:
        mode = choose_mode(train, read_tf_config())
    except TFConfigError as error:
        ctx.fail("train_config.train_distribute", f"{error} (the environment's TF_CONFIG)")
    except ModeError as error:
        ctx.fail(error.field, error.reason)
    if mode == Mode.PS and train.HasField("sync_replicas") and train.sync_replicas:
        ctx.fail("train_config.sync_replicas", "sync_replicas: true asks for synchronous "
                 "parameter-server updates, which TF2's ParameterServerStrategy does not have "
                 "(its workers update asynchronously); remove it to train asynchronously, or "
                 "use MultiWorkerMirroredStrategy for synchronous training")
    if mode == Mode.PS and ctx.config.HasField("drift_guard"):
        ctx.fail("drift_guard", "drift_guard watches each batch and its step's predictions in "
                 "the process that trains them; with parameter servers the steps run on the "
                 "workers and the guard would watch nothing: remove it, or train the stream in "
                 "one process")
    if mode == Mode.MULTI_WORKER and not train.num_steps:
        ctx.fail("train_config.num_steps", "MultiWorkerMirroredStrategy needs num_steps: the "
                 "tasks step together, and shares of a finite input (num_epochs) may differ "
                 "by a batch, which would leave one task waiting for the others forever",
                 line_field="train_config")
    if mode == Mode.SINGLE and ctx.config.data_config.chief_redundant:
        # EasyRec drops the chief from the readers' task count, which leaves one process
        # reading everything: the option changes nothing there, and nothing here
        logger.info("data_config.chief_redundant has no effect in a single process")
    elif mode != Mode.PS and ctx.config.data_config.chief_redundant:
        ctx.fail("data_config.chief_redundant", "chief_redundant (the chief trains no batch "
                 "after the first) only means something with parameter servers, where the "
                 f"chief coordinates and trains none anyway; this job trains with {mode.value}")
    _check_chief_reads_input(ctx, mode)


def _check_chief_reads_input(ctx: CheckContext, mode: Mode) -> None:
    """chief_reads_input means something with parameter servers only (where the chief reads
    Parquet and Kafka input whatever it says: their readers run Python)."""
    if not ctx.config.data_config.chief_reads_input:
        return
    if mode == Mode.SINGLE:
        logger.info("data_config.chief_reads_input has no effect in a single process")
    elif mode != Mode.PS:
        ctx.fail("data_config.chief_reads_input", "chief_reads_input (the chief reads the "
                 "training input and sends the batches to the workers) belongs to "
                 f"parameter-server training; this job trains with {mode.value}, where every "
                 "task reads its own share and the checkpoint keeps each share's position")
