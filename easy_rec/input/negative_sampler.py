"""Negative items for sampled softmax: an item table read once, uniform draws with TF ops.

The table (data_config.negative_sampler.input_path) uses EasyRec's graph-learn layout: tab
separated lines ``id<TAB>weight<TAB>attrs``, where attrs joins the values of attr_fields with
attr_delimiter; an optional first line ``id:int64<TAB>weight:float<TAB>attrs:string`` is a
header. Only attrs is used (draws are uniform, the weight is ignored). Values are parsed like
the input columns of the same name (their input_type and default_val).
"""
from __future__ import annotations

import logging
import os

import numpy as np
import pyarrow as pa
import tensorflow as tf

from easy_rec.input.fields import default_cell, field_dtype
from easy_rec.protos import dataset_pb2
from easy_rec.tables.convert import ColumnRule, convert_column
from easy_rec.tables.errors import InputError

logger = logging.getLogger(__name__)

HEADER_PREFIX = "id:"


def read_item_table(sampler: dataset_pb2.NegativeSampler,
                    input_fields: dict[str, dataset_pb2.DatasetConfig.Field]
                    ) -> dict[str, np.ndarray]:
    """The attr_fields columns of the sampler's item table, converted to their input dtypes.

    Raises InputError naming file and line for a missing file, a wrong number of attrs or a
    value that does not parse.
    """
    path = sampler.input_path
    if not os.path.isfile(path):
        raise InputError(f"negative_sampler.input_path {path!r} is not a file")
    names = list(sampler.attr_fields)
    cells, line_numbers = _attr_cells(path, sampler.attr_delimiter, len(names))
    if not line_numbers:
        raise InputError(f"{path}: the negative sampler's item table has no rows")
    columns: dict[str, np.ndarray] = {}
    for k, name in enumerate(names):
        field = input_fields[name]
        rule = ColumnRule(name, field_dtype(field), default_cell(field))
        converted = convert_column(pa.array([row[k] for row in cells], pa.string()), rule)
        if not converted.valid.all():
            row = int(np.argmin(converted.valid))
            raise InputError(f"{path}:{line_numbers[row]}: attr {name}: value {cells[row][k]!r} "
                             f"is not a valid {rule.dtype.name}")
        columns[name] = converted.values
    logger.info("negative sampler: read %d items from %s", len(line_numbers), path)
    return columns


def _attr_cells(path: str, delimiter: str, count: int) -> tuple[list[list[str]], list[int]]:
    """(attrs of each data line split into `count` cells, the lines' 1-based numbers)."""
    cells: list[list[str]] = []
    numbers: list[int] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or (number == 1 and line.startswith(HEADER_PREFIX)):
                continue
            values = line.split("\t")[-1].split(delimiter)
            if len(values) != count:
                raise InputError(f"{path}:{number}: expected {count} attrs separated by "
                                 f"{delimiter!r} (attr_fields), found {len(values)}")
            cells.append(values)
            numbers.append(number)
    return cells, numbers


class NegativeSampler:
    """Draws negative items uniformly from the item table, with stock TF ops.

    The table is read on first use and kept as constant tensors (one per attr field), so a
    draw is `tf.random.uniform` indices and `tf.gather` per column. Deliberately not a
    tf.Module: the table is no model state and never enters checkpoints or SavedModels.
    """

    def __init__(self, config: dataset_pb2.NegativeSampler,
                 input_fields: dict[str, dataset_pb2.DatasetConfig.Field]):
        self.config = config
        self.item_id_field = config.item_id_field
        self._input_fields = input_fields
        self._columns: dict[str, tf.Tensor] | None = None

    @classmethod
    def from_data_config(cls, data: dataset_pb2.DatasetConfig) -> NegativeSampler | None:
        """The sampler of data_config.negative_sampler; None when it is not set."""
        if not data.HasField("negative_sampler"):
            return None
        return cls(data.negative_sampler, {f.input_name: f for f in data.input_fields})

    @property
    def columns(self) -> dict[str, tf.Tensor]:
        """The item table, one constant [num_items] tensor per attr field."""
        if self._columns is None:
            table = read_item_table(self.config, self._input_fields)
            with tf.init_scope():
                self._columns = {name: tf.constant(values, dtype=field_dtype(
                    self._input_fields[name])) for name, values in table.items()}
        return self._columns

    @property
    def num_items(self) -> int:
        """Rows of the item table."""
        return int(self.columns[self.item_id_field].shape[0])

    def num_draws(self, training: bool) -> int:
        """num_sample for training; num_eval_sample (default num_sample) for evaluation."""
        if training or not self.config.num_eval_sample:
            return int(self.config.num_sample)
        return int(self.config.num_eval_sample)

    def sample(self, num: int) -> dict[str, tf.Tensor]:
        """`num` items drawn uniformly with replacement: {attr field: [num] tensor}."""
        index = tf.random.uniform([num], 0, self.num_items, dtype=tf.int64)
        return {name: tf.gather(values, index) for name, values in self.columns.items()}
