"""DummyInput: batches without files, for measuring the training step without the cost of
reading (EasyRec's DummyInput, "to debug the performance bottleneck of data pipeline").

Every batch holds `batch_size` rows in which each input field has its default value
(default_val, else 0, "" or false), as EasyRec's constant batches do. The input path is not
read. One epoch is one batch, so num_epochs 0 (the default) repeats it until train_config's
num_steps, as EasyRec's input does; evaluation (one epoch) sees one batch.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.input import fields as field_types
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.input.shards import WHOLE, Shard
from easy_rec.protos import dataset_pb2
from easy_rec.tables.errors import InputError

__all__ = ["DummyInput"]


class DummyInput:
    """Constant batches of the input fields' default values."""

    def __init__(self, data_config: dataset_pb2.DatasetConfig, input_path: object,
                 needed_fields: list[str] | None = None):
        """`input_path` is ignored (EasyRec's DummyInput does not read it either)."""
        del input_path
        self.files: list[str] = []
        wanted = set(needed_fields) if needed_fields is not None else None
        self._defaults: dict[str, tuple[object, tf.DType]] = {}
        for field in data_config.input_fields:
            if wanted is not None and field.input_name not in wanted:
                continue
            dtype = field_types.field_dtype(field)
            value = field_types.parse_default(field_types.default_cell(field), dtype)
            if value is None:
                raise InputError(f"input field {field.input_name!r}: default_val "
                                 f"{field.default_val!r} is not a valid {dtype.name}")
            self._defaults[field.input_name] = (value, dtype)

    @property
    def output_signature(self) -> dict[str, tf.TensorSpec]:
        """Spec of one batch (without the malformed-row count)."""
        return {name: tf.TensorSpec([None], dtype, name=name)
                for name, (_, dtype) in self._defaults.items()}

    def check_head(self, role: str) -> None:
        """Nothing to check: the rows are made, not read."""
        del role

    def make_dataset(self, batch_size: int, num_epochs: int | None = 1, shuffle: bool = False,
                     seed: int = 0, drop_remainder: bool = False,
                     shard: Shard = WHOLE) -> tf.data.Dataset:
        """The constant batch, `num_epochs` times (None: forever); shuffling, the seed,
        drop_remainder and the share change nothing (every row is the same, every batch
        full)."""
        del shuffle, seed, drop_remainder, shard
        batch = {name: tf.fill([batch_size], tf.constant(value, dtype))
                 for name, (value, dtype) in self._defaults.items()}
        batch[MALFORMED_KEY] = tf.constant(0, tf.int64)
        return tf.data.Dataset.from_tensors(batch).repeat(num_epochs)
