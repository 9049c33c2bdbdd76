"""Listwise losses: softmax cross entropy within each list, the rows of one session (the
session_name column, e.g. a request id or a user id), averaged over the lists of a batch.

For a list g with scores s (logits, optionally scaled by learned |w| s + b, then divided by the
temperature T) and target distribution q:

    L_g = - sum_{i in g} q_i log softmax_g(s)_i

LISTWISE_RANK_LOSS     q = softmax_g(y / T) when label_is_logits, else the labels as given
                       (ListNet, Cao et al., "Learning to Rank: From Pairwise Approach to
                       Listwise Approach", ICML 2007)
LISTWISE_DISTILL_LOSS  the labels are a teacher's rank positions: clipped to [1, C]
                       (C = label_clip_max_value), mapped to r = log(1 + C) - log(position)
                       (or by transform_fn), and q_i = r_i / sum_g r

transform_fn maps the labels first; it names a tf.math or tf.nn function (e.g.
"tf.math.log1p"), which is looked up by name: no other code is loaded. Row weights are not
applied (as in EasyRec, which ignores per-row weights here).
"""
from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
from google.protobuf.message import Message

from easy_rec.models.losses.registry import LossInputs, LossTerm, register_loss
from easy_rec.protos import loss_pb2

_NAMESPACES = {"tf.math": tf.math, "tf.nn": tf.nn, "tf": tf.math}


def label_transform(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """The tf.math / tf.nn function `name` names ("tf.math.log1p", "tf.nn.relu", or "tf.exp"
    for a tf.math function); ValueError for anything else."""
    namespace, _, function = name.rpartition(".")
    found = getattr(_NAMESPACES[namespace], function, None) if namespace in _NAMESPACES else None
    if function.startswith("_") or not callable(found):
        raise ValueError(f"transform_fn {name!r} must name a function of tf.math or tf.nn "
                         "(e.g. tf.math.log1p); other functions are not loaded")
    return found


def _groups(sessions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(group index of each row [B], number of groups)."""
    unique, index = tf.unique(tf.reshape(sessions, [-1]))
    return index, tf.size(unique)


def group_log_softmax(scores: tf.Tensor, index: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
    """log softmax of [B] scores within the groups given by index (values in [0, count))."""
    shifted = scores - tf.gather(tf.math.unsorted_segment_max(scores, index, count), index)
    totals = tf.math.unsorted_segment_sum(tf.exp(shifted), index, count)
    return shifted - tf.gather(tf.math.log(totals), index)


def list_cross_entropy(targets: tf.Tensor, scores: tf.Tensor, sessions: tf.Tensor) -> tf.Tensor:
    """Mean over the lists of -sum_i targets_i log softmax_list(scores)_i."""
    index, count = _groups(sessions)
    per_row = -targets * group_log_softmax(scores, index, count)
    return tf.reduce_mean(tf.math.unsorted_segment_sum(per_row, index, count))


def listwise_rank_loss(labels: tf.Tensor, logits: tf.Tensor, sessions: tf.Tensor,
                       temperature: float = 1.0, label_is_logits: bool = False,
                       transform: Callable[[tf.Tensor], tf.Tensor] | None = None) -> tf.Tensor:
    """LISTWISE_RANK_LOSS of [B] logits (already scaled, when scale_logits is set)."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.float32)
    scores = tf.reshape(logits, [-1]) / temperature
    if label_is_logits:
        labels /= temperature
    if transform is not None:
        labels = transform(labels)
    if label_is_logits:
        index, count = _groups(sessions)
        labels = tf.exp(group_log_softmax(labels, index, count))
    return list_cross_entropy(labels, scores, sessions)


def listwise_distill_loss(labels: tf.Tensor, logits: tf.Tensor, sessions: tf.Tensor,
                          temperature: float = 1.0, label_clip_max_value: float = 512.0,
                          transform: Callable[[tf.Tensor], tf.Tensor] | None = None
                          ) -> tf.Tensor:
    """LISTWISE_DISTILL_LOSS of [B] logits against a teacher's rank positions."""
    positions = tf.clip_by_value(tf.cast(tf.reshape(labels, [-1]), tf.float32), 1.0,
                                 label_clip_max_value)
    if transform is not None:
        relevance = transform(positions)
    else:
        relevance = tf.math.log1p(label_clip_max_value) - tf.math.log(positions)
    index, count = _groups(sessions)
    totals = tf.math.unsorted_segment_sum(relevance, index, count)
    targets = relevance / tf.gather(totals, index)
    return list_cross_entropy(targets, tf.reshape(logits, [-1]) / temperature, sessions)


class _Listwise(LossTerm):
    """Shared by the listwise terms: the learned logit scale and the label transform."""

    def __init__(self, param: Message | None = None, name: str | None = None):
        super().__init__(param, name)
        self.transform = label_transform(self.param.transform_fn) \
            if self.param.transform_fn else None
        if self.param.scale_logits:
            with self.name_scope:
                self.scale_w = tf.Variable([1.0], name="scale_w")
                self.scale_b = tf.Variable([0.0], name="scale_b")

    def scaled_logits(self, inputs: LossInputs) -> tf.Tensor:
        logits = tf.reshape(inputs.outputs["logits"], [-1])
        if self.param.scale_logits:
            logits = logits * tf.abs(self.scale_w) + self.scale_b
        return logits


@register_loss(loss_pb2.LISTWISE_RANK_LOSS, head="binary")
class ListwiseRank(_Listwise):
    """ListwiseRankLoss { temperature label_is_logits scale_logits transform_fn
    session_name }."""

    param_type = loss_pb2.ListwiseRankLoss

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        return listwise_rank_loss(inputs.labels, self.scaled_logits(inputs),
                                  self.sessions(inputs), self.param.temperature,
                                  self.param.label_is_logits, self.transform)


@register_loss(loss_pb2.LISTWISE_DISTILL_LOSS, head="binary")
class ListwiseDistill(_Listwise):
    """ListwiseDistillLoss { temperature label_clip_max_value scale_logits transform_fn
    session_name }."""

    param_type = loss_pb2.ListwiseDistillLoss

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        return listwise_distill_loss(inputs.labels, self.scaled_logits(inputs),
                                     self.sessions(inputs), self.param.temperature,
                                     self.param.label_clip_max_value, self.transform)
