"""CSV reader: delimited text files -> batches of named raw columns on tf.data.

Each row keeps its file and line number until it is parsed, so a malformed row (wrong column
count, a cell that does not parse as its field's type) is reported by place. With
``data_config.ignore_error`` such rows are dropped and counted instead; every batch carries
the count under ``MALFORMED_KEY``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import tensorflow as tf

from easy_rec.input import fields as field_types
from easy_rec.protos import dataset_pb2

MALFORMED_KEY = "__malformed_rows__"
_LINE_BITS = 40  # a row id packs (file index << 40) | line number

logger = logging.getLogger(__name__)


class InputError(ValueError):
    """The input files cannot be read as configured."""


@dataclass(frozen=True)
class _Column:
    name: str
    index: int
    dtype: tf.DType
    default: str


def expand_input_paths(input_path: str) -> list[str]:
    """Files named by a comma separated list of paths and glob patterns, in a stable order."""
    files: list[str] = []
    for pattern in (p.strip() for p in input_path.split(",")):
        if not pattern:
            continue
        matched = sorted(tf.io.gfile.glob(pattern))
        if not matched:
            raise InputError(f"input path {pattern!r} matches no file")
        files.extend(m for m in matched if not tf.io.gfile.isdir(m))
    if not files:
        raise InputError(f"input path {input_path!r} names no file")
    return files


def _read_header(path: str, separator: str) -> list[str]:
    with tf.io.gfile.GFile(path, "r") as f:
        return f.readline().rstrip("\r\n").split(separator)


class CSVInput:
    """Builds tf.data pipelines over CSV files described by a DatasetConfig."""

    def __init__(
        self,
        data_config: dataset_pb2.DatasetConfig,
        input_path: str,
        needed_fields: list[str] | None = None,
    ):
        self._config = data_config
        self._separator = data_config.separator
        self.files = expand_input_paths(input_path)
        names = [f.input_name for f in data_config.input_fields]
        positions = self._column_positions(names)
        self._num_columns = len(positions) if not data_config.with_header else self._header_width
        wanted = set(needed_fields) if needed_fields is not None else set(names)
        self._columns = [
            _Column(f.input_name, positions[f.input_name], field_types.field_dtype(f),
                    field_types.default_cell(f))
            for f in data_config.input_fields
            if f.input_name in wanted
        ]

    def _column_positions(self, names: list[str]) -> dict[str, int]:
        if not self._config.with_header:
            return {name: i for i, name in enumerate(names)}
        header = _read_header(self.files[0], self._separator)
        for path in self.files[1:]:
            if _read_header(path, self._separator) != header:
                raise InputError(f"{path}: header differs from that of {self.files[0]}")
        missing = [n for n in names if n not in header]
        if missing:
            raise InputError(f"{self.files[0]}: header has no column {', '.join(missing)}")
        self._header_width = len(header)
        return {name: header.index(name) for name in names}

    @property
    def output_signature(self) -> dict[str, tf.TensorSpec]:
        """Spec of one parsed batch (without the malformed-row count)."""
        return {c.name: tf.TensorSpec([None], c.dtype, name=c.name) for c in self._columns}

    def make_dataset(
        self,
        batch_size: int,
        num_epochs: int | None = 1,
        shuffle: bool = False,
        seed: int = 0,
    ) -> tf.data.Dataset:
        """Batches of {field name: [batch] tensor}; num_epochs None repeats forever."""
        rows = self._numbered_lines(num_epochs, shuffle, seed)
        if shuffle:
            buffer = max(int(self._config.shuffle_buffer_size), 1)
            rows = rows.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        batches = rows.batch(batch_size)
        parsed = batches.map(
            self._parse_batch,
            num_parallel_calls=max(1, min(int(self._config.num_parallel_calls), 4)),
            deterministic=True,
        )
        return parsed.prefetch(max(int(self._config.prefetch_size), 1))

    def _numbered_lines(self, num_epochs: int | None, shuffle: bool, seed: int) -> tf.data.Dataset:
        file_ids = tf.data.Dataset.range(len(self.files))
        if shuffle and len(self.files) > 1:
            file_ids = file_ids.shuffle(len(self.files), seed=seed, reshuffle_each_iteration=True)
        file_ids = file_ids.repeat(num_epochs)
        file_names = tf.constant(self.files)
        skip = 1 if self._config.with_header else 0

        def read_file(file_id: tf.Tensor) -> tf.data.Dataset:
            first_id = tf.bitwise.left_shift(file_id, _LINE_BITS) + 1
            ids = tf.data.Dataset.range(first_id, first_id + (1 << _LINE_BITS))
            lines = tf.data.TextLineDataset(tf.gather(file_names, file_id))
            return tf.data.Dataset.zip((ids, lines)).skip(skip)

        return file_ids.interleave(read_file, cycle_length=min(len(self.files), 4), block_length=1)

    def _parse_batch(self, row_ids: tf.Tensor, lines: tf.Tensor) -> dict[str, tf.Tensor]:
        tokens = tf.strings.split(lines, self._separator)
        counts = tokens.row_lengths()
        count_ok = tf.equal(counts, self._num_columns)
        cells = _CellPicker(tokens)
        values, cell_ok = {}, []
        for col in self._columns:
            raw = cells.column(col.index)
            filled = tf.where(tf.equal(raw, ""), col.default, raw) if col.default else raw
            if col.dtype == tf.string:
                values[col.name] = filled
                continue
            ok = field_types.cells_valid(filled, col.dtype)
            cell_ok.append(ok)
            values[col.name] = field_types.parse_cells(tf.where(ok, filled, col.default), col.dtype)
        cell_ok_matrix = tf.stack(cell_ok, axis=1) if cell_ok else tf.ones([tf.size(lines), 0], tf.bool)
        valid = tf.logical_and(count_ok, tf.reduce_all(cell_ok_matrix, axis=1))
        num_bad = tf.size(valid, out_type=tf.int64) - tf.math.count_nonzero(valid)
        if not self._config.ignore_error:
            check = tf.debugging.Assert(
                tf.equal(num_bad, 0),
                [self._describe_first_bad(row_ids, cells, counts, count_ok, cell_ok_matrix, valid)],
                summarize=1,
            )
            with tf.control_dependencies([check]):
                values = {k: tf.identity(v) for k, v in values.items()}
        else:
            values = {k: tf.boolean_mask(v, valid) for k, v in values.items()}
        values[MALFORMED_KEY] = num_bad
        return values

    def _describe_first_bad(self, row_ids, cells, counts, count_ok, cell_ok_matrix, valid) -> tf.Tensor:
        """Human readable place and reason of the first malformed row of a batch."""
        row = tf.argmin(tf.cast(valid, tf.int32), output_type=tf.int32)
        row_id = row_ids[row]
        file_name = tf.gather(tf.constant(self.files), tf.bitwise.right_shift(row_id, _LINE_BITS))
        line = tf.bitwise.bitwise_and(row_id, (1 << _LINE_BITS) - 1)
        count_reason = tf.strings.format(
            "expected {} columns, found {}", (self._num_columns, counts[row]))
        numeric = [c for c in self._columns if c.dtype != tf.string]

        def cell_reason() -> tf.Tensor:
            # only evaluated for a row whose column count is right, so some typed cell failed
            bad_col = tf.argmin(tf.cast(cell_ok_matrix[row], tf.int32), output_type=tf.int32)
            column = tf.gather(tf.constant([c.index for c in numeric]), bad_col)
            return tf.strings.join([
                "column ", tf.gather(tf.constant([c.name for c in numeric]), bad_col),
                ": value ", cells.cell(row, column), " is not a valid ",
                tf.gather(tf.constant([c.dtype.name for c in numeric]), bad_col)])

        if not numeric:  # only the column count can be wrong
            reason = count_reason
        else:
            reason = tf.cond(count_ok[row], cell_reason, lambda: count_reason)
        return tf.strings.join([
            "malformed CSV row at ", file_name, ":", tf.strings.as_string(line), ": ", reason,
            " (set data_config.ignore_error: true to skip and count such rows)"])


class _CellPicker:
    """Reads single columns out of split lines without materialising the full cell matrix."""

    def __init__(self, tokens: tf.RaggedTensor):
        self._values = tokens.values
        self._starts = tokens.row_starts()
        self._last = tokens.row_limits() - 1

    def column(self, index: int) -> tf.Tensor:
        """[batch] cells of column `index` (rows with fewer cells give some other cell of theirs;
        such rows are invalid anyway)."""
        return tf.gather(self._values, tf.minimum(self._starts + index, self._last))

    def cell(self, row: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
        """One cell."""
        position = tf.minimum(self._starts[row] + tf.cast(index, tf.int64), self._last[row])
        return self._values[position]
