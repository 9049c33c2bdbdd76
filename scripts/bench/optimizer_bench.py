"""Micro-benchmark: sparse (lazy) vs dense Adam update of a 1M x 16 embedding table.

The gradient is that of a lookup of 1024 x 10 ids. The sparse step hands the
``tf.IndexedSlices`` to ``Adam.apply_gradients``; the dense step first densifies it (what
Keras optimizers do) and applies the fused dense Adam op to the whole table. Prints one
JSON line: ``{"bench": "optimizer", "sparse_steps_per_s": ..., "dense_steps_per_s": ...}``.

Usage: ``python scripts/bench/optimizer_bench.py [--steps N]``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from easy_rec.training.optimization.optimizers import Adam

ROWS, DIM = 1_000_000, 16
LOOKUPS = 1024 * 10
WARMUP_STEPS = 3


def _sparse_gradient() -> tf.IndexedSlices:
    rng = np.random.default_rng(0)
    indices = rng.integers(0, ROWS, size=LOOKUPS, dtype=np.int64)
    values = rng.normal(size=(LOOKUPS, DIM)).astype(np.float32)
    return tf.IndexedSlices(tf.constant(values), tf.constant(indices), tf.constant([ROWS, DIM]))


def _adam_step(densify: bool) -> tuple[Callable[[], None], Adam]:
    """A compiled update step on a fresh table, and its optimizer."""
    table = tf.Variable(tf.zeros([ROWS, DIM]), name="table")
    optimizer = Adam(0.001)
    optimizer.build([table])
    grad = _sparse_gradient()

    @tf.function
    def step() -> None:
        update = tf.convert_to_tensor(grad) if densify else grad
        optimizer.apply_gradients([(update, table)])

    return step, optimizer


def _steps_per_second(densify: bool, steps: int) -> float:
    step, optimizer = _adam_step(densify)
    for _ in range(WARMUP_STEPS):
        step()
    optimizer.iterations.numpy()  # wait for queued device work
    start = time.perf_counter()
    for _ in range(steps):
        step()
    optimizer.iterations.numpy()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="timed steps per variant")
    args = parser.parse_args()
    result = {
        "bench": "optimizer",
        "sparse_steps_per_s": round(_steps_per_second(densify=False, steps=args.steps), 2),
        "dense_steps_per_s": round(_steps_per_second(densify=True, steps=args.steps), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
