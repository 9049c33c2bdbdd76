"""Parallelism, tf.data options and dataset-function wrapping shared by the file readers."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import tensorflow as tf

F = TypeVar("F", bound=Callable)


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parallel_calls(num_parallel_calls: int) -> int:
    """data_config.num_parallel_calls, capped at the cores: more parse calls than cores
    were measured to slow parsing down (decode_csv on 2 cores: 1.03M rows/s with 2 calls,
    0.69M with 4)."""
    return max(1, min(int(num_parallel_calls), available_cores()))


def fixed_tuning(options: tf.data.Options | None = None) -> tf.data.Options:
    """Options for a pipeline whose parallelism and buffer sizes are all set explicitly:
    autotuning off. With it on, whole epochs of the parallel CSV parse were measured to run
    on one core (380k instead of 650k rows/s on 2 cores), at random from run to run."""
    options = options or tf.data.Options()
    options.autotune.enabled = False
    return options


def without_autograph(fn: F) -> F:
    """`fn` for Dataset.map / filter / scan / interleave, traced as written: the readers'
    dataset functions branch with tf.cond and tf.where, never with Python control flow on
    tensors, so AutoGraph's source conversion only costs time (about 2 s of CPU in each new
    process that builds a CSV reader: Trainer construction of the DeepFM sample measured
    4.0-4.3 s with it, 2.1-2.3 s without)."""
    return tf.autograph.experimental.do_not_convert(fn)
