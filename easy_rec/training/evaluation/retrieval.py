"""Retrieval evaluation of matching models: each positive eval row's item is ranked among all
items of the corpus by the row's user embedding (easy_rec.metrics.retrieval).

The corpus is the distinct items (by the model's item id column, first occurrence) of the
train and eval inputs, or the item table of the negative sampler data_config sets. Its
item columns are read once; its embeddings are recomputed at every evaluation.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from easy_rec.input.column_plan import ColumnPlan
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.input.negative_sampler import read_sampler_items
from easy_rec.input.reader import build_reader, eval_input_path, train_input_path
from easy_rec.metrics import retrieval
from easy_rec.models.match_base import MatchModel
from easy_rec.protos import eval_pb2, pipeline_pb2

logger = logging.getLogger(__name__)

READ_BATCH_SIZE = 8192


class RetrievalEvaluation:
    """Collects the user embeddings of positive eval rows; ranks their items at the end."""

    def __init__(self, config: pipeline_pb2.EasyRecConfig, model: MatchModel,
                 metrics: Sequence[eval_pb2.EvalMetrics], plan: ColumnPlan):
        """`plan`: the job's column plan (the corpus reads item columns under its checks)."""
        self._config = config
        self._model = model
        self._plan = plan
        self._metrics = list(metrics)
        self._label = model.tasks[0].label_field
        self._corpus: dict[str, tf.Tensor] | None = None
        self._embed = tf.function(lambda raw: model.embed_items(raw)[0], autograph=False,
                                  reduce_retracing=True)
        self.reset()

    @classmethod
    def create(cls, config: pipeline_pb2.EasyRecConfig, model,
               metrics: Sequence[eval_pb2.EvalMetrics],
               plan: ColumnPlan) -> RetrievalEvaluation | None:
        """The evaluation when `model` is a matching model and `metrics` has retrieval metrics."""
        chosen = [m for m in metrics if m.WhichOneof("metric") in retrieval.RETRIEVAL_METRICS]
        if not chosen or not isinstance(model, MatchModel):
            return None
        return cls(config, model, chosen, plan)

    def reset(self) -> None:
        """Drops the rows collected so far."""
        self._parts: dict[str, list[np.ndarray]] = {"user": [], "item": [], "id": [], "uid": []}

    @staticmethod
    def outputs(outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The model outputs the evaluation needs from each eval batch."""
        return {k: outputs[k] for k in ("user_emb", "item_emb")}

    def update(self, batch: dict[str, tf.Tensor], outputs: dict[str, tf.Tensor]) -> None:
        """Keeps the positive rows of one eval batch."""
        positive = batch[self._label].numpy() > 0
        self._parts["user"].append(outputs["user_emb"].numpy()[positive])
        self._parts["item"].append(outputs["item_emb"].numpy()[positive])
        self._parts["id"].append(batch[self._model.item_id_field].numpy()[positive])
        if self._model.user_id_field:
            self._parts["uid"].append(batch[self._model.user_id_field].numpy()[positive])

    def result(self) -> dict[str, float]:
        """recall@k / hit_rate@k / ndcg@k of the collected rows against the whole corpus."""
        if not self._parts["user"]:
            return retrieval.retrieval_results(self._metrics, np.zeros(0, np.int64))
        items, item_ids = self.corpus_embeddings()
        users = np.concatenate(self._parts["user"])
        true_scores = retrieval.pair_scores(users, np.concatenate(self._parts["item"]))
        ranks = retrieval.true_item_ranks(users, true_scores, np.concatenate(self._parts["id"]),
                                          items, item_ids)
        user_ids = np.concatenate(self._parts["uid"]) if self._parts["uid"] else None
        logger.info("retrieval: ranked %d positive eval rows among %d items", len(ranks),
                    len(items))
        return retrieval.retrieval_results(self._metrics, ranks, user_ids)

    # -- corpus -------------------------------------------------------------------------------
    def corpus_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """([items, dim] embeddings, [items] ids) of the corpus under the current weights."""
        corpus = self.corpus()
        count = int(corpus[self._model.item_id_field].shape[0])
        chunks = [self._embed({k: v[start:start + READ_BATCH_SIZE] for k, v in corpus.items()})
                  .numpy() for start in range(0, count, READ_BATCH_SIZE)]
        return np.concatenate(chunks), corpus[self._model.item_id_field].numpy()

    def corpus(self) -> dict[str, tf.Tensor]:
        """Item tower columns (and the id) of every distinct corpus item; read once."""
        if self._corpus is None:
            columns = list(dict.fromkeys(self._model.item_input_names
                                         + [self._model.item_id_field]))
            data = self._config.data_config
            if data.WhichOneof("sampler"):
                table = read_sampler_items(data).attrs
                self._corpus = _distinct({k: tf.constant(table[k]) for k in columns},
                                         self._model.item_id_field, set())
            else:
                self._corpus = self._read_distinct_items(columns)
        return self._corpus

    def _read_distinct_items(self, columns: list[str]) -> dict[str, tf.Tensor]:
        paths = [p for p in (train_input_path(self._config), eval_input_path(self._config)) if p]
        seen: set = set()
        parts: list[dict[str, tf.Tensor]] = []
        for path in paths:
            dataset = build_reader(self._config.data_config, path, self._plan,
                                   columns).make_dataset(READ_BATCH_SIZE, num_epochs=1,
                                                         shuffle=False)
            for batch in dataset:
                batch.pop(MALFORMED_KEY, None)
                parts.append(_distinct(batch, self._model.item_id_field, seen))
        return {k: tf.concat([p[k] for p in parts], axis=0) for k in columns}


def _distinct(batch: dict[str, tf.Tensor], id_field: str, seen: set) -> dict[str, tf.Tensor]:
    """The rows of `batch` whose id is not in `seen` (first occurrence); adds their ids."""
    keep = []
    for row, item_id in enumerate(batch[id_field].numpy().tolist()):
        if item_id not in seen:
            seen.add(item_id)
            keep.append(row)
    index = tf.constant(keep, tf.int64)
    return {k: tf.gather(v, index) for k, v in batch.items()}
