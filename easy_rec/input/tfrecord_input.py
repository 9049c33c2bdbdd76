"""TFRecord readers: EasyRec's TFRecordInput and BatchTFRecordInput.

TFRecordInput: every record is a ``tf.train.Example`` with one value per input field (a
feature of length 1, as EasyRec's ``FixedLenFeature(shape=1)``); a field the record lacks takes
the field's default_val (an empty one: the type's zero, as in EasyRec). BatchTFRecordInput: every record is a ``tf.train.SequenceExample``
whose ``feature_lists`` hold n rows per field (``data_config.n_data_batch_tfrecord``, one value
per row); its rows are read one by one and batched like any other input.

Record features are int64, float or bytes lists; they are cast to the fields' configured
types (INT32, BOOL from int64; DOUBLE from float; STRING from bytes). Files may be GZIP or ZLIB
compressed (``data_config.data_compression_type``). Records are typed, so no row is ever
malformed: every batch carries ``MALFORMED_KEY`` = 0.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.input import fields as field_types
from easy_rec.input.empty_input import no_rows_error
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.input.shards import WHOLE, Shard, file_share, row_share_mask
from easy_rec.input.tuning import fixed_tuning, parallel_calls
from easy_rec.protos import dataset_pb2
from easy_rec.tables.column_types import zero_text
from easy_rec.tables.errors import InputError
from easy_rec.tables.paths import expand_paths

#: the tf.train.Feature kind a field of each dtype is stored as
_RECORD_DTYPES = {tf.int32: tf.int64, tf.int64: tf.int64, tf.bool: tf.int64,
                  tf.float32: tf.float32, tf.float64: tf.float32, tf.string: tf.string}
COMPRESSION_TYPES = ("", "GZIP", "ZLIB")


class TFRecordInput:
    """Builds tf.data pipelines over TFRecord files of tf.train.Example records."""

    sequence_records = False

    def __init__(self, data_config: dataset_pb2.DatasetConfig, input_path: str,
                 needed_fields: list[str] | None = None):
        self._config = data_config
        self.files = expand_paths(input_path)
        wanted = set(needed_fields) if needed_fields is not None else None
        self._fields = [f for f in data_config.input_fields
                        if wanted is None or f.input_name in wanted]
        if not self._fields:
            raise InputError(f"{input_path}: no input field to read")
        self._compression = data_config.data_compression_type.upper()

    @property
    def output_signature(self) -> dict[str, tf.TensorSpec]:
        """Spec of one batch (without the malformed-row count)."""
        return {f.input_name: tf.TensorSpec([None], field_types.field_dtype(f))
                for f in self._fields}

    def _feature_spec(self, field: dataset_pb2.DatasetConfig.Field):
        dtype = field_types.field_dtype(field)
        stored = _RECORD_DTYPES[dtype]
        if self.sequence_records:
            return tf.io.FixedLenSequenceFeature([], stored, allow_missing=True)
        # an empty default_val is the type's zero, as EasyRec's get_type_defaults makes it
        text = field_types.default_cell(field) or zero_text(dtype)
        default = field_types.parse_default(text, dtype)
        if default is None:
            raise InputError(f"input field {field.input_name}: default_val "
                             f"{field.default_val!r} is not a valid {dtype.name}")
        if stored == tf.int64 and not isinstance(default, str):
            default = int(default)
        return tf.io.FixedLenFeature([1], stored, default_value=[default])

    def _parse(self, records: tf.Tensor) -> dict[str, tf.Tensor]:
        """[n] serialized Examples -> {field: [n] tensor of its dtype}."""
        spec = {f.input_name: self._feature_spec(f) for f in self._fields}
        parsed = tf.io.parse_example(records, spec)
        return {f.input_name: tf.cast(parsed[f.input_name][:, 0], field_types.field_dtype(f))
                for f in self._fields}

    def _parse_sequence(self, record: tf.Tensor) -> dict[str, tf.Tensor]:
        """One serialized SequenceExample -> {field: [rows] tensor of its dtype}."""
        spec = {f.input_name: self._feature_spec(f) for f in self._fields}
        _, rows = tf.io.parse_single_sequence_example(record, sequence_features=spec)
        return {f.input_name: tf.cast(rows[f.input_name], field_types.field_dtype(f))
                for f in self._fields}

    def _records(self, num_epochs: int | None, shuffle: bool, seed: int,
                 shard: Shard = WHOLE) -> tf.data.Dataset:
        """The serialized records of this share (shards.py), epoch after epoch."""
        files = file_share(len(self.files), shard)
        row_share = None if files is not None or shard.whole else shard
        files = list(range(len(self.files))) if files is None else files
        file_ids = tf.data.Dataset.from_tensor_slices(tf.constant(files, tf.int64))
        if shuffle and len(files) > 1:
            file_ids = file_ids.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        names = tf.constant(self.files)

        def records(file_id: tf.Tensor) -> tf.data.Dataset:
            read = tf.data.TFRecordDataset(names[file_id], compression_type=self._compression)
            if row_share is None:
                return read
            # records of other shares are skipped unparsed
            return read.enumerate().filter(
                lambda i, _: row_share_mask(file_id, i, row_share)).map(lambda _, r: r)

        return file_ids.repeat(num_epochs).interleave(
            records, cycle_length=min(len(files), 4), block_length=1)

    def check_head(self, role: str) -> None:
        """EmptyInputError ("no <role> rows in ...") when no file has a record; the first
        record is parsed, so that a record of the wrong kind fails in seconds."""
        for record in self._records(1, False, 0).take(1):
            if self.sequence_records:
                self._parse_sequence(record)
            else:
                self._parse(tf.reshape(record, [1]))
            return
        raise no_rows_error(role, self.files)

    def make_dataset(self, batch_size: int, num_epochs: int | None = 1, shuffle: bool = False,
                     seed: int = 0, drop_remainder: bool = False,
                     shard: Shard = WHOLE) -> tf.data.Dataset:
        """Batches of {field name: [batch] tensor}; num_epochs None repeats forever; only
        the records of `shard` are read (shards.py)."""
        records = self._records(num_epochs, shuffle, seed, shard)
        parallel = parallel_calls(self._config.num_parallel_calls)
        if self.sequence_records:  # rows of each record, then batches of rows
            rows = records.map(self._parse_sequence, num_parallel_calls=parallel,
                               deterministic=True).unbatch()
            if shuffle:
                rows = rows.shuffle(max(int(self._config.shuffle_buffer_size), 1), seed=seed,
                                    reshuffle_each_iteration=True)
            batches = rows.batch(batch_size, drop_remainder=drop_remainder)
        else:
            if shuffle:
                records = records.shuffle(max(int(self._config.shuffle_buffer_size), 1),
                                          seed=seed, reshuffle_each_iteration=True)
            batches = records.batch(batch_size, drop_remainder=drop_remainder).map(
                self._parse, num_parallel_calls=parallel, deterministic=True)
        batches = batches.map(lambda batch: {**batch, MALFORMED_KEY: tf.constant(0, tf.int64)})
        return batches.prefetch(max(int(self._config.prefetch_size), 1)).with_options(
            fixed_tuning())


class BatchTFRecordInput(TFRecordInput):
    """TFRecord files of tf.train.SequenceExample records holding n rows each."""

    sequence_records = True
