"""Chooses the reader for data_config.input_type and names the train and eval inputs."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import tensorflow as tf

from easy_rec.input.column_plan import LIST_COLUMN_FEATURES, ColumnPlan
from easy_rec.input.csv_input import CSVInput
from easy_rec.input.dummy_input import DummyInput
from easy_rec.input.ignore_values import apply_rules, ignore_rules
from easy_rec.input.label_columns import label_specs, label_widths, split_labels
from easy_rec.input.mapped_reader import MappedReader
from easy_rec.input.shards import WHOLE, Shard
from easy_rec.protos import dataset_pb2, kafka_pb2, pipeline_pb2
from easy_rec.tables.errors import InputError


class InputReader(Protocol):
    """What the trainer and evaluator use of a reader (CSVInput, ParquetInput)."""

    files: list[str]

    @property
    def output_signature(self) -> dict[str, tf.TensorSpec | tf.RaggedTensorSpec]: ...

    def make_dataset(self, batch_size: int, num_epochs: int | None = 1, shuffle: bool = False,
                     seed: int = 0, drop_remainder: bool = False,
                     shard: Shard = WHOLE) -> tf.data.Dataset:
        """Batches of share `shard` of the input (shards.py), epoch after epoch."""

    def check_head(self, role: str) -> None:
        """Fails fast (InputError) on an input without rows or with a malformed row at its
        start; `role` ("training", "evaluation") names the input in the message."""


def _parquet_reader(*args) -> InputReader:
    from easy_rec.input.parquet_input import ParquetInput  # pyarrow is only needed for Parquet

    return ParquetInput(*args)


def _tfrecord_reader(*args) -> InputReader:
    from easy_rec.input.tfrecord_input import TFRecordInput

    return TFRecordInput(*args)


def _batch_tfrecord_reader(*args) -> InputReader:
    from easy_rec.input.tfrecord_input import BatchTFRecordInput

    return BatchTFRecordInput(*args)


def _kafka_reader(*args) -> InputReader:
    from easy_rec.input.kafka_input import KafkaInput  # kafka-python is only needed for Kafka

    return KafkaInput(*args)


#: the input types read from Parquet files (by pyarrow, in Python)
PARQUET_INPUTS = (dataset_pb2.DatasetConfig.ParquetInput, dataset_pb2.DatasetConfig.ParquetInputV2)
#: the input types whose batches are made in Python (Parquet files, a Kafka consumer)
PYTHON_INPUTS = (*PARQUET_INPUTS, dataset_pb2.DatasetConfig.KafkaInput)

_READERS: dict[int, Callable[..., InputReader]] = {
    dataset_pb2.DatasetConfig.CSVInput: CSVInput,
    # EasyRec's CSV variants: V2 unquotes double-quoted cells, Ex splits as CSVInput does
    dataset_pb2.DatasetConfig.CSVInputV2: CSVInput,
    dataset_pb2.DatasetConfig.CSVInputEx: CSVInput,
    dataset_pb2.DatasetConfig.DummyInput: DummyInput,
    dataset_pb2.DatasetConfig.ParquetInput: _parquet_reader,
    # EasyRec's ParquetInputV2 reads the same files (docs/input.md: what differs)
    dataset_pb2.DatasetConfig.ParquetInputV2: _parquet_reader,
    dataset_pb2.DatasetConfig.KafkaInput: _kafka_reader,
    dataset_pb2.DatasetConfig.TFRecordInput: _tfrecord_reader,
    dataset_pb2.DatasetConfig.BatchTFRecordInput: _batch_tfrecord_reader,
}


def train_input_path(config: pipeline_pb2.EasyRecConfig) -> str | kafka_pb2.KafkaServer:
    """The training input: train_input_path, parquet_train_input or the kafka_train_input
    message ('' when none is set)."""
    which = config.WhichOneof("train_path")
    return getattr(config, which) if which else ""


def eval_input_path(config: pipeline_pb2.EasyRecConfig) -> str | kafka_pb2.KafkaServer | None:
    """The evaluation input: eval_input_path, parquet_eval_input or the kafka_eval_input
    message; None when none is set."""
    which = config.WhichOneof("eval_path")
    return (getattr(config, which) or None) if which else None


def build_reader(data_config: dataset_pb2.DatasetConfig,
                 input_path: str | kafka_pb2.KafkaServer, plan: ColumnPlan,
                 columns: Sequence[str] | None = None) -> InputReader:
    """Reader over `input_path` (a KafkaServer for KafkaInput) for data_config.input_type.

    It parses `columns` (default: every column of `plan`); InputError when a list column feeds
    anything but TagFeature / RawFeature (see check_list_columns). Cells equal to their field's
    ignore_val read as missing; labels wider than one value (data_config.label_dim) come out as
    [batch, width] floats (with_column_rules).
    """
    input_type = data_config.input_type
    if input_type not in _READERS:
        name = dataset_pb2.DatasetConfig.InputType.Name(input_type)
        supported = ", ".join(dataset_pb2.DatasetConfig.InputType.Name(t) for t in _READERS)
        raise ValueError(f"data_config.input_type {name} is not supported; use one of {supported}")
    reader = _READERS[input_type](data_config, input_path,
                                  list(plan.columns if columns is None else columns))
    check_list_columns(plan, getattr(reader, "list_columns", frozenset()))
    return with_column_rules(reader, data_config, set(plan.columns if columns is None
                                                      else columns))


def with_column_rules(reader: InputReader, data_config: dataset_pb2.DatasetConfig,
                      parsed: set[str]) -> InputReader:
    """`reader` with the data_config rules on read columns applied to its batches:
    ignore_val (ignore_values.py), then wide labels (label_columns.py)."""
    rules = ignore_rules(data_config, parsed)
    if rules:
        reader = MappedReader(reader, lambda batch: apply_rules(batch, rules))
    widths = {k: v for k, v in label_widths(data_config).items() if k in parsed}
    if widths:
        reader = MappedReader(reader, lambda batch: split_labels(batch, widths),
                              label_specs(widths))
    return reader


def training_batches(reader: InputReader, data_config: dataset_pb2.DatasetConfig,
                     shard: Shard = WHOLE) -> tf.data.Dataset:
    """The training batches of share `shard` (shards.py) as data_config sets them: batch
    size, epochs (0: without end), shuffling and its seed, drop_remainder."""
    return reader.make_dataset(data_config.batch_size, num_epochs=data_config.num_epochs or None,
                               shuffle=data_config.shuffle, seed=data_config.shuffle_seed,
                               drop_remainder=data_config.drop_remainder, shard=shard)


def check_list_columns(plan: ColumnPlan, list_columns: frozenset[str]) -> None:
    """Raises InputError when a list column has a use that needs one value per row."""
    for name in sorted(list_columns):
        if name in plan.scalar_uses:
            raise InputError(
                f"column {name!r} is a list column but is used as {plan.scalar_uses[name]}; only "
                f"{' and '.join(LIST_COLUMN_FEATURES)} inputs may be lists (store it as a "
                "separator-joined string instead)")


def supported_input_types() -> list[str]:
    """Names of the data_config.input_type values a reader is registered for."""
    return [dataset_pb2.DatasetConfig.InputType.Name(kind) for kind in _READERS]
