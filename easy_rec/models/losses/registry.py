"""Loss terms by LossType: what one configured loss of a task computes, and which outputs it
makes the task produce.

A family module (pointwise, focal, pairwise, listwise, jrc, ziln) defines each loss as a
`LossTerm` subclass registered with `@register_loss(LossType.X, head=...)`. A term is a
tf.Module built once with the model (so the variables of `scale_logits` or of JRC's
`uncertainty` strategy are the model's), then called every step with the task's `LossInputs`.

Heads name the outputs a loss needs (easy_rec.models.losses.heads); a task's losses must agree
on one head.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import tensorflow as tf
from google.protobuf.message import Message

from easy_rec.protos import loss_pb2

LossType = loss_pb2.LossType


@dataclass(frozen=True)
class LossInputs:
    """What a loss term of one task reads.

    labels: [batch] label column of the task (its input dtype).
    outputs: the task's outputs by plain key ('logits', 'probs', 'y').
    weights: [batch] row weights (sample weight and task-space weights), None when all 1.
    columns: the batch's raw columns (a loss's session_name names one).
    """

    labels: tf.Tensor
    outputs: Mapping[str, tf.Tensor]
    weights: tf.Tensor | None = None
    columns: Mapping[str, tf.Tensor] = field(default_factory=dict)


class LossTerm(tf.Module):
    """One loss of a task. Subclasses read their parameter message (None: EasyRec's defaults,
    taken from an empty message) in __init__ and compute a scalar in __call__."""

    #: the parameter message the term reads (a Loss oneof field's type); None: no parameters
    param_type: type[Message] | None = None

    def __init__(self, param: Message | None = None, name: str | None = None):
        super().__init__(name=name)
        if self.param_type is not None and param is None:
            param = self.param_type()
        self.param = param

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        raise NotImplementedError

    def sessions(self, inputs: LossInputs) -> tf.Tensor | None:
        """[batch] session ids from the column the parameter's session_name names, if any."""
        name = getattr(self.param, "session_name", "")
        return tf.reshape(inputs.columns[name], [-1]) if name else None


@dataclass(frozen=True)
class LossSpec:
    """A registered loss: its term class and the head it needs (a name in heads.HEADS, or a
    function of num_class for CLASSIFICATION)."""

    term: type[LossTerm]
    head: str | Callable[[int], str]

    def head_for(self, num_class: int) -> str:
        return self.head(num_class) if callable(self.head) else self.head


_LOSSES: dict[int, LossSpec] = {}


def register_loss(loss_type: int, head: str | Callable[[int], str]
                  ) -> Callable[[type[LossTerm]], type[LossTerm]]:
    """Class decorator registering a LossTerm for `loss_type` with the head it needs."""

    def add(cls: type[LossTerm]) -> type[LossTerm]:
        if loss_type in _LOSSES:
            raise ValueError(f"{LossType.Name(loss_type)} is registered twice")
        _LOSSES[loss_type] = LossSpec(cls, head)
        return cls

    return add


def _load_families() -> None:
    from easy_rec.models import losses  # noqa: F401  (imports every family module)


def loss_spec(loss_type: int) -> LossSpec | None:
    """The registered spec of `loss_type`, None when no task loss computes it."""
    _load_families()
    return _LOSSES.get(loss_type)


def task_loss_types() -> list[int]:
    """Loss types a task may use, in enum order."""
    _load_families()
    return sorted(_LOSSES)


def build_term(loss_type: int, param: Message | None = None, name: str | None = None
               ) -> LossTerm:
    """The LossTerm of `loss_type` with its parameter message (None: defaults)."""
    spec = loss_spec(loss_type)
    if spec is None:
        raise ValueError(f"{LossType.Name(loss_type)} is not a loss of a task's output")
    return spec.term(param, name=name)


def weighted_mean(values: tf.Tensor, weights: tf.Tensor | None) -> tf.Tensor:
    """Mean of values, or sum(values * weights) / number of non-zero weights (0 when there is
    none): the reduction of EasyRec's tf.losses (SUM_BY_NONZERO_WEIGHTS)."""
    if weights is None:
        return tf.math.divide_no_nan(tf.reduce_sum(values),
                                     tf.cast(tf.size(values), values.dtype))
    weights = tf.broadcast_to(tf.cast(weights, values.dtype), tf.shape(values))
    return tf.math.divide_no_nan(tf.reduce_sum(values * weights),
                                 tf.cast(tf.math.count_nonzero(weights), values.dtype))


def hard_example_mean(losses: tf.Tensor, ohem_ratio: float) -> tf.Tensor:
    """Online hard example mining: the mean of the largest round(ohem_ratio * n) of the
    (already weighted) losses, over those that are > 0."""
    count = tf.cast(tf.math.rint(tf.cast(tf.size(losses), tf.float32) * ohem_ratio), tf.int32)
    top = tf.math.top_k(tf.reshape(losses, [-1]), count).values
    top = tf.boolean_mask(top, top > 0)
    return tf.math.divide_no_nan(tf.reduce_sum(top), tf.cast(tf.size(top), top.dtype))


def param_of(loss: Message) -> Message | None:
    """The parameter message a Loss / KD entry sets in its loss_param oneof, or None."""
    which = loss.WhichOneof("loss_param")
    return getattr(loss, which) if which else None


def session_column(loss: Message) -> str:
    """The session_name column a Loss / KD entry's parameters name ('' when none)."""
    return getattr(param_of(loss), "session_name", "")
