"""Retrieval metrics of matching models, in numpy: rank each query's own item among a corpus.

A query is a positive eval row: its user embedding, the score of its own item and that item's
id. Its rank is the number of corpus items with another id that score strictly higher (0 =
first). Scores are computed in chunks of at most `max_elements` user-item pairs, so memory
stays bounded whatever the sizes of the queries and the corpus.

- recall@k: fraction of queries whose item ranks in the top k (each positive row is one
  relevant user-item pair, so this is recall over all pairs).
- hit_rate@k: fraction of users with at least one query in the top k (queries grouped by the
  user id; without ids every query is its own user).
- ndcg@k: mean of 1 / log2(rank + 2) over queries ranked in the top k (0 otherwise); one
  relevant item per query, so the ideal DCG is 1.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from easy_rec.protos import eval_pb2

#: EvalMetrics oneof name -> prefix of its result keys (`recall@10`, ...).
RETRIEVAL_METRICS: dict[str, str] = {
    "retrieval_recall": "recall",
    "retrieval_hit_rate": "hit_rate",
    "retrieval_ndcg": "ndcg",
}
DEFAULT_MAX_ELEMENTS = 1 << 22


def result_keys(metric: eval_pb2.EvalMetrics) -> list[str]:
    """Result keys of one retrieval metric, e.g. ['recall@10', 'recall@50']."""
    name = metric.WhichOneof("metric")
    return [f"{RETRIEVAL_METRICS[name]}@{k}" for k in getattr(metric, name).top_k]


def scores(users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """[users, items] inner products; [users, interests, dim] users take their best interest."""
    if users.ndim == 3:
        return np.einsum("ukd,nd->ukn", users, items).max(axis=1)
    return users @ items.T


def pair_scores(users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """[queries] inner product of query i's user with item i (best interest)."""
    if users.ndim == 3:
        return np.einsum("ukd,ud->uk", users, items).max(axis=1)
    return np.einsum("ud,ud->u", users, items)


def true_item_ranks(users: np.ndarray, true_scores: np.ndarray, true_ids: np.ndarray,
                    items: np.ndarray, item_ids: np.ndarray,
                    max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
    """[queries] int64 ranks: corpus items whose id differs from the query's item id and whose
    score exceeds the query's own item score."""
    num_queries, num_items = len(users), len(items)
    interests = users.shape[1] if users.ndim == 3 else 1
    item_step = max(1, min(num_items, max_elements // interests))
    query_step = max(1, max_elements // (interests * item_step))
    ranks = np.zeros(num_queries, dtype=np.int64)
    for q in range(0, num_queries, query_step):
        user_chunk = users[q:q + query_step]
        threshold = true_scores[q:q + query_step, None]
        own = true_ids[q:q + query_step, None]
        for i in range(0, num_items, item_step):
            higher = scores(user_chunk, items[i:i + item_step]) > threshold
            higher &= item_ids[None, i:i + item_step] != own
            ranks[q:q + query_step] += higher.sum(axis=1)
    return ranks


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Fraction of queries ranked in the top k."""
    return float(np.mean(ranks < k)) if len(ranks) else float("nan")


def hit_rate_at_k(ranks: np.ndarray, k: int, user_ids: np.ndarray | None = None) -> float:
    """Fraction of users with at least one query ranked in the top k."""
    if user_ids is None:
        return recall_at_k(ranks, k)
    if not len(ranks):
        return float("nan")
    _, user_index = np.unique(user_ids, return_inverse=True)
    hit = np.zeros(user_index.max() + 1, dtype=bool)
    np.logical_or.at(hit, user_index, ranks < k)
    return float(hit.mean())


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean discounted gain 1 / log2(rank + 2) of queries ranked in the top k."""
    if not len(ranks):
        return float("nan")
    gains = np.where(ranks < k, 1.0 / np.log2(ranks.astype(np.float64) + 2.0), 0.0)
    return float(gains.mean())


def retrieval_results(metrics_set: Sequence[eval_pb2.EvalMetrics], ranks: np.ndarray,
                      user_ids: np.ndarray | None = None) -> dict[str, float]:
    """{'recall@k' / 'hit_rate@k' / 'ndcg@k': value} for the retrieval metrics of metrics_set."""
    results: dict[str, float] = {}
    for metric in metrics_set:
        name = metric.WhichOneof("metric")
        if name not in RETRIEVAL_METRICS:
            continue
        for k, key in zip(getattr(metric, name).top_k, result_keys(metric)):
            if name == "retrieval_recall":
                results[key] = recall_at_k(ranks, k)
            elif name == "retrieval_hit_rate":
                results[key] = hit_rate_at_k(ranks, k, user_ids)
            else:
                results[key] = ndcg_at_k(ranks, k)
    return results
