"""Streaming CSV input: the requested columns of delimited text files as bytes (binary) columns.

The files are read (through tf.io.gfile) in blocks of about `block_bytes` that end on a line
break; each block is parsed by pyarrow with every requested column as bytes (no quoting, like
the training reader; cells need not be UTF-8). As in training (TextLineDataset), lines end at
line feeds and carriage returns are removed wherever they are. Rows with the wrong number of
columns are reported by file and line, or skipped and counted.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import tensorflow as tf

from easy_rec.tables.chunk import MAX_LOGGED_REJECTS, Chunk
from easy_rec.tables.errors import PredictError, RejectedRowError
from easy_rec.tables.header import common_header
from easy_rec.tables.paths import CSV

logger = logging.getLogger(__name__)

_PARSE_BLOCK_BYTES = 1 << 22  # pyarrow's own parsing unit inside one of our blocks


class _BlockLines:
    """Maps rows of a parsed block back to physical line numbers.

    pyarrow numbers rows among the non-blank lines of what it parses; blank lines are skipped
    (blocks hold no carriage returns).
    The mapping is computed only when a place is asked for (error messages, warnings).
    """

    def __init__(self, block: bytes, first_line: int, rejected_rows: list[int]):
        self._block = block
        self._first_line = first_line
        self._rejected = sorted(rejected_rows)
        self._nonblank: np.ndarray | None = None

    def _nonblank_lines(self) -> np.ndarray:
        if self._nonblank is None:
            data = np.frombuffer(self._block, dtype=np.uint8)
            ends = np.flatnonzero(data == ord("\n"))
            if len(data) and data[-1] != ord("\n"):
                ends = np.append(ends, len(data))
            starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
            self._nonblank = self._first_line + np.flatnonzero(ends > starts)
        return self._nonblank

    def line_of_row(self, row_number: int) -> int:
        """Physical line of the block's `row_number`-th (1-based) non-blank line."""
        return int(self._nonblank_lines()[row_number - 1])

    def line_of_kept(self, index: int) -> int:
        """Physical line of the `index`-th (0-based) row that pyarrow kept."""
        row = index + 1
        for rejected in self._rejected:
            if rejected <= row:
                row += 1
        return self.line_of_row(row)


def _read_blocks(path: str, block_bytes: int, skip_header: bool) -> Iterator[tuple[bytes, int]]:
    """(block, number of its first line): whole lines, about `block_bytes` at a time."""
    with tf.io.gfile.GFile(path, "rb") as f:
        line = 1
        if skip_header:
            f.readline()
            line = 2
        carry = b""
        while True:
            data = f.read(block_bytes)
            if not data:
                if carry:
                    yield carry, line
                return
            data = carry + data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            block, carry = data[:cut], data[cut:]
            yield block, line
            line += block.count(b"\n")


