"""Average precision and recall at k of metric learning (EasyRec's precision_at_topk and
recall_at_topk metrics of CoMetricLearningI2I).

EasyRec computes it for CoMetricLearningI2I within each evaluation batch: the rows of the
batch are ranked for each row by the cosine similarity of their embeddings (the row itself
pushed to the end), the rows with the same label (and, when session ids are given, the same
session) are the relevant ones, and

    AP@k(row) = sum_{i <= k} precision@i * relevant(i) / min(k, number of relevant rows)

where the row itself counts among the relevant rows of the denominator (EasyRec's mask keeps
the diagonal). The metric is the mean over all rows (``tf.metrics.average_precision_at_k``).
Ties are broken by position, as ``tf.nn.top_k`` does.

recall_at_topk (EasyRec's ``metric_learning_recall_at_k``) takes, for each row, its k "true"
rows: the k most similar rows among the relevant ones other than itself, completed, when it has
fewer than k, by the first rows by position among the rest (they tie at EasyRec's fill value
-1). A row's hits are how many of them are among its k most similar rows (itself last), and

    recall@k = total hits / (rows * k)

over all rows of all eval batches (``tf.metrics.recall_at_k``). A batch with fewer than k rows
(EasyRec's top_k would fail on it) uses k = its row count.
"""
from __future__ import annotations

import numpy as np

#: model output holding the embeddings the metric compares
EMBEDDING_OUTPUT = "float_emb"
#: optional model output holding each row's session id
SESSION_OUTPUT = "session_id"


def _similarity_and_relevance(embeddings: np.ndarray, labels: np.ndarray,
                               session_ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(cosine similarities with the diagonal lowered by 2, same label [and session] mask)."""
    emb = np.asarray(embeddings, dtype=np.float64)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    similarity = emb @ emb.T - 2.0 * np.eye(emb.shape[0])
    labels = np.asarray(labels).reshape(-1)
    relevant = labels[:, None] == labels[None, :]
    if session_ids is not None:
        sessions = np.asarray(session_ids).reshape(-1)
        relevant &= sessions[:, None] == sessions[None, :]
    return similarity, relevant


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k largest scores, ties by position (tf.nn.top_k)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def recall_hits_at_k(embeddings: np.ndarray, labels: np.ndarray, k: int,
                     session_ids: np.ndarray | None = None) -> tuple[int, int]:
    """(hits, rows * k) of one batch for recall@k (see the module docstring)."""
    similarity, relevant = _similarity_and_relevance(embeddings, labels, session_ids)
    rows = similarity.shape[0]
    k = min(k, rows)
    relevant &= ~np.eye(rows, dtype=bool)
    truth = _top(np.where(relevant, similarity, -1.0), k)
    predicted = _top(similarity, k)
    hits = sum(len(set(t) & set(p)) for t, p in zip(truth.tolist(), predicted.tolist()))
    return hits, rows * k


def recall_at_k(batches: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], k: int) -> float:
    """recall@k over the rows of all (embeddings, labels, session ids) batches."""
    counts = [recall_hits_at_k(e, y, k, s) for e, y, s in batches if len(y)]
    total = sum(t for _, t in counts)
    return sum(h for h, _ in counts) / total if total else float("nan")


def average_precision_at_k(embeddings: np.ndarray, labels: np.ndarray, k: int,
                           session_ids: np.ndarray | None = None) -> np.ndarray:
    """[rows] AP@k of each row of one batch (see the module docstring)."""
    similarity, relevant = _similarity_and_relevance(embeddings, labels, session_ids)
    top = _top(similarity, k)
    hits = np.take_along_axis(relevant, top, axis=1).astype(np.float64)
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    return (precision * hits).sum(axis=1) / np.minimum(k, relevant.sum(axis=1))


def mean_average_precision_at_k(batches: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
                                k: int) -> float:
    """Mean AP@k over the rows of all (embeddings, labels, session ids) batches."""
    values = [average_precision_at_k(e, y, k, s) for e, y, s in batches if len(y)]
    return float(np.concatenate(values).mean()) if values else float("nan")
