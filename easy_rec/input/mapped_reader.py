"""A reader whose batches pass one more function; everything else is the wrapped reader's.

The data_config rules on read columns (ignore_values.py, label_columns.py) wrap any reader
(CSV, Parquet, TFRecord, Kafka, DummyInput) this way.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

Batch = dict[str, Any]


class MappedReader:
    """`reader` with `transform` mapped over the batches of make_dataset; `specs` replace
    entries of its output_signature (the columns whose shape or dtype the transform changes)."""

    def __init__(self, reader: Any, transform: Callable[[Batch], Batch],
                 specs: dict[str, tf.TensorSpec] | None = None):
        self._reader = reader
        self._transform = transform
        self._specs = specs or {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    @property
    def output_signature(self) -> dict[str, Any]:
        return {**self._reader.output_signature, **self._specs}

    def make_dataset(self, *args: Any, **kwargs: Any) -> tf.data.Dataset:
        """The wrapped reader's batches, transformed."""
        return self._reader.make_dataset(*args, **kwargs).map(self._transform)
