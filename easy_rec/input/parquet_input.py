"""Parquet reader: row groups of Parquet files -> batches of named raw columns on tf.data.

The work units are (file, row group) pairs. A tf.data pipeline shuffles and repeats the units
and reads each one with pyarrow (only the columns the job needs) inside ``tf.py_function``.
With shuffle, it packs the rows (row_packing), unbatches, shuffles rows through a buffer,
batches and unpacks; without, it cuts the row groups straight into batches (``rebatch``). The
iterator's position (unit order, rows in flight, shuffle buffer) is saved in checkpoints like
the CSV reader's.

Scalar columns come out as ``[batch]`` tensors of the configured type; Arrow list columns
(``list<string>``, ``list<int64>``, ``list<float>``, ...) come out as ``tf.RaggedTensor``
``[batch, None]`` of strings, which TagFeature and RawFeature take in place of a
separator-joined string. Every batch carries ``MALFORMED_KEY`` = 0: a Parquet file is typed,
so its rows cannot be malformed the way CSV lines can; type mismatches are found when the
reader is built.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tensorflow as tf

from easy_rec.input import fields as field_types
from easy_rec.input.empty_input import no_rows_error
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.input.row_packing import SEPARATORS, PackedColumn, RowPacker
from easy_rec.input.shards import WHOLE, Shard
from easy_rec.input.tuning import fixed_tuning, parallel_calls
from easy_rec.protos import dataset_pb2
from easy_rec.tables.errors import InputError
from easy_rec.tables.paths import expand_paths

logger = logging.getLogger(__name__)

_FieldType = dataset_pb2.DatasetConfig.FieldType
_STRING_LIST = pa.list_(pa.string())

# Arrow type each configured dtype is read as.
_ARROW_TYPES: dict[tf.DType, pa.DataType] = {
    tf.int32: pa.int32(),
    tf.int64: pa.int64(),
    tf.float32: pa.float32(),
    tf.float64: pa.float64(),
    tf.bool: pa.bool_(),
    tf.string: pa.string(),
}


def _is_text(arrow_type: pa.DataType) -> bool:
    return (pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
            or pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type))


def _is_small_int(arrow_type: pa.DataType) -> bool:
    return any(check(arrow_type) for check in (
        pa.types.is_int8, pa.types.is_int16, pa.types.is_int32, pa.types.is_uint8,
        pa.types.is_uint16))


def _is_int64_compatible(arrow_type: pa.DataType) -> bool:
    return pa.types.is_integer(arrow_type) and not pa.types.is_uint64(arrow_type)


# Arrow types a configured dtype accepts: the same type or a widening of it
# (int32 -> int64, float -> double, any integer -> FLOAT / DOUBLE).
_ACCEPTS: dict[tf.DType, Callable[[pa.DataType], bool]] = {
    tf.string: _is_text,
    tf.bool: pa.types.is_boolean,
    tf.int32: _is_small_int,
    tf.int64: _is_int64_compatible,
    tf.float32: lambda t: pa.types.is_float16(t) or pa.types.is_float32(t)
    or _is_int64_compatible(t),
    tf.float64: lambda t: pa.types.is_floating(t) or _is_int64_compatible(t),
}


def _is_list(arrow_type: pa.DataType) -> bool:
    return pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)


def _list_item_ok(arrow_type: pa.DataType) -> bool:
    """List items become text: strings, integers and floats have one obvious text form."""
    return _is_text(arrow_type) or pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)


def _plain_type(arrow_type: pa.DataType) -> pa.DataType:
    """The value type of a dictionary-encoded column, else the type itself."""
    return arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type


@dataclass(frozen=True)
class _Column:
    name: str
    dtype: tf.DType
    type_name: str  # configured FieldType name, for messages
    # value for nulls: a python scalar (None: default_val is not valid for the type), or the
    # default tag text of a list column
    default: object
    default_text: str = ""
    is_list: bool = False


class ParquetInput:
    """Builds tf.data pipelines over Parquet files described by a DatasetConfig.

    Same interface as CSVInput: ``files``, ``output_signature`` and ``make_dataset``.
    """

    def __init__(
        self,
        data_config: dataset_pb2.DatasetConfig,
        input_path: str,
        needed_fields: list[str] | None = None,
    ):
        self._config = data_config
        self.files = expand_paths(input_path)
        wanted = set(needed_fields) if needed_fields is not None else None
        fields = [f for f in data_config.input_fields if wanted is None or f.input_name in wanted]
        self._metadata = [pq.read_metadata(path) for path in self.files]
        self._columns = [self._column(f) for f in fields]
        if not self._columns:
            raise InputError(f"{input_path}: no input field to read")
        self._packer = RowPacker([PackedColumn(c.name, c.dtype, c.is_list) for c in self._columns])
        self.units = self._row_group_units()
        logger.info("parquet input %s: %d files, %d row groups, columns %s", input_path,
                    len(self.files), len(self.units), ", ".join(c.name for c in self._columns))

    # ------------------------------------------------------------------ schema checks
    def _column(self, field: dataset_pb2.DatasetConfig.Field) -> _Column:
        """Column description of `field`, after checking its Arrow type in every file."""
        dtype = field_types.field_dtype(field)
        type_name = _FieldType.Name(field.input_type)
        kinds = {self._check_type(path, meta, field.input_name, dtype, type_name)
                 for path, meta in zip(self.files, self._metadata)}
        if len(kinds) > 1:
            raise InputError(f"column {field.input_name!r} is a list in some of the files "
                             f"{', '.join(self.files)} and a plain column in others")
        is_list = kinds.pop()
        default_text = field_types.default_cell(field)
        default = default_text if is_list else field_types.parse_default(default_text, dtype)
        if default is None:
            self._require_no_nulls(field.input_name, default_text, type_name)
        return _Column(field.input_name, dtype, type_name, default, default_text, is_list)

    def _require_no_nulls(self, name: str, default_text: str, type_name: str) -> None:
        """With a default_val that is not valid for the type, nulls cannot be filled: report
        them now where the files' statistics show them (else when the row group is read)."""
        for path, meta in zip(self.files, self._metadata):
            if _null_count(meta, name):
                raise InputError(f"{path}: column {name!r} has nulls and its default_val "
                                 f"{default_text!r} is not a valid {type_name}")

    @staticmethod
    def _check_type(path: str, meta: pq.FileMetaData, name: str, dtype: tf.DType,
                    type_name: str) -> bool:
        """Raises InputError unless column `name` of `path` can be read as `dtype`.

        Returns whether it is a list column.
        """
        schema = meta.schema.to_arrow_schema()
        if schema.get_field_index(name) < 0:
            raise InputError(f"{path}: no column {name!r} (columns: {', '.join(schema.names)})")
        arrow_type = schema.field(name).type
        if _is_list(arrow_type):
            item = _plain_type(arrow_type.value_type)
            if dtype != tf.string or not _list_item_ok(item):
                raise InputError(
                    f"{path}: column {name!r} has Arrow type {arrow_type} but its input field is "
                    f"configured as {type_name}; list columns of strings, integers or floats need "
                    "input_type: STRING (serving sends them joined by the feature's separator)")
            return True
        if not _ACCEPTS[dtype](_plain_type(arrow_type)):
            raise InputError(
                f"{path}: column {name!r} has Arrow type {arrow_type}, which cannot be read as "
                f"the configured input_type {type_name}; change the input field's input_type "
                "or convert the column")
        return False

    def _row_group_units(self) -> list[tuple[int, int]]:
        """(file index, row group index) of every non-empty row group, in file order."""
        return [(f, g) for f, meta in enumerate(self._metadata)
                for g in range(meta.num_row_groups) if meta.row_group(g).num_rows > 0]

    def check_head(self, role: str) -> None:
        """EmptyInputError ("no <role> rows in ...") when no file has a row (Parquet rows are
        typed, so there is nothing else to check up front)."""
        if not self.units:
            raise no_rows_error(role, self.files)

    # ------------------------------------------------------------------ properties
    @property
    def list_columns(self) -> frozenset[str]:
        """Names of the needed columns that are Arrow lists (read as RaggedTensor)."""
        return frozenset(c.name for c in self._columns if c.is_list)

    @property
    def output_signature(self) -> dict[str, tf.TensorSpec | tf.RaggedTensorSpec]:
        """Spec of one batch (without the malformed-row count)."""
        return {c.name: _column_spec(c) for c in self._columns}

    def worker_units(self, shard: Shard = WHOLE) -> list[tuple[int, int]]:
        """The row groups of share `shard` (every shard.count-th)."""
        num_workers, task_index = shard.check()
        units = self.units[task_index::num_workers]
        if not units:
            raise InputError(f"worker {task_index} of {num_workers} gets no row group: the input "
                             f"has only {len(self.units)} non-empty row groups; write smaller "
                             "row groups or use fewer workers")
        return units

    # ------------------------------------------------------------------ pipeline
    def make_dataset(
        self,
        batch_size: int,
        num_epochs: int | None = 1,
        shuffle: bool = False,
        seed: int = 0,
        drop_remainder: bool = False,
        shard: Shard = WHOLE,
    ) -> tf.data.Dataset:
        """Batches of {field name: [batch] tensor or [batch, None] ragged}; num_epochs None
        repeats forever. Only the row groups of `shard` are read (worker_units);
        `drop_remainder` drops the last batch of the input when it is short."""
        units = self._units_dataset(self.worker_units(shard), num_epochs, shuffle, seed)
        parallel = parallel_calls(self._config.num_parallel_calls)
        if shuffle:
            rows = units.map(lambda *unit: self._packer.pack(self._read_unit(*unit)),
                             num_parallel_calls=parallel, deterministic=True).unbatch()
            buffer = max(int(self._config.shuffle_buffer_size), 1)
            rows = rows.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
            batches = rows.batch(batch_size, drop_remainder=drop_remainder).map(
                self._unpack_batch, num_parallel_calls=parallel,
                                                 deterministic=True)
        else:  # whole row groups are cut into batches without one element per row
            batches = units.map(self._read_unit, num_parallel_calls=parallel,
                                deterministic=True).rebatch(
                batch_size, drop_remainder=drop_remainder).map(_with_no_malformed)
        batches = batches.prefetch(max(int(self._config.prefetch_size), 1))
        options = fixed_tuning()
        # reading a row group is deterministic, so the iterator can be checkpointed
        options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
        return batches.with_options(options)

    @staticmethod
    def _units_dataset(units: list[tuple[int, int]], num_epochs: int | None, shuffle: bool,
                       seed: int) -> tf.data.Dataset:
        """(file index, row group index) pairs, shuffled per epoch like CSVInput's files."""
        dataset = tf.data.Dataset.from_tensor_slices(
            (np.array([u[0] for u in units], np.int64), np.array([u[1] for u in units], np.int64)))
        if shuffle and len(units) > 1:
            dataset = dataset.shuffle(len(units), seed=seed, reshuffle_each_iteration=True)
        return dataset.repeat(num_epochs)

    def _read_unit(self, file_id: tf.Tensor, row_group: tf.Tensor
                   ) -> dict[str, tf.Tensor | tf.RaggedTensor]:
        """Graph side of reading one row group: py_function, then columns as tensors."""
        out_types: list[tf.DType] = []
        for c in self._columns:
            out_types += [tf.string, tf.int64] if c.is_list else [c.dtype]
        flat = iter(tf.py_function(self.read_row_group, [file_id, row_group], out_types))
        values: dict[str, tf.Tensor | tf.RaggedTensor] = {}
        for c in self._columns:
            first = next(flat)
            first.set_shape([None])
            if c.is_list:
                splits = next(flat)
                splits.set_shape([None])
                values[c.name] = tf.RaggedTensor.from_row_splits(first, splits, validate=False)
            else:
                values[c.name] = first
        return values

    def _unpack_batch(self, *parts: tf.Tensor) -> dict[str, tf.Tensor | tf.RaggedTensor]:
        return _with_no_malformed(self._packer.unpack(*parts))

    def read_row_group(self, file_id, row_group) -> list[np.ndarray]:
        """Reads the needed columns of one row group into numpy arrays (list columns as
        tokens and row splits), nulls replaced by the fields' defaults."""
        file_id, row_group = int(file_id), int(row_group)
        place = f"{self.files[file_id]}, row group {row_group}"
        reader = pq.ParquetFile(self.files[file_id], metadata=self._metadata[file_id])
        table = reader.read_row_group(row_group, columns=[c.name for c in self._columns])
        arrays: list[np.ndarray] = []
        for c in self._columns:
            column = table.column(c.name).combine_chunks()
            if c.is_list:
                arrays.extend(_list_arrays(column, c.default, f"{place}, column {c.name!r}"))
            else:
                arrays.append(_scalar_array(column, c, place))
        return arrays


