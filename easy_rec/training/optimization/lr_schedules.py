"""Learning-rate schedules: functions of the global step built from a LearningRate proto.

Every schedule is a callable mapping an integer step tensor (int32 or int64, scalar) to a
float32 scalar learning rate. They are made of TensorFlow ops only, so they can be called
inside a ``tf.function`` with a step that is only known at run time (e.g. an optimizer's
``iterations`` variable). Intermediate values are computed in float64 so that large step
counts do not lose precision; the result is cast to float32.

The semantics follow EasyRec (itself following the TF object-detection API):

* ``constant_learning_rate``: a constant.
* ``exponential_decay_learning_rate``: ``initial * factor ** ((step - burnin_steps) /
  decay_steps)`` (the exponent floored when ``staircase``); for ``step < burnin_steps`` the
  rate goes linearly from ``burnin_learning_rate`` to ``initial`` (or stays at ``initial``
  when ``burnin_learning_rate`` is 0); never below ``min_learning_rate``.
* ``manual_step_learning_rate``: ``initial`` before the first boundary, then
  ``schedule[i].learning_rate`` from ``schedule[i].step`` on; with ``warmup`` the rate goes
  linearly from ``initial`` to ``schedule[0].learning_rate`` over ``[0, schedule[0].step]``.
* ``cosine_decay_learning_rate``: linear warm-up from ``warmup_learning_rate`` to
  ``learning_rate_base`` over ``warmup_steps``, the base rate held for
  ``hold_base_rate_steps``, then a half cosine down to 0 at ``total_steps``; 0 afterwards.
* ``poly_decay_learning_rate``: ``(base - end) * (1 - min(step, total) / total) ** power +
  end``.
* ``transformer_learning_rate``: the "noam" schedule of Attention Is All You Need, ``base *
  hidden_size ** -0.5 * min((s + 1) * w ** -1.5, (s + 1) ** -0.5)`` with ``s = step *
  step_scaling_rate`` and ``w = warmup_steps * step_scaling_rate``: it rises linearly for
  ``w`` scaled steps, then decays as the inverse square root.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import tensorflow as tf

from easy_rec.protos import optimizer_pb2

LearningRateFn = Callable[[tf.Tensor], tf.Tensor]


def _float_step(step: tf.Tensor) -> tf.Tensor:
    return tf.cast(step, tf.float64)


def _linear(start: float, end: float, step: tf.Tensor, num_steps: int) -> tf.Tensor:
    """Rate going linearly from `start` (step 0) to `end` (step `num_steps`)."""
    return start + (end - start) * _float_step(step) / max(num_steps, 1)


def _to_float32(schedule: Callable[[tf.Tensor], tf.Tensor]) -> LearningRateFn:
    def learning_rate(step: tf.Tensor) -> tf.Tensor:
        return tf.cast(schedule(step), tf.float32)

    return learning_rate


def constant(learning_rate: float) -> LearningRateFn:
    """The same rate at every step."""
    return lambda step: tf.constant(learning_rate, tf.float32)


def exponential_decay_with_burnin(
    initial_learning_rate: float,
    decay_steps: int,
    decay_factor: float,
    staircase: bool = True,
    burnin_learning_rate: float = 0.0,
    burnin_steps: int = 0,
    min_learning_rate: float = 0.0,
) -> LearningRateFn:
    """Exponential decay counted from the end of a linear burn-in, clamped from below."""
    if decay_steps <= 0:
        raise ValueError(f"decay_steps must be positive, got {decay_steps}")
    burnin_start = burnin_learning_rate if burnin_learning_rate else initial_learning_rate

    def schedule(step: tf.Tensor) -> tf.Tensor:
        exponent = (_float_step(step) - burnin_steps) / decay_steps
        if staircase:
            exponent = tf.floor(exponent)
        decayed = initial_learning_rate * tf.pow(tf.constant(decay_factor, tf.float64), exponent)
        burnin = _linear(burnin_start, initial_learning_rate, step, burnin_steps)
        rate = tf.where(_float_step(step) < burnin_steps, burnin, decayed)
        return tf.maximum(rate, min_learning_rate)

    return _to_float32(schedule)


def manual_stepping(
    initial_learning_rate: float,
    boundaries: Sequence[int],
    rates: Sequence[float],
    warmup: bool = False,
) -> LearningRateFn:
    """Piecewise constant: `initial_learning_rate`, then `rates[i]` from step `boundaries[i]`."""
    if not boundaries:
        raise ValueError("manual_step_learning_rate needs a non-empty schedule")
    if len(boundaries) != len(rates):
        raise ValueError("boundaries and rates must have the same length")
    if boundaries[0] <= 0:
        raise ValueError("the first schedule step must be positive")
    if any(later <= earlier for earlier, later in itertools.pairwise(boundaries)):
        raise ValueError(f"schedule steps must be strictly increasing, got {list(boundaries)}")
    all_rates = tf.constant([initial_learning_rate, *rates], tf.float64)
    steps = tf.constant(boundaries, tf.int64)

    def schedule(step: tf.Tensor) -> tf.Tensor:
        step = tf.cast(step, tf.int64)
        passed = tf.reduce_sum(tf.cast(step >= steps, tf.int32))
        rate = tf.gather(all_rates, passed)
        if warmup:
            ramp = _linear(initial_learning_rate, rates[0], step, boundaries[0])
            rate = tf.where(step < boundaries[0], ramp, rate)
        return rate

    return _to_float32(schedule)


def cosine_decay_with_warmup(
    learning_rate_base: float,
    total_steps: int,
    warmup_learning_rate: float = 0.0,
    warmup_steps: int = 0,
    hold_base_rate_steps: int = 0,
) -> LearningRateFn:
    """Linear warm-up, a hold at the base rate, then a half cosine to 0 at `total_steps`."""
    if learning_rate_base < warmup_learning_rate:
        raise ValueError("learning_rate_base must be at least warmup_learning_rate")
    if total_steps < warmup_steps:
        raise ValueError("total_steps must be at least warmup_steps")
    decay_start = warmup_steps + hold_base_rate_steps
    decay_steps = max(total_steps - decay_start, 1)

    def schedule(step: tf.Tensor) -> tf.Tensor:
        fstep = _float_step(step)
        progress = (fstep - decay_start) / decay_steps
        cosine = 0.5 * learning_rate_base * (1.0 + tf.cos(math.pi * progress))
        rate = tf.where(fstep > decay_start, cosine, learning_rate_base)
        ramp = _linear(warmup_learning_rate, learning_rate_base, step, warmup_steps)
        rate = tf.where(fstep < warmup_steps, ramp, rate)
        return tf.where(fstep > total_steps, tf.constant(0.0, tf.float64), rate)

    return _to_float32(schedule)


def polynomial_decay(
    learning_rate_base: float,
    total_steps: int,
    power: float,
    end_learning_rate: float = 0.0,
) -> LearningRateFn:
    """Polynomial decay from `learning_rate_base` to `end_learning_rate` at `total_steps`."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")

    def schedule(step: tf.Tensor) -> tf.Tensor:
        remaining = 1.0 - tf.minimum(_float_step(step), float(total_steps)) / total_steps
        decaying_part = (learning_rate_base - end_learning_rate) * tf.pow(remaining, power)
        return decaying_part + end_learning_rate

    return _to_float32(schedule)


