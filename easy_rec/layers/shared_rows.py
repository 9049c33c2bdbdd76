"""Rows shared by a whole batch: in a one user × N items call, what is linear in the user's
values is computed once, on one row, and added to the items' part with broadcasting.

In the trace of a one user × N items call (FeatureLayer.user_side) user-side values are
computed at batch 1 and broadcast to the N item rows. While `recording()` is active,
`broadcast` notes each broadcast tensor's batch-1 source and `concat` which columns of a
concatenation are such broadcasts; the layers use these notes where their result is a sum
over those columns, so that the user's columns meet the weights once instead of N times:

    x W + b = i W_i + (u W_u + b)       x = [u, i] in any column order (Dense: `dense`)
    sum_f v_f = sum_{item f} v_f + sum_{user f} v_f      (sums over fields: `sum_fields`)

Both sides are the same sums in another order: the results equal the N-row computation up
to float rounding (a few ulps). Outside a recording (training, serving_default) nothing is
noted and every function computes exactly as the plain TensorFlow op it replaces. A Dense
input can also be a `LinearInput`, an object that computes its own product with a kernel
(target attention's [q, h, q - h, q * h] pairs over a shared history).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

_state = threading.local()


@dataclass(frozen=True)
class _Blocks:
    """The columns of a [N, width] concatenation: per part, its batch-1 source when it is a
    broadcast (None otherwise) and its N-row value."""

    parts: tuple[tuple[tf.Tensor | None, tf.Tensor], ...]


class LinearInput:
    """A Dense input given by what its product with a kernel needs (not as one tensor)."""

    def dense(self, kernel: tf.Variable, bias: tf.Variable | None) -> tf.Tensor:
        """x kernel (+ bias) for the input x this object stands for."""
        raise NotImplementedError

    def tensor(self) -> tf.Tensor:
        """The input itself, for layers that need it whole (e.g. an input batch norm)."""
        raise NotImplementedError


def _notes() -> dict | None:
    return getattr(_state, "notes", None)


@contextmanager
def recording() -> Iterator[None]:
    """Notes broadcasts and concatenations made within the block (a one user × N items
    trace); the notes are dropped at its end."""
    previous = _notes()
    _state.notes = {}
    try:
        yield
    finally:
        _state.notes = previous


def broadcast(value: Any, batch_size: tf.Tensor) -> Any:
    """A nest of batch-1 tensors (dense or ragged; None left alone) repeated to batch_size
    rows: row 0 gathered batch_size times, which works alike for every rank and for ragged
    values. Noted (dense tensors) while recording."""
    index = tf.zeros([batch_size], tf.int32)
    notes = _notes()

    def one(v: Any) -> Any:
        if v is None:
            return None
        rows = tf.gather(v, index)
        if notes is not None and isinstance(v, tf.Tensor):
            notes[rows.ref()] = v
        return rows

    return tf.nest.map_structure(one, value)


def _noted(value: Any, kind: type) -> Any:
    """What is noted about `value` while recording, if it is a `kind`, else None."""
    notes = _notes()
    found = None if notes is None or not isinstance(value, tf.Tensor) else notes.get(value.ref())
    return found if isinstance(found, kind) else None


def once(value: tf.Tensor) -> tf.Tensor | None:
    """The batch-1 tensor `value` broadcasts (noted while recording), else None."""
    return _noted(value, tf.Tensor)


def concat(parts: Sequence[tf.Tensor], axis: int = -1) -> tf.Tensor:
    """tf.concat(parts, axis). While recording: a concatenation of broadcasts is noted as the
    broadcast of the concatenated sources; one of rank 2 along the columns that mixes
    broadcasts and other parts is noted by its column blocks (read by `dense`)."""
    result = tf.concat(list(parts), axis=axis)
    notes = _notes()
    if notes is None:
        return result
    sources = [once(p) for p in parts]
    if all(s is not None for s in sources):
        notes[result.ref()] = tf.concat(sources, axis=axis)
    elif result.shape.rank == 2 and axis in (1, -1) and any(
            source is not None or _blocks(part) is not None
            for part, source in zip(parts, sources)):
        blocks = []
        for part, source in zip(parts, sources):
            inner = _blocks(part)
            blocks += inner.parts if inner is not None else [(source, part)]
        notes[result.ref()] = _Blocks(tuple(blocks))
    return result


def _blocks(value: tf.Tensor) -> _Blocks | None:
    return _noted(value, _Blocks)


def dense(x: tf.Tensor | LinearInput, kernel: tf.Variable, bias: tf.Variable | None
          ) -> tf.Tensor:
    """x kernel (+ bias). For a noted concatenation of shared columns u and per-row columns i:
    i kernel_i + (u kernel_u + bias), the user's part on one row."""
    if isinstance(x, LinearInput):
        return x.dense(kernel, bias)
    blocks = _blocks(x)
    if blocks is None:
        y = tf.matmul(x, kernel)
        return y if bias is None else y + bias
    columns: dict[bool, tuple[list[tf.Tensor], list[int]]] = {True: ([], []), False: ([], [])}
    start = 0
    for source, rows in blocks.parts:
        width = int(rows.shape[-1])
        values, indices = columns[source is not None]
        values.append(rows if source is None else source)
        indices.extend(range(start, start + width))
        start += width
    (user, user_rows), (item, item_rows) = columns[True], columns[False]
    shared = tf.matmul(tf.concat(user, axis=1), tf.gather(kernel, user_rows))
    if bias is not None:
        shared += bias
    return tf.matmul(tf.concat(item, axis=1), tf.gather(kernel, item_rows)) + shared


def sum_fields(fields: Sequence[tf.Tensor], reduce: Callable[[list[tf.Tensor]], Any]) -> Any:
    """`reduce(fields)`, where `reduce` returns sums over the fields (a tensor or a nest of
    them), so that it splits over any partition of the fields. While recording, with both
    broadcast and other fields: reduce(other fields) + reduce(the broadcasts' batch-1
    sources), the user's fields reduced once."""
    sources = [once(f) for f in fields]
    shared = [s for s in sources if s is not None]
    if not shared or len(shared) == len(fields):
        return reduce(list(fields))
    rows = [f for f, s in zip(fields, sources) if s is None]
    return tf.nest.map_structure(tf.add, reduce(rows), reduce(shared))
