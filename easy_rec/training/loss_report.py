"""Loss terms as EasyRec users read them: in the training log, TensorBoard and the eval results.

A model's loss terms carry EasyRec's names (easy_rec.models.losses.names:
`cross_entropy_loss`, `cross_entropy_loss_<tower>`, `kd_loss_...`), beside
`regularization_loss` (embedding_regularization + l2_regularization), the variational dropout
penalty when there is one, and `total_loss`, their sum: what the optimizer minimizes.

- the training log line every log_step_count_steps steps, in the format of EasyRec's logging
  hook: ``global step 200: lr = 0.001, cross_entropy_loss = 0.52, regularization_loss =
  0.0031, total_loss = 0.5231``;
- TensorBoard (train): one scalar per term under ``loss/`` (EasyRec's `loss` family);
- eval results: each term's mean over the eval rows as ``loss/loss/<name>`` (EasyRec's
  key), with ``loss/loss/total_loss`` and ``loss`` (the terms without regularization).
"""
from __future__ import annotations

from collections.abc import Mapping

from easy_rec.models.losses.names import TOTAL

#: prefix of a loss term's key in the eval results (EasyRec's `loss/loss/<name>`)
EVAL_PREFIX = "loss/loss/"


def loss_line(step: int, learning_rate: float, values: Mapping[str, float]) -> str:
    """The training log line of EasyRec's logging hook: `global step N: lr = ..., <term> =
    ..., ...` (values: the loss terms in order, total_loss last)."""
    terms = ", ".join(f"{name} = {value:.6g}" for name, value in values.items())
    return f"global step {step}: lr = {learning_rate:.6g}, {terms}"


class LossMeans:
    """Means over the eval rows of the loss terms and regularization terms of each batch."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._rows = 0
        self._losses: list[str] = []

    def add(self, losses: Mapping[str, float], regularization: Mapping[str, float],
            rows: int) -> None:
        """One batch of `rows` rows: its loss terms and regularization terms (batch means)."""
        if not self._losses:
            self._losses = list(losses)
        for name, value in {**losses, **regularization}.items():
            self._sums[name] = self._sums.get(name, 0.0) + value * rows
        self._rows += rows

    def result(self) -> dict[str, float]:
        """``loss/loss/<name>`` per term and ``loss/loss/total_loss`` (the sum of every term,
        regularization included), and ``loss`` (the loss terms alone)."""
        means = {name: total / max(self._rows, 1) for name, total in self._sums.items()}
        results = {EVAL_PREFIX + name: value for name, value in means.items()}
        results[EVAL_PREFIX + TOTAL] = sum(means.values())
        results["loss"] = sum(means[name] for name in self._losses)
        return results
