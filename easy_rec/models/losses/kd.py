"""Knowledge distillation (model_config.kd): extra losses pulling a model output (pred_name,
e.g. 'logits' or 'logits_ctr') towards a teacher's soft label (soft_label_name, one of
data_config.label_fields), as EasyRec's build_kd_loss computes them. With T = temperature:

CROSS_ENTROPY_LOSS          logits (log(x + 1e-7) of probabilities) / T -> sigmoid (one
                            column) or softmax, then log loss -t log(p) - (1 - t) log(1 - p)
BINARY_CROSS_ENTROPY_LOSS   logits (logit(x) of probabilities) / T; sigmoid cross entropy
                            against sigmoid(teacher)
KL_DIVERGENCE_LOSS          both to distributions as above ([p, 1 - p] for one column), then
                            KL(teacher || student)
L2_LOSS                     (pred - soft label)^2 (no temperature)
other loss types            the task loss of that type (e.g. PAIRWISE_LOGISTIC_LOSS, with
                            its loss_param) with the soft label as label and pred as logits

Each is loss_weight times the row mean; when task_space_indicator_name and _value are set, rows
whose column equals the value weigh in_task_space_weight and the others out_task_space_weight.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import tensorflow as tf

from easy_rec.models.losses.names import kd_name, unique_names
from easy_rec.models.losses.registry import LossInputs, build_term, param_of, weighted_mean
from easy_rec.protos import easy_rec_model_pb2, loss_pb2

_EPSILON = 1e-7  # tf.keras.backend.epsilon(), as EasyRec uses
KD_LOSSES = (loss_pb2.CROSS_ENTROPY_LOSS, loss_pb2.BINARY_CROSS_ENTROPY_LOSS,
        loss_pb2.KL_DIVERGENCE_LOSS, loss_pb2.L2_LOSS)


def _logit(probs: tf.Tensor) -> tf.Tensor:
    probs = tf.clip_by_value(probs, _EPSILON, 1.0 - _EPSILON)
    return tf.math.log(probs / (1.0 - probs))


def _to_distribution(values: tf.Tensor, is_logits: bool, temperature: float,
                     binary: bool) -> tf.Tensor:
    """KL_DIVERGENCE_LOSS inputs as distributions: [B, 2] for one column, else [B, C]."""
    if not is_logits:
        values = _logit(values) if binary else tf.math.log(values + _EPSILON)
    if temperature > 0:
        values /= temperature
    if binary:
        probs = tf.sigmoid(values)
        return tf.stack([1.0 - probs, probs], axis=-1)
    return tf.nn.softmax(values)


def cross_entropy_distillation(soft: tf.Tensor, pred: tf.Tensor, label_is_logits: bool = True,
                               pred_is_logits: bool = True, temperature: float = 1.0,
                               weights: tf.Tensor | None = None) -> tf.Tensor:
    """CROSS_ENTROPY_LOSS: log loss between the tempered teacher and student probabilities."""
    if not label_is_logits:
        soft = tf.math.log(soft + _EPSILON)
    if not pred_is_logits:
        pred = tf.math.log(pred + _EPSILON)
    if temperature > 0:
        soft, pred = soft / temperature, pred / temperature
    activate = tf.sigmoid if pred.shape.rank < 2 else tf.nn.softmax
    target, probs = activate(soft), activate(pred)
    losses = -(target * tf.math.log(probs + _EPSILON)
               + (1.0 - target) * tf.math.log(1.0 - probs + _EPSILON))
    if weights is not None and losses.shape.rank == 2:
        weights = weights[:, None]
    return weighted_mean(losses, weights)


def binary_cross_entropy_distillation(soft: tf.Tensor, pred: tf.Tensor,
                                      label_is_logits: bool = True, pred_is_logits: bool = True,
                                      temperature: float = 1.0,
                                      weights: tf.Tensor | None = None) -> tf.Tensor:
    """BINARY_CROSS_ENTROPY_LOSS: sigmoid cross entropy of the tempered logits."""
    if not label_is_logits:
        soft = _logit(soft)
    if not pred_is_logits:
        pred = _logit(pred)
    if temperature > 0:
        soft, pred = soft / temperature, pred / temperature
    return weighted_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.sigmoid(soft), pred),
                         weights)


def kl_divergence_distillation(soft: tf.Tensor, pred: tf.Tensor, label_is_logits: bool = True,
                               pred_is_logits: bool = True, temperature: float = 1.0,
                               weights: tf.Tensor | None = None) -> tf.Tensor:
    """KL_DIVERGENCE_LOSS: KL(teacher || student) per row, then the row mean."""
    binary = pred.shape.rank < 2
    target = tf.clip_by_value(_to_distribution(soft, label_is_logits, temperature, binary),
                              _EPSILON, 1.0)
    probs = tf.clip_by_value(_to_distribution(pred, pred_is_logits, temperature, binary),
                             _EPSILON, 1.0)
    return weighted_mean(tf.reduce_sum(target * tf.math.log(target / probs), axis=-1), weights)


class Distillation(tf.Module):
    """Every kd entry of model_config."""

    def __init__(self, entries: Sequence[easy_rec_model_pb2.KD], taken: Sequence[str] = (),
                 name: str | None = None):
        """`taken`: the names of the model's other loss terms (kd names stay distinct)."""
        super().__init__(name=name)
        self.entries = list(entries)
        self.names = unique_names([kd_name(kd) for kd in self.entries], taken)
        with self.name_scope:
            # other loss types are computed by their task loss terms
            self.terms = [None if kd.loss_type in KD_LOSSES else
                          build_term(kd.loss_type, param_of(kd), name=f"kd_{i}")
                          for i, kd in enumerate(self.entries)]

    def __call__(self, outputs: Mapping[str, tf.Tensor], batch: Mapping[str, tf.Tensor]
                 ) -> dict[str, tf.Tensor]:
        """Each entry's weighted term, by name (losses.names.kd_name)."""
        return {name: self._entry(i, outputs, batch) for i, name in enumerate(self.names)}

    def _entry(self, index: int, outputs: Mapping[str, tf.Tensor],
               batch: Mapping[str, tf.Tensor]) -> tf.Tensor:
        kd = self.entries[index]
        if kd.pred_name not in outputs:
            raise ValueError(f"model_config.kd[{index}].pred_name {kd.pred_name!r} is not an "
                             f"output of the model (outputs: {', '.join(sorted(outputs))})")
        pred = tf.cast(outputs[kd.pred_name], tf.float32)
        soft = tf.cast(batch[kd.soft_label_name], tf.float32)
        if pred.shape.rank == 2 and soft.shape.rank == 1:
            raise ValueError(f"model_config.kd[{index}]: output {kd.pred_name!r} has "
                             f"{pred.shape[-1]} columns but soft label {kd.soft_label_name!r} "
                             "has one value per row")
        weights = self._space_weights(kd, batch)
        args = (soft, pred, kd.label_is_logits, kd.pred_is_logits, kd.temperature, weights)
        if kd.loss_type == loss_pb2.CROSS_ENTROPY_LOSS:
            loss = cross_entropy_distillation(*args)
        elif kd.loss_type == loss_pb2.BINARY_CROSS_ENTROPY_LOSS:
            loss = binary_cross_entropy_distillation(*args)
        elif kd.loss_type == loss_pb2.KL_DIVERGENCE_LOSS:
            loss = kl_divergence_distillation(*args)
        elif kd.loss_type == loss_pb2.L2_LOSS:
            loss = weighted_mean(tf.square(pred - soft), weights)
        else:
            loss = self.terms[index](LossInputs(soft, {"logits": pred, "y": pred}, weights,
                                                batch))
        return kd.loss_weight * loss

    @staticmethod
    def _space_weights(kd: easy_rec_model_pb2.KD, batch: Mapping[str, tf.Tensor]
                       ) -> tf.Tensor | None:
        if not (kd.task_space_indicator_name and kd.HasField("task_space_indicator_value")):
            return None
        column = batch[kd.task_space_indicator_name]
        if column.dtype != tf.string:
            column = tf.strings.as_string(column)
        inside = tf.cast(tf.equal(column, kd.task_space_indicator_value), tf.float32)
        return kd.in_task_space_weight * inside + kd.out_task_space_weight * (1.0 - inside)
