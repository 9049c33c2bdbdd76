"""Chooses the reader for data_config.input_type and lists the columns a job needs."""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import tensorflow as tf

from easy_rec.config.features import feature_configs
from easy_rec.input.csv_input import CSVInput
from easy_rec.metrics.evaluator import gauc_group_fields
from easy_rec.protos import dataset_pb2, feature_config_pb2, kafka_pb2, pipeline_pb2
from easy_rec.tables.errors import InputError

# Feature types that take a list column (a RaggedTensor) in place of a separator-joined string.
LIST_COLUMN_FEATURES = ("TagFeature", "RawFeature")


class InputReader(Protocol):
    """What the trainer and evaluator use of a reader (CSVInput, ParquetInput)."""

    files: list[str]

    @property
    def output_signature(self) -> dict[str, tf.TensorSpec | tf.RaggedTensorSpec]: ...

    def make_dataset(self, batch_size: int, num_epochs: int | None = 1, shuffle: bool = False,
                     seed: int = 0) -> tf.data.Dataset: ...


def _parquet_reader(*args) -> InputReader:
    from easy_rec.input.parquet_input import ParquetInput  # pyarrow is only needed for Parquet

    return ParquetInput(*args)


def _kafka_reader(*args) -> InputReader:
    from easy_rec.input.kafka_input import KafkaInput  # kafka-python is only needed for Kafka

    return KafkaInput(*args)


_READERS: dict[int, Callable[..., InputReader]] = {
    dataset_pb2.DatasetConfig.CSVInput: CSVInput,
    dataset_pb2.DatasetConfig.ParquetInput: _parquet_reader,
    dataset_pb2.DatasetConfig.KafkaInput: _kafka_reader,
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


def needed_fields(config: pipeline_pb2.EasyRecConfig, feature_inputs: list[str]) -> list[str]:
    """Columns to parse: feature inputs, labels, sample weight and grouped-metric keys."""
    data = config.data_config
    names = list(feature_inputs) + list(data.label_fields)
    if data.sample_weight:
        names.append(data.sample_weight)
    names += gauc_group_fields(config.eval_config.metrics_set)
    return list(dict.fromkeys(names))


def build_reader(config: pipeline_pb2.EasyRecConfig, input_path: str | kafka_pb2.KafkaServer,
                 fields: list[str]) -> InputReader:
    """Reader over `input_path` (a KafkaServer for KafkaInput) for the configured input_type."""
    input_type = config.data_config.input_type
    if input_type not in _READERS:
        name = dataset_pb2.DatasetConfig.InputType.Name(input_type)
        supported = ", ".join(dataset_pb2.DatasetConfig.InputType.Name(t) for t in _READERS)
        raise ValueError(f"data_config.input_type {name} is not supported; use one of {supported}")
    reader = _READERS[input_type](config.data_config, input_path, fields)
    check_list_columns(config, getattr(reader, "list_columns", frozenset()))
    return reader


def check_list_columns(config: pipeline_pb2.EasyRecConfig, list_columns: frozenset[str]) -> None:
    """Raises InputError when a list column feeds anything but TagFeature / RawFeature."""
    if not list_columns:
        return
    data = config.data_config
    plain_uses = {name: "label field" for name in data.label_fields}
    if data.sample_weight:
        plain_uses[data.sample_weight] = "sample_weight"
    for name in gauc_group_fields(config.eval_config.metrics_set):
        plain_uses[name] = "gauc uid_field"
    for feature in feature_configs(config):
        type_name = feature_config_pb2.FeatureConfig.FeatureType.Name(feature.feature_type)
        if type_name not in LIST_COLUMN_FEATURES:
            for name in feature.input_names:
                plain_uses.setdefault(name, f"{type_name} {feature.feature_name or name!r}")
    for name in sorted(list_columns):
        if name in plain_uses:
            raise InputError(
                f"column {name!r} is a list column but is used as {plain_uses[name]}; only "
                f"{' and '.join(LIST_COLUMN_FEATURES)} inputs may be lists (store it as a "
                "separator-joined string instead)")


def supported_input_types() -> list[str]:
    """Names of the data_config.input_type values a reader is registered for."""
    return [dataset_pb2.DatasetConfig.InputType.Name(kind) for kind in _READERS]
