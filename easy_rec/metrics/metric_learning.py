"""Average precision at k of metric learning (EasyRec's precision_at_topk metric).

EasyRec computes it for CoMetricLearningI2I within each evaluation batch: the rows of the
batch are ranked for each row by the cosine similarity of their embeddings (the row itself
pushed to the end), the rows with the same label (and, when session ids are given, the same
session) are the relevant ones, and

    AP@k(row) = sum_{i <= k} precision@i * relevant(i) / min(k, number of relevant rows)

where the row itself counts among the relevant rows of the denominator (EasyRec's mask keeps
the diagonal). The metric is the mean over all rows (``tf.metrics.average_precision_at_k``).
Ties are broken by position, as ``tf.nn.top_k`` does.
"""
from __future__ import annotations

import numpy as np

#: model output holding the embeddings the metric compares
EMBEDDING_OUTPUT = "float_emb"
#: optional model output holding each row's session id
SESSION_OUTPUT = "session_id"


def average_precision_at_k(embeddings: np.ndarray, labels: np.ndarray, k: int,
                           session_ids: np.ndarray | None = None) -> np.ndarray:
    """[rows] AP@k of each row of one batch (see the module docstring)."""
    emb = np.asarray(embeddings, dtype=np.float64)
    norms = np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    emb = emb / norms
    rows = emb.shape[0]
    similarity = emb @ emb.T - 2.0 * np.eye(rows)
    labels = np.asarray(labels).reshape(-1)
    relevant = labels[:, None] == labels[None, :]
    if session_ids is not None:
        sessions = np.asarray(session_ids).reshape(-1)
        relevant &= sessions[:, None] == sessions[None, :]
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(relevant, top, axis=1).astype(np.float64)
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    return (precision * hits).sum(axis=1) / np.minimum(k, relevant.sum(axis=1))


def mean_average_precision_at_k(batches: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
                                k: int) -> float:
    """Mean AP@k over the rows of all (embeddings, labels, session ids) batches."""
    values = [average_precision_at_k(e, y, k, s) for e, y, s in batches if len(y)]
    return float(np.concatenate(values).mean()) if values else float("nan")
