"""Which way a job trains: train_config.train_distribute and the cluster of TF_CONFIG together.

    train_distribute              cluster (TF_CONFIG)          mode
    NoStrategy                    none, or a chief alone       SINGLE: one process, no strategy
    NoStrategy / PSStrategy       ps tasks                     PS: ParameterServerStrategy
    MultiWorkerMirroredStrategy,  chief / workers, no ps       MULTI_WORKER: MultiWorkerMirrored
      CollectiveAllReduceStrategy
    MirroredStrategy              one training task            MIRRORED: MirroredStrategy

`choose_mode` returns the mode or the reason a combination cannot run (a config check turns
that into a file:line error, see config_checks.py).
"""
from __future__ import annotations

import enum

from easy_rec.distribute.tf_config import ClusterInfo
from easy_rec.protos import train_pb2

Strategy = train_pb2.DistributionStrategy


class Mode(enum.Enum):
    SINGLE = "single process"
    PS = "parameter servers (tf.distribute.ParameterServerStrategy)"
    MULTI_WORKER = "all-reduce over workers (tf.distribute.MultiWorkerMirroredStrategy)"
    MIRRORED = "all-reduce over local devices (tf.distribute.MirroredStrategy)"


class ModeError(ValueError):
    """train_distribute does not fit the cluster; `field` is the config field to blame."""

    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field = field
        self.reason = reason


MULTI_WORKER_STRATEGIES = (Strategy.MultiWorkerMirroredStrategy,
                           Strategy.CollectiveAllReduceStrategy)


def choose_mode(train_config: train_pb2.TrainConfig, cluster: ClusterInfo) -> Mode:
    """The Mode of a job; ModeError when train_distribute and the cluster disagree."""
    strategy = train_config.train_distribute
    name = Strategy.Name(strategy)
    if strategy in (Strategy.NoStrategy, Strategy.PSStrategy):
        if cluster.has_ps:
            return Mode.PS
        if strategy == Strategy.PSStrategy:
            raise ModeError("train_config.train_distribute", "PSStrategy needs ps tasks in "
                            "TF_CONFIG's cluster (none there)")
        if cluster.num_workers:
            raise ModeError("train_config.train_distribute", "TF_CONFIG has workers but no ps "
                            "tasks: add ps tasks (parameter-server training) or set "
                            "train_distribute: MultiWorkerMirroredStrategy")
        return Mode.SINGLE
    if strategy in MULTI_WORKER_STRATEGIES:
        if cluster.has_ps:
            raise ModeError("train_config.train_distribute", f"{name} trains without ps tasks, "
                            "but TF_CONFIG's cluster has some (use PSStrategy)")
        return Mode.MULTI_WORKER
    if strategy == Strategy.MirroredStrategy:
        if cluster.num_trainers > 1 or cluster.has_ps:
            raise ModeError("train_config.train_distribute", "MirroredStrategy trains in one "
                            "process; TF_CONFIG has more training tasks (use "
                            "MultiWorkerMirroredStrategy or PSStrategy)")
        return Mode.MIRRORED
    raise ModeError("train_config.train_distribute", f"{name} is not supported")
