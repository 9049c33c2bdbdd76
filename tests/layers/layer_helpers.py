"""Shared helpers of the layer tests: random weights, numpy references of the building blocks."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from easy_rec.layers.base import declared_kernels


def randomize(module: tf.Module, seed: int = 0, scale: float = 0.3) -> None:
    """Gives every variable of `module` random values (zero- / one-initialised ones included)."""
    rng = np.random.default_rng(seed)
    for v in module.trainable_variables:
        v.assign(rng.normal(0.0, scale, v.shape).astype(np.float32))


def tree_kernels(module: tf.Module) -> list[tf.Variable]:
    """The kernels declared by `module` and every layer inside it (what L2 would cover)."""
    return declared_kernels([module, *module.submodules])


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def dense(x: np.ndarray, layer) -> np.ndarray:
    """Numpy Dense: x W (+ b)."""
    y = x @ layer.kernel.numpy()
    return y + layer.bias.numpy() if layer.bias is not None else y


def layer_norm(x: np.ndarray, ln, epsilon: float = 1e-6) -> np.ndarray:
    """Numpy LayerNorm over the last axis with the layer's gamma and beta."""
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * ln.gamma.numpy() + ln.beta.numpy()


def softmax_ce(logits: np.ndarray, valid: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Reference cross entropy over the valid candidates of each row."""
    out = []
    for row, column in enumerate(target):
        scores = logits[row][valid[row]]
        top = scores.max()
        out.append(top + np.log(np.exp(scores - top).sum()) - logits[row, column])
    return np.array(out)


RNG = np.random.default_rng(0)


def normal(*shape: int) -> np.ndarray:
    """Standard normal float32 values from the shared generator."""
    return RNG.normal(size=shape).astype(np.float32)
