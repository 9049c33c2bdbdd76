"""What `python -m easy_rec.train` runs in this process: its role in TF_CONFIG's cluster and
the mode train_distribute picks (mode.py) decide.

    mode          chief / master            worker                ps        evaluator
    SINGLE        Trainer                   -                     -         evaluates checkpoints
    PS            PSTrainer (coordinator)   server                server    evaluates checkpoints
    MULTI_WORKER  MirroredTrainer           MirroredTrainer       -         evaluates checkpoints
    MIRRORED      MirroredTrainer           -                     -         evaluates checkpoints

The result is the JSON-able summary the entry point prints.
"""
from __future__ import annotations

import logging

from easy_rec.distribute.cluster import serve
from easy_rec.distribute.mode import Mode, choose_mode
from easy_rec.distribute.tf_config import read_tf_config
from easy_rec.protos import pipeline_pb2

logger = logging.getLogger(__name__)


def run_training_task(config: pipeline_pb2.EasyRecConfig, base_dir: str | None) -> dict:
    """Runs this process's part of the job; returns {"global_step": ..., **eval results}
    ({"role": ...} for tasks that only serve)."""
    cluster = read_tf_config()
    mode = choose_mode(config.train_config, cluster)
    if cluster.is_distributed:
        logger.info("%s, training with %s", cluster.describe(), mode.value)
    if cluster.is_evaluator:
        from easy_rec.distribute.evaluator_task import evaluate_checkpoints

        return evaluate_checkpoints(config, base_dir)
    if mode == Mode.PS:
        if not cluster.is_chief:
            return {"role": cluster.task_type, "exit": serve(cluster, config.model_dir)}
        from easy_rec.distribute.ps_trainer import PSTrainer

        trainer = PSTrainer(config, cluster, base_dir)
    elif mode in (Mode.MULTI_WORKER, Mode.MIRRORED):
        from easy_rec.distribute.mirrored import MirroredTrainer

        trainer = MirroredTrainer(config, cluster, mode, base_dir)
    else:
        from easy_rec.training.trainer import Trainer

        trainer = Trainer(config, base_dir=base_dir)
    results = trainer.train()
    return {"global_step": int(trainer.global_step.numpy()), **results}