def transformer(learning_rate_base: float, hidden_size: int, warmup_steps: int,
                step_scaling_rate: float = 1.0) -> LearningRateFn:
    """The "noam" schedule (linear warm-up, then inverse square root decay)."""
    if hidden_size <= 0 or warmup_steps <= 0:
        raise ValueError("transformer_learning_rate needs hidden_size > 0 and warmup_steps > 0, "
                         f"got {hidden_size} and {warmup_steps}")
    if step_scaling_rate <= 0:
        raise ValueError(f"step_scaling_rate must be positive, got {step_scaling_rate}")
    scale = learning_rate_base * hidden_size ** -0.5
    warmup = warmup_steps * step_scaling_rate

    def schedule(step: tf.Tensor) -> tf.Tensor:
        scaled = _float_step(step) * step_scaling_rate + 1.0
        return scale * tf.minimum(scaled * warmup ** -1.5, tf.math.rsqrt(scaled))

    return _to_float32(schedule)


def _from_exponential(config: optimizer_pb2.ExponentialDecayLearningRate) -> LearningRateFn:
    return exponential_decay_with_burnin(
        config.initial_learning_rate,
        config.decay_steps,
        config.decay_factor,
        staircase=config.staircase,
        burnin_learning_rate=config.burnin_learning_rate,
        burnin_steps=config.burnin_steps,
        min_learning_rate=config.min_learning_rate,
    )


def _from_manual_step(config: optimizer_pb2.ManualStepLearningRate) -> LearningRateFn:
    return manual_stepping(
        config.initial_learning_rate,
        [entry.step for entry in config.schedule],
        [entry.learning_rate for entry in config.schedule],
        warmup=config.warmup,
    )


def _from_cosine(config: optimizer_pb2.CosineDecayLearningRate) -> LearningRateFn:
    return cosine_decay_with_warmup(
        config.learning_rate_base,
        config.total_steps,
        warmup_learning_rate=config.warmup_learning_rate,
        warmup_steps=config.warmup_steps,
        hold_base_rate_steps=config.hold_base_rate_steps,
    )


def _from_poly(config: optimizer_pb2.PolyDecayLearningRate) -> LearningRateFn:
    return polynomial_decay(
        config.learning_rate_base,
        config.total_steps,
        config.power,
        end_learning_rate=config.end_learning_rate,
    )


def _from_transformer(config: optimizer_pb2.TransformerLearningRate) -> LearningRateFn:
    return transformer(config.learning_rate_base, config.hidden_size, config.warmup_steps,
                       step_scaling_rate=config.step_scaling_rate)


_BUILDERS: dict[str, Callable[..., LearningRateFn]] = {
    "constant_learning_rate": lambda config: constant(config.learning_rate),
    "exponential_decay_learning_rate": _from_exponential,
    "manual_step_learning_rate": _from_manual_step,
    "cosine_decay_learning_rate": _from_cosine,
    "poly_decay_learning_rate": _from_poly,
    "transformer_learning_rate": _from_transformer,
}


def build_learning_rate(lr_config: optimizer_pb2.LearningRate) -> LearningRateFn:
    """The schedule described by a LearningRate proto; ValueError when none is set."""
    kind = lr_config.WhichOneof("learning_rate")
    if kind is None:
        raise ValueError("LearningRate config sets no schedule")
    return _BUILDERS[kind](getattr(lr_config, kind))


def scale(schedule: LearningRateFn, multiplier: float) -> LearningRateFn:
    """`schedule` multiplied by a constant factor (returned unchanged for a factor of 1)."""
    if multiplier == 1.0:
        return schedule
    return lambda step: schedule(step) * multiplier
