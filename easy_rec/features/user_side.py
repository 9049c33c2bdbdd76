"""One user × N items: features computed once per request and broadcast to the N rows.

In such a call the raw columns of the user-side features hold one row and those of the other
(item-side) features N rows. The feature layer encodes and looks up each user-side feature at
batch 1 and broadcasts its looked-up value (not its raw input) to the N rows where it meets
item-side values; an item-side feature that reads a user-side column reads it broadcast.
The broadcasts are noted (easy_rec.layers.shared_rows), so that layers computing sums over
user-side columns (a Dense layer's product, FM) compute that part on the batch-1 values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf

from easy_rec.layers.shared_rows import broadcast


@dataclass(frozen=True)
class UserSide:
    """The user-side feature names of a 1×N call and N, the number of item rows ([] int32)."""

    features: frozenset[str]
    batch_size: tf.Tensor


@dataclass
class Broadcaster:
    """Broadcasts the values of the user-side features of one call, each (kind, feature) once."""

    side: UserSide
    done: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __call__(self, kind: str, name: str, value: Any) -> Any:
        """`value` (feature `name`'s output of `kind`, e.g. 'deep') at batch N."""
        if name not in self.side.features:
            return value
        if (kind, name) not in self.done:
            self.done[kind, name] = broadcast(value, self.side.batch_size)
        return self.done[kind, name]


def keep(kind: str, name: str, value: Any) -> Any:  # noqa: ARG001
    """The Broadcaster of a call without broadcasting: every value as computed."""
    return value
