"""Weighted regression metrics computed with numpy."""

from __future__ import annotations

import math

import numpy as np


def _errors(
    labels: np.ndarray, preds: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (pred - label, weights) as flat float64 arrays of equal length."""
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    p = np.asarray(preds, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"labels has {y.size} values but preds has {p.size}")
    if weights is None:
        w = np.ones_like(y)
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape != y.shape:
            raise ValueError(f"weights has {w.size} values, expected {y.size}")
    return p - y, w


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean, 0.0 when the weights sum to zero (TF metric convention)."""
    total = float(np.sum(weights))
    return float(np.sum(values * weights) / total) if total > 0 else 0.0


def mse(labels: np.ndarray, preds: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted mean squared error."""
    err, w = _errors(labels, preds, weights)
    return _weighted_mean(err * err, w)


def mae(labels: np.ndarray, preds: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted mean absolute error."""
    err, w = _errors(labels, preds, weights)
    return _weighted_mean(np.abs(err), w)


def rmse(labels: np.ndarray, preds: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Square root of the weighted mean squared error."""
    return math.sqrt(mse(labels, preds, weights))