def _with_no_malformed(batch: dict) -> dict:
    """A typed file has no malformed rows: MALFORMED_KEY is always 0."""
    return {**batch, MALFORMED_KEY: tf.constant(0, tf.int64)}


def _null_count(meta: pq.FileMetaData, name: str) -> int:
    """Nulls of top-level column `name` in all row groups, as far as statistics tell."""
    index = [meta.schema.column(i).path for i in range(meta.num_columns)].index(name)
    total = 0
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(index).statistics
        if stats is not None and stats.has_null_count:
            total += stats.null_count
    return total


def _column_spec(column: _Column) -> tf.TensorSpec | tf.RaggedTensorSpec:
    if column.is_list:
        return tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1,
                                   row_splits_dtype=tf.int64)
    return tf.TensorSpec([None], column.dtype, name=column.name)


def _scalar_array(array: pa.Array, column: _Column, place: str) -> np.ndarray:
    """A plain column as numpy, cast to the configured type (checked to be a widening)."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    target = _ARROW_TYPES[column.dtype]
    if array.type != target:
        array = array.cast(target, safe=False)
    if array.null_count:
        if column.default is None:
            raise InputError(f"{place}: column {column.name!r} has nulls and its default_val "
                             f"{column.default_text!r} is not a valid {column.type_name}")
        array = pc.fill_null(array, pa.scalar(column.default, target))
    values = array.to_numpy(zero_copy_only=False)
    return values.astype(object) if column.dtype == tf.string else values


def _list_arrays(array: pa.Array, default: str, place: str) -> tuple[np.ndarray, np.ndarray]:
    """A list column as (item texts, row splits).

    Items become text (numbers in Arrow's shortest form: 3.0 -> "3"); null and empty items
    are dropped, as TagFeature drops empty tokens of a joined string; a null list becomes
    [default] when the field has a non-empty default_val, else [].
    """
    array = array.cast(_STRING_LIST)
    if default and array.null_count:
        array = pc.fill_null(array, pa.scalar([default], _STRING_LIST))
    items = pc.list_flatten(array)
    rows = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
    keep = pc.fill_null(pc.not_equal(items, ""), False)
    kept_rows = rows[keep.to_numpy(zero_copy_only=False)]
    tokens = items.filter(keep)
    if pc.any(pc.match_substring_regex(tokens, "[" + "".join(SEPARATORS) + "]")).as_py():
        raise InputError(f"{place}: a list item contains the control character \\x1e or \\x1f, "
                         "which the reader uses internally")
    counts = np.bincount(kept_rows, minlength=len(array))
    splits = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return tokens.to_numpy(zero_copy_only=False).astype(object), splits
