"""Parsing batches of delimited text lines into typed columns, shared by CSV and Kafka input.

Every line comes with a row id that packs (place index << 40) | position, where a place is
a file (position: line number) or a Kafka partition (position: offset), so a malformed row
(wrong column count, a cell that does not parse as its field's type) is reported by place.
With ``ignore_error`` such rows are dropped and counted instead; every batch carries the count
under ``MALFORMED_KEY``.

A block of lines in which every row is valid is decoded in one ``tf.io.decode_csv`` call
(csv_decode.py); a block with a malformed row goes cell by cell, which finds and names it.
``parse_block`` flags malformed rows instead of dropping them, so blocks of any size can be
re-batched before ``finish`` drops and counts them.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import tensorflow as tf

from easy_rec.input import fields as field_types
from easy_rec.input.csv_decode import BlockDecoder
from easy_rec.input.quoted_cells import split_quoted
from easy_rec.protos import dataset_pb2
from easy_rec.tables.errors import InputError

MALFORMED_KEY = "__malformed_rows__"
# [batch, columns] bool: the cell was empty (before defaults), in `LineParser.columns` order
MISSING_KEY = "__missing_cells__"
# [n] bool of a parsed block: the row is well formed (dropped by `LineParser.finish` if not)
VALID_KEY = "__valid_rows__"
POSITION_BITS = 40
MALFORMED_MARKER = "malformed CSV row at "
QUOTE_REASON = ("a cell holds a quote but is not wrapped in double quotes, or a quote is "
                "not closed")
# a bad cell is quoted in error messages up to this many characters
_SHOWN_CHARS = 40


class MalformedRowError(InputError):
    """A malformed row stopped reading (data_config.ignore_error is false)."""


def malformed_message(error: tf.errors.InvalidArgumentError) -> str | None:
    """The one-line `malformed CSV row at place:position: reason` that the parser put into
    `error`, or None when the error has another cause."""
    text = error.message
    if MALFORMED_MARKER not in text:
        return None
    start = text.index(MALFORMED_MARKER)
    end = text.find("\n", start)
    return text[start:end if end > 0 else None].rstrip("]").strip()


@contextmanager
def malformed_rows_reported() -> Iterator[None]:
    """Turns TensorFlow's error of a malformed row into MalformedRowError with the parser's
    one-line message; other errors pass unchanged."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        message = malformed_message(error)
        if message is None:
            raise
        raise MalformedRowError(message) from None


def checked_batches(dataset: tf.data.Dataset) -> Iterator[dict[str, tf.Tensor]]:
    """The batches of `dataset`, a malformed row that stops it raising MalformedRowError."""
    iterator = iter(dataset)
    while True:
        with malformed_rows_reported():
            batch = next(iterator, None)
        if batch is None:
            return
        yield batch


def printable_cell(cell: tf.Tensor) -> tf.Tensor:
    """A cell as error messages show it: bytes that are not UTF-8 and control characters
    (NUL, tab, ...) as U+FFFD, at most _SHOWN_CHARS characters, then '...'."""
    text = tf.strings.unicode_transcode(cell, "UTF-8", "UTF-8", errors="replace",
                                        replacement_char=0xFFFD)
    text = tf.strings.regex_replace(text, r"[\x00-\x1f\x7f]", "\uFFFD")
    shown = tf.strings.substr(text, 0, _SHOWN_CHARS, unit="UTF8_CHAR")
    cut = tf.strings.length(text, unit="UTF8_CHAR") > _SHOWN_CHARS
    return tf.strings.join([shown, tf.where(cut, "...", "")])


@dataclass(frozen=True)
class Column:
    """One parsed input column: its name, position in the line, dtype and empty-cell text."""

    name: str
    index: int
    dtype: tf.DType
    default: str