class CsvSource:
    """Streams the requested columns of delimited text files as text (pyarrow string) columns."""

    format = CSV

    def __init__(self, paths: list[str], columns: list[str], separator: str,
                 column_names: list[str] | None = None, with_header: bool = False,
                 chunk_rows: int = 65536, block_bytes: int = 16 << 20, ignore_error: bool = False):
        if len(separator) != 1:
            raise PredictError(f"separator {separator!r}: batch prediction reads CSV with "
                               "single-character separators only")
        self.paths = paths
        self.columns = list(dict.fromkeys(columns))
        self._separator = separator
        self._with_header = with_header
        self._chunk_rows = max(int(chunk_rows), 1)
        self._block_bytes = max(int(block_bytes), 1)
        self._ignore_error = ignore_error
        self._names = self._resolve_names(column_names)
        self._logged_rejects = 0
        missing = [c for c in self.columns if c not in self._names]
        if missing:
            raise PredictError(f"{paths[0]}: no column {', '.join(missing)} (columns: "
                               f"{', '.join(self._names)})")

    def _resolve_names(self, column_names: list[str] | None) -> list[str]:
        if not self._with_header:
            if not column_names:
                raise PredictError("a CSV without header needs its column names: pass "
                                   "--input_fields or --pipeline_config (or use --with_header)")
            return list(column_names)
        return common_header(self.paths, self._separator)

    @property
    def schema(self) -> pa.Schema:
        """Schema of the chunks' tables: every requested column as bytes."""
        return pa.schema([(c, pa.binary()) for c in self.columns])

    @property
    def total_rows(self) -> int | None:
        """Unknown for CSV (the files are not read ahead)."""
        return None

    def __iter__(self) -> Iterator[Chunk]:
        for path in self.paths:
            for block, first_line in _read_blocks(path, self._block_bytes, self._with_header):
                block = block.replace(b"\r", b"")
                if block.strip():
                    yield from self._parse_block(path, block, first_line)

    def _parse_block(self, path: str, block: bytes, first_line: int) -> Iterator[Chunk]:
        """Chunks of one block. Rows with a wrong column count are skipped and counted; without
        ignore_error the rows before the first such row are still yielded (so an earlier bad
        cell is reported first) and then the error is raised."""
        table, rejected = self._split_block(block)
        lines = _BlockLines(block, first_line, [r.number for r in rejected])
        error = None
        if rejected and not self._ignore_error:
            table = table.slice(0, rejected[0].number - 1)
            error = self._count_error(path, lines, rejected[0])
            rejected = []
        self._log_rejected(path, lines, rejected)
        pending_rejects = len(rejected)
        for start in range(0, max(table.num_rows, 1), self._chunk_rows):
            piece = table.slice(start, self._chunk_rows)
            if piece.num_rows or pending_rejects:
                yield Chunk(piece, pending_rejects, _csv_locator(path, lines, start))
                pending_rejects = 0
        if error is not None:
            raise error

    def _split_block(self, block: bytes) -> tuple[pa.Table, list[pa_csv.InvalidRow]]:
        """(the block's rows of the right length, the others), numbered among non-blank lines.
        pyarrow reads blocks of UTF-8 text; the rare others are split in Python (pyarrow's
        handler of rows with a wrong column count cannot take bytes that are not UTF-8)."""
        if not _is_utf8(block):
            return _split_lines(block, self._names, self.columns, self._separator)
        rejected: list[pa_csv.InvalidRow] = []

        def on_invalid_row(row: pa_csv.InvalidRow) -> str:
            rejected.append(row)
            return "skip"

        return pa_csv.read_csv(io.BytesIO(block), **self._csv_options(on_invalid_row)), rejected

    def _csv_options(self, on_invalid_row: Callable[[pa_csv.InvalidRow], str]) -> dict:
        return {
            "read_options": pa_csv.ReadOptions(column_names=self._names, use_threads=False,
                                               block_size=_PARSE_BLOCK_BYTES),
            "parse_options": pa_csv.ParseOptions(delimiter=self._separator, quote_char=False,
                                                 double_quote=False, escape_char=False,
                                                 invalid_row_handler=on_invalid_row),
            "convert_options": pa_csv.ConvertOptions(
                include_columns=self.columns, check_utf8=False,
                column_types={c: pa.binary() for c in self.columns}),
        }

    @staticmethod
    def _count_error(path: str, lines: _BlockLines, row: pa_csv.InvalidRow) -> RejectedRowError:
        return RejectedRowError(
            f"{path}:{lines.line_of_row(row.number)}: expected {row.expected_columns} columns, found {row.actual_columns}"
            " (pass --ignore_error to skip and count such rows)")

    def _log_rejected(self, path: str, lines: _BlockLines, rejected: list) -> None:
        for row in rejected:
            if self._logged_rejects >= MAX_LOGGED_REJECTS:
                return
            self._logged_rejects += 1
            logger.warning("skipped row at %s:%d: expected %d columns, found %d", path,
                           lines.line_of_row(row.number), row.expected_columns, row.actual_columns)


def _is_utf8(block: bytes) -> bool:
    if block.isascii():
        return True
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _split_lines(block: bytes, names: list[str], columns: list[str], separator: str
                 ) -> tuple[pa.Table, list[pa_csv.InvalidRow]]:
    """What pyarrow's reader returns for `block` (no carriage returns): blank lines skipped,
    rows numbered among the others, those of the wrong length rejected."""
    wanted = [names.index(c) for c in columns]
    sep = separator.encode("utf-8")
    cells: list[list[bytes]] = [[] for _ in columns]
    rejected: list[pa_csv.InvalidRow] = []
    number = 0
    for line in block.split(b"\n"):
        if not line:
            continue
        number += 1
        values = line.split(sep)
        if len(values) != len(names):
            rejected.append(pa_csv.InvalidRow(len(names), len(values), number, None))
            continue
        for column, index in zip(cells, wanted):
            column.append(values[index])
    table = pa.table([pa.array(c, pa.binary()) for c in cells], names=columns)
    return table, rejected


def _csv_locator(path: str, lines: _BlockLines, offset: int) -> Callable[[int], str]:
    return lambda i: f"{path}:{lines.line_of_kept(offset + i)}"
