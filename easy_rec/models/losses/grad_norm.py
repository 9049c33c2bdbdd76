"""GradNorm: task-loss weights learned so that the tasks train at similar rates.

Chen et al., "GradNorm: Gradient Normalization for Adaptive Loss Balancing in Deep Multitask
Networks", ICML 2018, https://arxiv.org/abs/1711.02257, as EasyRec applies it to a multi-task
model (`model_config.grad_norm: true`, DBMTL). With task losses L_i (i = 1..N), learned
weights w_i (from 1) and W the shared layer's kernel (DBMTL: the last bottom_dnn layer):

    weighted loss   l_i = w_i L_i
    gradient norm   G_i = ||d l_i / d W||_2,            G_avg = mean_i G_i
    relative loss   r_i = (l_i / l_i(0)) / mean_j (l_j / l_j(0))   (l_i(0): the first step's)
    GradNorm loss   L_grad = sum_i |G_i - stop_gradient(G_avg r_i^alpha)|

The model trains on sum_i l_i + L_grad with one optimizer, as EasyRec does (so L_grad moves
the w_i, and through G_i also the network), and after each step's loss the w_i are rescaled
to sum to N (they then take the step's update). Each task is one term: a tower with several
`losses` counts once (EasyRec weighs each loss entry).

G_i needs the gradient of l_i inside the training gradient: it is built with tf.gradients, so
the training loss runs in a tf.function (the trainer's step). Outside training the terms are
w_i L_i alone, without L_grad, and nothing is updated.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


class GradNorm(tf.Module):
    """Weights of `num_tasks` task losses, learned by GradNorm (module docstring)."""

    def __init__(self, num_tasks: int, alpha: float, name: str | None = None):
        super().__init__(name=name)
        self.alpha = float(alpha)
        with self.name_scope:
            self.weights = [tf.Variable(1.0, name=f"loss_w_{i}") for i in range(num_tasks)]
            # l_i(0); negative until the first training step records it
            self.initial_losses = [tf.Variable(-1.0, trainable=False, name=f"loss_{i}")
                                   for i in range(num_tasks)]

    def __call__(self, losses: Sequence[tf.Tensor], shared: tf.Variable, training: bool
                 ) -> list[tf.Tensor]:
        """The weighted task losses w_i L_i, and in training also L_grad (one more term)."""
        weighted = [w * loss for w, loss in zip(self.weights, losses)]
        if not training:
            return weighted
        if tf.executing_eagerly():
            raise RuntimeError("grad_norm differentiates gradients with tf.gradients: call the "
                               "training loss inside a tf.function (as the trainer does)")
        count = float(len(weighted))
        norms = [tf.norm(tf.gradients(loss, shared)[0]) for loss in weighted]
        mean_norm = tf.add_n(norms) / count
        relative = []
        for loss, initial in zip(weighted, self.initial_losses):
            first = tf.where(initial < 0.0, tf.stop_gradient(loss), initial)
            initial.assign(first)
            relative.append(loss / first)
        mean_relative = tf.add_n(relative) / count
        grad_loss = tf.add_n([
            tf.abs(norm - tf.stop_gradient(mean_norm * tf.pow(r / mean_relative, self.alpha)))
            for norm, r in zip(norms, relative)])
        with tf.control_dependencies([grad_loss]):
            scale = count / tf.add_n([tf.identity(w) for w in self.weights])
            for w in self.weights:
                w.assign(w * scale)
        return [*weighted, grad_loss]
