"""Negative items for sampled softmax: EasyRec's five samplers (data_config's `sampler`
oneof) on local files, drawn with stock TF ops.

EasyRec builds them on graph-learn; here the tables (sampler_tables.py) are read once and kept
as constant tensors, and each draw is a handful of TF ops. The semantics are EasyRec's:

- ``negative_sampler``: num_sample items shared by the batch, drawn with replacement in
  proportion to the item table's weight column (graph-learn's ``node_weight`` strategy).
- ``negative_sampler_in_memory``: num_sample distinct items drawn uniformly, none of them an
  item of the batch.
- ``negative_sampler_v2``: for each row, ceil(num_sample / batch) items drawn uniformly among
  the items its user has no positive edge with (pos_edge_input_path; graph-learn's conditional
  ``random`` strategy); the first num_sample of them, row after row, are shared by the batch.
- ``hard_negative_sampler``: negatives as negative_sampler, plus each row's hard negatives: the
  items of its user's edges in hard_neg_edge_input_path (file order), at most num_hard_sample.
- ``hard_negative_sampler_v2``: negatives as negative_sampler_v2, hard negatives as above.

Evaluation draws num_eval_sample (default num_sample) instead. graph-learn's user node table
(user_input_path) only declares the users of the edges; it is not read here.
When v2 finds fewer allowed items than it needs among its candidates (a user with edges to
nearly every item), the rest of its draws may be positives (graph-learn retries instead).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from google.protobuf.message import Message

from easy_rec.input.fields import field_dtype
from easy_rec.input.sampler_tables import ItemTable, read_edges, read_item_table
from easy_rec.protos import dataset_pb2
from easy_rec.tables.errors import InputError

logger = logging.getLogger(__name__)

#: data_config's sampler oneof fields -> the field holding the item table's path
ITEM_PATH_FIELDS = {
    "negative_sampler": "input_path",
    "negative_sampler_in_memory": "input_path",
    "negative_sampler_v2": "item_input_path",
    "hard_negative_sampler": "item_input_path",
    "hard_negative_sampler_v2": "item_input_path",
}
#: samplers whose negatives avoid the user's positive edges
CONDITIONAL = ("negative_sampler_v2", "hard_negative_sampler_v2")
#: samplers that add each user's hard negatives
HARD = ("hard_negative_sampler", "hard_negative_sampler_v2")
#: samplers that read the batch's user ids
USER_SAMPLERS = CONDITIONAL + HARD
#: candidate draws per needed negative of the conditional samplers, and at least per row
_OVERSAMPLING = 8
_MIN_CANDIDATES = 32


@dataclass
class Negatives:
    """One draw: `items` shared by the batch ({attr field: [m]}), and for hard samplers each
    row's hard negatives (`hard_items` {attr field: [h]}, `hard_indices` [h, 2] of (batch row,
    position < num_hard_sample))."""

    items: dict[str, tf.Tensor]
    hard_items: dict[str, tf.Tensor] | None = None
    hard_indices: tf.Tensor | None = None


def sampler_settings(data: dataset_pb2.DatasetConfig) -> tuple[str, Message] | None:
    """(oneof field, message) of the config's sampler; None when it sets none."""
    kind = data.WhichOneof("sampler")
    return (kind, getattr(data, kind)) if kind else None


def read_sampler_items(data: dataset_pb2.DatasetConfig) -> ItemTable:
    """The item table of the config's sampler."""
    kind, settings = sampler_settings(data)
    field = ITEM_PATH_FIELDS[kind]
    return read_item_table(getattr(settings, field), list(settings.attr_fields),
                           settings.attr_delimiter, {f.input_name: f for f in data.input_fields},
                           role=f"{kind}.{field}")


