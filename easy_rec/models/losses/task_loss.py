"""The loss of one task: its configured losses (a tower's or the model's `losses`, else its
loss_type), each weighted by model_config.loss_weight_strategy as EasyRec does:

    Fixed        weight * L
    Uncertainty  with learn_loss_weight: exp(-u) L + u / 2 (L2 losses: exp(-u) L / 2 + u / 2),
                 u learned from 0 (Kendall et al., "Multi-Task Learning Using Uncertainty to
                 Weigh Losses", CVPR 2018); without it: weight * L
    Random       r_k L with r = softmax of one N(0, 1) draw per loss of the model, every step
                 (random loss weighting, Lin et al., 2021, https://arxiv.org/abs/2111.10603)

An F1_REWEIGHTED_LOSS entry without its own f1_reweighted_loss takes the model-level
model_config.f1_reweight_loss (older EasyRec releases' place for it; with_model_params).

ORDER_CALIBRATE_LOSS entries add weight * mean(relu(p_task - p_r)) for every related tower r
(a multi-task tower's relation_tower_names): a task downstream of r should not predict a
higher probability than r.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.models.losses.names import term_name, unique_names
from easy_rec.models.losses.registry import LossInputs, build_term, param_of
from easy_rec.protos import easy_rec_model_pb2, loss_pb2

Strategy = easy_rec_model_pb2.EasyRecModel.LossWeightStrategy
_HALVED = (loss_pb2.L2_LOSS, loss_pb2.SIGMOID_L2_LOSS)


def with_model_params(losses: Sequence[loss_pb2.Loss],
                      model_config: easy_rec_model_pb2.EasyRecModel) -> list[loss_pb2.Loss]:
    """`losses`, where an F1_REWEIGHTED_LOSS entry without parameters gets a copy with
    model_config.f1_reweight_loss as its f1_reweighted_loss."""
    if not model_config.HasField("f1_reweight_loss"):
        return list(losses)
    filled = []
    for loss in losses:
        if loss.loss_type == loss_pb2.F1_REWEIGHTED_LOSS and loss.WhichOneof("loss_param") is None:
            loss = loss_pb2.Loss.FromString(loss.SerializeToString())
            loss.f1_reweighted_loss.CopyFrom(model_config.f1_reweight_loss)
        filled.append(loss)
    return filled


class LossWeight(tf.Module):
    """How one loss entry is weighted (module docstring)."""

    def __init__(self, loss: loss_pb2.Loss, strategy: int, name: str | None = None):
        super().__init__(name=name)
        self.weight = float(loss.weight)
        self.learned = strategy == easy_rec_model_pb2.EasyRecModel.Uncertainty \
            and loss.learn_loss_weight
        self.scale = 0.5 if loss.loss_type in _HALVED else 1.0
        if self.learned:
            with self.name_scope:
                self.uncertainty = tf.Variable(0.0, name="uncertainty")

    def __call__(self, value: tf.Tensor, random_weight: tf.Tensor | None = None) -> tf.Tensor:
        if self.learned:
            u = self.uncertainty
            return self.scale * tf.exp(-u) * value + 0.5 * u
        if random_weight is not None:
            return random_weight * value
        return self.weight * value


class TaskLoss(tf.Module):
    """The configured losses of one task, weighted, by name (losses.names)."""

    def __init__(self, losses: Sequence[loss_pb2.Loss], strategy: int, suffix: str = "",
                 name: str | None = None):
        """`suffix`: appended to the term names (`_<tower>` for a multi-task model's task)."""
        super().__init__(name=name)
        self.random = strategy == easy_rec_model_pb2.EasyRecModel.Random
        terms = [loss for loss in losses if loss.loss_type != loss_pb2.ORDER_CALIBRATE_LOSS]
        self.calibration_weights = [float(loss.weight) for loss in losses
                                    if loss.loss_type == loss_pb2.ORDER_CALIBRATE_LOSS]
        self.names = unique_names([term_name(loss, suffix) for loss in terms])
        self.calibration_name = f"order_calibrate_loss{suffix}"
        with self.name_scope:
            self.terms = [build_term(loss.loss_type, param_of(loss), name=f"loss_{i}")
                          for i, loss in enumerate(terms)]
            self.weights = [LossWeight(loss, strategy, name=f"weight_{i}")
                            for i, loss in enumerate(terms)]

    @property
    def num_terms(self) -> int:
        """Number of weighted terms (the slots of the Random strategy)."""
        return len(self.terms)

    def __call__(self, inputs: LossInputs, scale: float = 1.0,
                 random_weights: tf.Tensor | None = None,
                 related_probs: Sequence[tf.Tensor] = ()) -> dict[str, tf.Tensor]:
        """The weighted terms by name, each scale * term (scale: the task's weight), and the
        order calibration against `related_probs` (the related towers' probabilities)."""
        terms = {}
        for k, (name, term, weight) in enumerate(zip(self.names, self.terms, self.weights)):
            value = scale * term(inputs)
            terms[name] = weight(value, random_weights[k] if self.random else None)
        probs = inputs.outputs.get("probs")
        calibration = [weight * tf.reduce_mean(tf.nn.relu(probs - other))
                       for weight in self.calibration_weights for other in related_probs]
        if calibration:
            terms[self.calibration_name] = tf.add_n(calibration)
        return terms
