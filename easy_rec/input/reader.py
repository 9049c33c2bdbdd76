"""Chooses the reader for data_config.input_type and lists the columns a job needs."""
from __future__ import annotations

from easy_rec.input.csv_input import CSVInput
from easy_rec.metrics.evaluator import gauc_group_fields
from easy_rec.protos import dataset_pb2, pipeline_pb2

_READERS = {dataset_pb2.DatasetConfig.CSVInput: CSVInput}


def needed_fields(config: pipeline_pb2.EasyRecConfig, feature_inputs: list[str]) -> list[str]:
    """Columns to parse: feature inputs, labels, sample weight and grouped-metric keys."""
    data = config.data_config
    names = list(feature_inputs) + list(data.label_fields)
    if data.sample_weight:
        names.append(data.sample_weight)
    names += gauc_group_fields(config.eval_config.metrics_set)
    return list(dict.fromkeys(names))


def build_reader(config: pipeline_pb2.EasyRecConfig, input_path: str, fields: list[str]) -> CSVInput:
    """Reader over `input_path` for the configured input_type."""
    input_type = config.data_config.input_type
    if input_type not in _READERS:
        name = dataset_pb2.DatasetConfig.InputType.Name(input_type)
        raise ValueError(f"data_config.input_type {name} is not supported; use CSVInput")
    return _READERS[input_type](config.data_config, input_path, fields)
