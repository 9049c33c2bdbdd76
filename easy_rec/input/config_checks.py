"""Checks of the data_config fields that the readers interpret: the input type, which path
fields it reads, the separator, default values, and Kafka inputs."""
from __future__ import annotations

import os

from google.protobuf.message import Message

from easy_rec.config.context import CheckContext
from easy_rec.config.features import feature_configs, feature_list_field
from easy_rec.input.kafka_settings import SERVERS_ENV, parse_offset_info, start_time
from easy_rec.input.quoted_cells import UNIT_SEPARATOR
from easy_rec.input.reader import supported_input_types
from easy_rec.input.tfrecord_input import COMPRESSION_TYPES
from easy_rec.protos import dataset_pb2, feature_config_pb2
from easy_rec.tables.cell_patterns import is_valid_cell

# Path fields that only a given input_type reads (EasyRec's parquet_train_input etc.).
TYPED_PATH_FIELDS = {"parquet_train_input": "ParquetInput", "parquet_eval_input": "ParquetInput",
                     "kafka_train_input": "KafkaInput", "kafka_eval_input": "KafkaInput"}
# input types that read the parquet_* path fields
PARQUET_TYPES = ("ParquetInput", "ParquetInputV2")
# the feature types EasyRec's ParquetInputV2 builds (it asserts on any other)
PARQUET_V2_FEATURES = ("IdFeature", "TagFeature", "RawFeature")
KAFKA_FIELDS = {"train_path": "kafka_train_input", "eval_path": "kafka_eval_input"}
_DatasetConfig = dataset_pb2.DatasetConfig
TFRECORD_TYPES = ("TFRecordInput", "BatchTFRecordInput")
# input types read as delimited text lines
TEXT_TYPES = ("CSVInput", "CSVInputV2", "CSVInputEx", "KafkaInput")


def _input_type(ctx: CheckContext) -> str:
    return _DatasetConfig.InputType.Name(ctx.config.data_config.input_type)


def check_input_type(ctx: CheckContext) -> None:
    """A reader is registered for data_config.input_type."""
    supported = supported_input_types()
    if _input_type(ctx) not in supported:
        ctx.fail("data_config.input_type", f"input_type {_input_type(ctx)} is not supported "
                 f"yet; supported: {', '.join(supported)}")


def check_input_paths(ctx: CheckContext) -> None:
    """parquet_* and kafka_* inputs go with their input_type, and KafkaInput reads only them."""
    input_type = _input_type(ctx)
    for oneof in ("train_path", "eval_path"):
        which = ctx.config.WhichOneof(oneof)
        needed = TYPED_PATH_FIELDS.get(which or "")
        if needed and input_type != needed and not (needed == "ParquetInput"
                                                     and input_type in PARQUET_TYPES):
            ctx.fail(which, f"{which} is read with data_config.input_type: {needed}, but "
                     f"input_type is {input_type}; use {needed} or the plain "
                     f"{oneof.replace('_path', '_input_path')}")
        if input_type == "KafkaInput" and which and needed != "KafkaInput":
            ctx.fail(which, f"data_config.input_type KafkaInput reads kafka_* inputs, "
                     f"but {which} is set; use {KAFKA_FIELDS[oneof]} {{ ... }}")


def check_kafka_inputs(ctx: CheckContext) -> None:
    """Topic, server, start position and consumer settings of each Kafka input."""
    config = ctx.config
    for oneof, field in KAFKA_FIELDS.items():
        if config.WhichOneof(oneof) == field:
            _check_kafka_server(ctx, getattr(config, field), field)
    if config.WhichOneof("train_path") == "kafka_train_input" and config.data_config.num_epochs > 1:
        ctx.fail("data_config.num_epochs", "a Kafka stream is read once: num_epochs must be "
                 "0 (read without end) or 1 (up to the end offsets at start), got "
                 f"{config.data_config.num_epochs}")


def _check_kafka_server(ctx: CheckContext, server: Message, field: str) -> None:
    if not server.topic:
        ctx.fail(f"{field}.topic", f"{field} needs a topic", line_field=field)
    if not server.server and not os.environ.get(SERVERS_ENV):
        ctx.fail(f"{field}.server", f"{field} needs server (bootstrap 'host:port'), or set "
                 f"${SERVERS_ENV}", line_field=field)
    which = server.WhichOneof("offset")
    try:
        if start_time(server) is None and which == "offset_info":
            parse_offset_info(server.offset_info)
    except ValueError as error:
        ctx.fail(f"{field}.{which}", str(error))
    for name in ("config_global", "config_topic"):
        for i, entry in enumerate(getattr(server, name)):
            key, sep, value = entry.partition("=")
            if not sep or not key.strip() or not value.strip():
                ctx.fail(f"{field}.{name}[{i}]", f"{entry!r} is not 'name=value' "
                         "(e.g. 'fetch.max.bytes=1048576')")
    for name in ("max_outage_secs", "startup_timeout_secs"):
        if getattr(server, name) <= 0:
            ctx.fail(f"{field}.{name}", f"{name} must be > 0")


def check_separator(ctx: CheckContext) -> None:
    """Text readers (CSV, Kafka) need a separator; CSVInputV2's quoted cells need one
    character other than the quote (as tf.data's CSV parser, which EasyRec's V2 uses)."""
    input_type = _input_type(ctx)
    separator = ctx.config.data_config.separator
    if input_type in TEXT_TYPES and not separator:
        ctx.fail("data_config.separator", "separator must not be empty")
    if input_type == "CSVInputV2" and (len(separator) != 1 or separator in ('"', UNIT_SEPARATOR)):
        ctx.fail("data_config.separator", "input_type CSVInputV2 (double-quoted cells) needs "
                 f"a one-character separator other than '\"' and '\\x1f', got {separator!r}; "
                 "use CSVInputEx or CSVInput to split on a longer separator")