class NegativeSampler:
    """Draws the negatives of one of EasyRec's samplers (module docstring).

    The tables are read on first use and kept as constants. Deliberately not a tf.Module: the
    tables are no model state and never enter checkpoints or SavedModels.
    """

    def __init__(self, data: dataset_pb2.DatasetConfig):
        self.kind, self.config = sampler_settings(data)
        self._data = data
        self.item_id_field = self.config.item_id_field
        self.user_id_field = self.config.user_id_field if self.kind in USER_SAMPLERS else None
        self._batch_size = max(int(data.batch_size), 1)
        self._built = False

    @classmethod
    def from_data_config(cls, data: dataset_pb2.DatasetConfig) -> NegativeSampler | None:
        """The sampler data_config sets; None when it sets none."""
        return cls(data) if data.WhichOneof("sampler") else None

    # -- tables --------------------------------------------------------------------------------
    def _build(self) -> None:
        if self._built:
            return
        table = read_sampler_items(self._data)
        if not table.weights.sum() > 0:
            raise InputError(f"{self.kind}: every item weight is 0; nothing can be drawn")
        dtypes = {f.input_name: field_dtype(f) for f in self._data.input_fields}
        row_of = {int(node): row for row, node in enumerate(table.ids)}
        with tf.init_scope():
            self._columns = {name: tf.constant(values, dtype=dtypes[name])
                             for name, values in table.attrs.items()}
            with np.errstate(divide="ignore"):  # weight 0: log -inf, never drawn
                self._log_weights = tf.constant(np.log(table.weights)[None, :], tf.float32)
            self._item_ids = tf.constant(table.ids)
            if self.kind in CONDITIONAL:
                self._positives = _edge_set(*self._edges("pos_edge_input_path", row_of))
            if self.kind in HARD:
                self._hard_rows, self._hard_lists = _edge_lists(
                    *self._edges("hard_neg_edge_input_path", row_of))
        self._num_items = len(table)
        self._built = True

    def _edges(self, field: str, row_of: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(user ids, item table rows) of an edge table; edges to unknown items are dropped."""
        users, items = read_edges(getattr(self.config, field), f"{self.kind}.{field}")
        rows = np.array([row_of.get(int(i), -1) for i in items], np.int64)
        known = rows >= 0
        if not known.all():
            logger.warning("%s.%s: %d edges name items missing from the item table; they are "
                           "skipped", self.kind, field, int((~known).sum()))
        return users[known], rows[known]

    @property
    def columns(self) -> dict[str, tf.Tensor]:
        """The item table, one constant [num_items] tensor per attr field."""
        self._build()
        return self._columns

    @property
    def num_items(self) -> int:
        """Rows of the item table."""
        self._build()
        return self._num_items

    def num_draws(self, training: bool) -> int:
        """num_sample for training; num_eval_sample (default num_sample) for evaluation."""
        if training or not self.config.num_eval_sample:
            return int(self.config.num_sample)
        return int(self.config.num_eval_sample)

    @property
    def hard_width(self) -> int:
        """Hard negatives a row may get (num_hard_sample; 0 without hard negatives)."""
        return int(self.config.num_hard_sample) if self.kind in HARD else 0

    # -- drawing -------------------------------------------------------------------------------
    def draw(self, batch: dict[str, tf.Tensor], training: bool) -> Negatives:
        """The negatives of one batch of raw columns."""
        self._build()
        num = self.num_draws(training)
        if self.kind == "negative_sampler_in_memory":
            rows = self._distinct_rows(num, batch[self.item_id_field])
        elif self.kind in CONDITIONAL:
            rows = self._conditional_rows(num, self._users(batch))
        else:
            rows = tf.random.categorical(self._log_weights, num, dtype=tf.int64)[0]
        negatives = Negatives(self._gather(rows))
        if self.kind in HARD:
            hard_rows, negatives.hard_indices = self._hard(self._users(batch))
            negatives.hard_items = self._gather(hard_rows)
        return negatives

    def _gather(self, rows: tf.Tensor) -> dict[str, tf.Tensor]:
        return {name: tf.gather(values, rows) for name, values in self._columns.items()}

    def _users(self, batch: dict[str, tf.Tensor]) -> tf.Tensor:
        users = batch[self.user_id_field]
        if users.dtype == tf.string:  # decimal ids in a STRING column, as graph-learn reads them
            return tf.strings.to_number(users, tf.int64)
        return tf.cast(users, tf.int64)

    def _distinct_rows(self, num: int, batch_items: tf.Tensor) -> tf.Tensor:
        """Up to `num` distinct rows, uniformly, whose item id is not in the batch."""
        candidates = tf.random.shuffle(tf.range(self._num_items, dtype=tf.int64))
        candidates = candidates[:num + tf.size(batch_items, out_type=tf.int64)]
        ids = tf.gather(self._columns[self.item_id_field], candidates)
        in_batch = tf.reduce_any(tf.equal(ids[:, None], batch_items[None, :]), axis=1)
        return tf.boolean_mask(candidates, tf.logical_not(in_batch))[:num]

    def _conditional_rows(self, num: int, users: tf.Tensor) -> tf.Tensor:
        """ceil(num / batch_size) rows per batch row, uniformly, avoiding the row's positive
        items where the candidates allow; the first `num`, row after row."""
        per_row = max(math.ceil(num / self._batch_size), 1)
        draws = max(per_row * _OVERSAMPLING, _MIN_CANDIDATES)
        size = tf.size(users)
        candidates = tf.random.uniform([size, draws], 0, self._num_items, dtype=tf.int64)
        keys = tf.strings.join([tf.strings.as_string(tf.repeat(users[:, None], draws, axis=1)),
                                tf.strings.as_string(candidates)], separator=":")
        positive = self._positives.lookup(keys) > 0
        # allowed candidates first, each group in draw order
        order = tf.argsort(tf.cast(positive, tf.int64) * draws + tf.range(draws, dtype=tf.int64),
                           axis=1, stable=True)
        chosen = tf.gather(candidates, order[:, :per_row], batch_dims=1)
        return tf.reshape(chosen, [-1])[:num]

    def _hard(self, users: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(item rows [h], (batch row, position) [h, 2]) of the users' hard negatives."""
        lists = tf.gather(self._hard_lists, self._hard_rows.lookup(users))[:, :self.hard_width]
        rows = lists.value_rowids()
        position = tf.range(tf.size(rows, out_type=tf.int64)) - tf.gather(lists.row_starts(),
                                                                         rows)
        return lists.values, tf.stack([rows, position], axis=1)


def _edge_set(users: np.ndarray, rows: np.ndarray) -> tf.lookup.StaticHashTable:
    """'user:item row' -> 1 for every edge (lookups of other pairs give 0)."""
    keys = [f"{u}:{r}" for u, r in zip(users.tolist(), rows.tolist())] or ["-"]
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, tf.ones([len(keys)], tf.int64)), 0)


def _edge_lists(users: np.ndarray, rows: np.ndarray
                ) -> tuple[tf.lookup.StaticHashTable, tf.RaggedTensor]:
    """(user id -> list index, [users + 1, None] item rows in file order); unknown users map
    to the last, empty list."""
    if not len(users):  # no edges: one key no user id equals, pointing at the empty list
        users, rows = np.array([np.iinfo(np.int64).min]), np.zeros([0], np.int64)
        return (tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(users), tf.constant([0], tf.int64)), 0),
            tf.RaggedTensor.from_row_splits(tf.constant(rows), tf.constant([0, 0], tf.int64)))
    order = np.argsort(users, kind="stable")
    unique, starts = np.unique(users[order], return_index=True)
    splits = np.append(starts, len(order)).astype(np.int64)
    lists = tf.RaggedTensor.from_row_splits(
        tf.constant(rows[order]), tf.constant(np.append(splits, len(order))))
    index = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(unique, tf.int64), tf.range(len(unique), dtype=tf.int64)), len(unique))
    return index, lists