def pack_row_id(place: tf.Tensor | int, position: tf.Tensor | int) -> tf.Tensor:
    """Row id of `position` (line number or offset) in place number `place`."""
    place = tf.cast(place, tf.int64)
    return tf.bitwise.left_shift(place, POSITION_BITS) + tf.cast(position, tf.int64)


def columns_for(data_config: dataset_pb2.DatasetConfig, positions: dict[str, int],
                wanted: set[str]) -> list[Column]:
    """Columns of the input fields named in `wanted`, at the given line positions;
    InputError when a default_val is not valid for its field's type."""
    columns = []
    for field in data_config.input_fields:
        if field.input_name not in wanted:
            continue
        column = Column(field.input_name, positions[field.input_name],
                        field_types.field_dtype(field), field_types.default_cell(field))
        if field_types.parse_default(column.default, column.dtype) is None:
            raise InputError(f"input field {column.name!r}: default_val {column.default!r} is "
                             f"not a valid {column.dtype.name}")
        columns.append(column)
    return columns


class LineParser:
    """Splits lines, checks and converts the wanted cells, drops or reports malformed rows."""

    def __init__(self, columns: list[Column], separator: str, num_columns: int,
                 ignore_error: bool, places: list[str], position_label: str = ":",
                 with_missing: bool = False, quoted: bool = False):
        """`places[i]` names place i in error messages as `<place><position_label><position>`;
        with_missing adds the MISSING_KEY matrix to each batch; `quoted`: cells may be
        double-quoted (quoted_cells.py; `separator` is then one character)."""
        self.columns = columns
        self._separator = separator
        self._num_columns = num_columns
        self._ignore_error = ignore_error
        self._places = places
        self._position_label = position_label
        self._with_missing = with_missing
        self._quoted = quoted
        self._decoder = None
        if columns and not with_missing and BlockDecoder.supports(separator):
            decoder = BlockDecoder(columns, separator, num_columns, quoted)
            self._decoder = decoder if decoder.compiles() else None

    @property
    def decodes_blocks(self) -> bool:
        """Whether blocks of valid rows take the one-call decode_csv path."""
        return self._decoder is not None

    @property
    def output_signature(self) -> dict[str, tf.TensorSpec]:
        """Spec of the parsed columns (and missing-cell matrix) of one batch."""
        spec = {c.name: tf.TensorSpec([None], c.dtype, name=c.name) for c in self.columns}
        if self._with_missing:
            spec[MISSING_KEY] = tf.TensorSpec([None, len(self.columns)], tf.bool)
        return spec

    def parse(self, row_ids: tf.Tensor, lines: tf.Tensor,
              row_values: dict[str, tf.Tensor] | None = None) -> dict[str, tf.Tensor]:
        """{column: [batch] values, MALFORMED_KEY: count}; `row_values` ([batch] tensors that
        travel with the lines, e.g. message keys) are passed through, malformed rows dropped."""
        return self.finish({**self.parse_block(row_ids, lines), **(row_values or {})})

    def parse_block(self, row_ids: tf.Tensor, lines: tf.Tensor) -> dict[str, tf.Tensor]:
        """{column: [n] values, VALID_KEY: [n] bool}: malformed rows are flagged, not dropped
        (without ignore_error the first one fails the block with its place and reason)."""
        if self._decoder is None:
            return self._parse_cells(row_ids, lines)
        return tf.cond(self._decoder.all_valid(lines),
                       lambda: {**self._decoder.decode(lines),
                                VALID_KEY: tf.ones_like(lines, dtype=tf.bool)},
                       lambda: self._parse_cells(row_ids, lines))

    def finish(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """A batch of `parse_block` rows -> its well formed rows plus MALFORMED_KEY: count."""
        batch = dict(batch)
        valid = batch.pop(VALID_KEY)
        num_bad = tf.size(valid, out_type=tf.int64) - tf.math.count_nonzero(valid)
        if self._ignore_error:
            batch = tf.cond(num_bad > 0,
                            lambda: {k: tf.boolean_mask(v, valid) for k, v in batch.items()},
                            lambda: batch)
        batch[MALFORMED_KEY] = num_bad
        return batch

    def _parse_cells(self, row_ids: tf.Tensor, lines: tf.Tensor) -> dict[str, tf.Tensor]:
        """Cell by cell: checks every wanted cell, reports or flags malformed rows."""
        if self._quoted:
            tokens, quotes_ok = split_quoted(lines, self._separator)
        else:
            tokens, quotes_ok = tf.strings.split(lines, self._separator), None
        counts = tokens.row_lengths()
        count_ok = tf.equal(counts, self._num_columns)
        cells = _CellPicker(tokens)
        values, cell_ok, missing = {}, [], []
        for col in self.columns:
            raw = cells.column(col.index)
            empty = tf.equal(raw, "")
            missing.append(empty)
            filled = tf.where(empty, col.default, raw) if col.default else raw
            if col.dtype == tf.string:
                values[col.name] = filled
                continue
            ok = field_types.cells_valid(filled, col.dtype)
            cell_ok.append(ok)
            values[col.name] = field_types.parse_cells(tf.where(ok, filled, col.default), col.dtype)
        if self._with_missing:
            values[MISSING_KEY] = tf.stack(missing, axis=1)
        cell_ok_matrix = tf.stack(cell_ok, axis=1) if cell_ok else tf.ones([tf.size(lines), 0], tf.bool)
        valid = tf.logical_and(count_ok, tf.reduce_all(cell_ok_matrix, axis=1))
        if quotes_ok is not None:
            valid = tf.logical_and(valid, quotes_ok)
        if not self._ignore_error:
            check = tf.debugging.Assert(
                tf.reduce_all(valid),
                [self._describe_first_bad(row_ids, cells, counts, count_ok, cell_ok_matrix, valid,
                                          quotes_ok)],
                summarize=1,
            )
            with tf.control_dependencies([check]):
                values = {k: tf.identity(v) for k, v in values.items()}
        values[VALID_KEY] = valid
        return values

    def _describe_first_bad(self, row_ids, cells, counts, count_ok, cell_ok_matrix, valid,
                            quotes_ok) -> tf.Tensor:
        """Human readable place and reason of the first malformed row of a batch."""
        row = tf.argmin(tf.cast(valid, tf.int32), output_type=tf.int32)
        row_id = row_ids[row]
        place = tf.gather(tf.constant(self._places), tf.bitwise.right_shift(row_id, POSITION_BITS))
        position = tf.bitwise.bitwise_and(row_id, (1 << POSITION_BITS) - 1)
        count_reason = tf.strings.format(
            "expected {} columns, found {}", (self._num_columns, counts[row]))
        numeric = [c for c in self.columns if c.dtype != tf.string]

        def cell_reason() -> tf.Tensor:
            # only evaluated for a row whose column count is right, so some typed cell failed
            bad_col = tf.argmin(tf.cast(cell_ok_matrix[row], tf.int32), output_type=tf.int32)
            column = tf.gather(tf.constant([c.index for c in numeric]), bad_col)
            return tf.strings.join([
                "column ", tf.gather(tf.constant([c.name for c in numeric]), bad_col),
                ": value ", printable_cell(cells.cell(row, column)), " is not a valid ",
                tf.gather(tf.constant([c.dtype.name for c in numeric]), bad_col)])

        if not numeric:  # only the column count (or the quoting) can be wrong
            reason = count_reason
        else:
            reason = tf.cond(count_ok[row], cell_reason, lambda: count_reason)
        if quotes_ok is not None:
            reason = tf.where(quotes_ok[row], reason, QUOTE_REASON)
        return tf.strings.join([
            MALFORMED_MARKER, place, self._position_label, tf.strings.as_string(position),
            ": ", reason, " (set data_config.ignore_error: true to skip and count such rows)"])


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