def check_default_values(ctx: CheckContext) -> None:
    """A text reader fills empty cells with default_val, so it must parse as the field's type
    (Parquet list columns use it as tag text and are checked by the reader)."""
    data = ctx.config.data_config
    if _input_type(ctx) in PARQUET_TYPES:
        return
    # TFRecord records are typed: an empty default_val is the type's zero (EasyRec's rule)
    tfrecord = _input_type(ctx) in TFRECORD_TYPES
    for i, field in enumerate(data.input_fields):
        if tfrecord and not field.default_val:
            continue
        if field.HasField("default_val") and not is_valid_cell(field.default_val,
                                                               field.input_type):
            ctx.fail(f"data_config.input_fields[{i}].default_val",
                     f"default_val {field.default_val!r} of input field {field.input_name!r} "
                     f"is not a valid {_DatasetConfig.FieldType.Name(field.input_type)}")



def check_ignore_values(ctx: CheckContext) -> None:
    """ignore_val is compared as the field's type, and a cell equal to it takes default_val,
    so both must be valid values of the type (an empty ignore_val changes nothing)."""
    for i, field in enumerate(ctx.config.data_config.input_fields):
        if not field.ignore_val:
            continue
        type_name = _DatasetConfig.FieldType.Name(field.input_type)
        if not is_valid_cell(field.ignore_val, field.input_type):
            ctx.fail(f"data_config.input_fields[{i}].ignore_val",
                     f"ignore_val {field.ignore_val!r} of input field {field.input_name!r} is "
                     f"not a valid {type_name}")
        if field.HasField("default_val") and not is_valid_cell(field.default_val,
                                                               field.input_type):
            ctx.fail(f"data_config.input_fields[{i}].default_val",
                     f"input field {field.input_name!r} has an ignore_val, whose cells take "
                     f"default_val {field.default_val!r}, which is not a valid {type_name}")


def check_reading_options(ctx: CheckContext) -> None:
    """data_compression_type is read for TFRecord files (GZIP / ZLIB), BatchTFRecordInput
    needs n_data_batch_tfrecord (as in EasyRec), eval_batch_size must be positive."""
    data = ctx.config.data_config
    input_type = _input_type(ctx)
    if data.data_compression_type:
        if input_type not in TFRECORD_TYPES:
            ctx.fail("data_config.data_compression_type", "data_compression_type is read for "
                     f"TFRecord input ({', '.join(TFRECORD_TYPES)}); input_type {input_type} "
                     "files must be uncompressed")
        if data.data_compression_type.upper() not in COMPRESSION_TYPES:
            ctx.fail("data_config.data_compression_type", "data_compression_type must be GZIP, "
                     f"ZLIB or empty, got {data.data_compression_type!r}")
    if input_type == "BatchTFRecordInput" and not data.n_data_batch_tfrecord:
        ctx.fail("data_config.n_data_batch_tfrecord", "BatchTFRecordInput needs "
                 "n_data_batch_tfrecord, the number of rows each record holds",
                 line_field="data_config")
    if data.HasField("eval_batch_size") and data.eval_batch_size <= 0:
        ctx.fail("data_config.eval_batch_size", "eval_batch_size must be > 0")


def check_label_dims(ctx: CheckContext) -> None:
    """label_dim has at most one entry per label field; a label wider than one value is a
    STRING column with its label_sep entry (label_columns.py)."""
    data = ctx.config.data_config
    if len(data.label_dim) > len(data.label_fields):
        ctx.fail("data_config.label_dim", f"label_dim has {len(data.label_dim)} entries for "
                 f"{len(data.label_fields)} label_fields")
    types = {f.input_name: f.input_type for f in data.input_fields}
    for i, dim in enumerate(data.label_dim):
        if dim < 1:
            ctx.fail(f"data_config.label_dim[{i}]", f"label_dim must be >= 1, got {dim}")
        if dim == 1:
            continue
        name = data.label_fields[i]
        if types.get(name, _DatasetConfig.STRING) != _DatasetConfig.STRING:
            ctx.fail(f"data_config.label_dim[{i}]", f"label {name!r} of label_dim {dim} must "
                     "be a STRING input field holding the values joined by label_sep, got "
                     f"{_DatasetConfig.FieldType.Name(types[name])}")
        if i >= len(data.label_sep):
            ctx.fail(f"data_config.label_dim[{i}]", f"label {name!r} of label_dim {dim} needs "
                     f"its label_sep entry (label_sep[{i}]; '' splits into characters)")


def check_parquet_v2_features(ctx: CheckContext) -> None:
    """ParquetInputV2 feeds IdFeature, TagFeature and RawFeature only, as EasyRec's."""
    if _input_type(ctx) != "ParquetInputV2":
        return
    where = feature_list_field(ctx.config)
    for i, feature in enumerate(feature_configs(ctx.config)):
        kind = feature_config_pb2.FeatureConfig.FeatureType.Name(feature.feature_type)
        if kind not in PARQUET_V2_FEATURES:
            ctx.fail(f"{where}[{i}].feature_type", f"input_type "
                     f"ParquetInputV2 feeds {', '.join(PARQUET_V2_FEATURES)} only (EasyRec's "
                     f"ParquetInputV2), not {kind}; use input_type ParquetInput")
