"""Streaming table input and atomic table output for batch prediction.

Readers yield `Chunk`s of at most `chunk_rows` rows with only the requested columns, so memory
stays bounded however large the file is:

- CSV: the file is read in blocks of about `block_bytes` that end on a line break; each block is
  parsed by pyarrow with every requested column as text (no quoting, like the training reader).
  Rows with the wrong number of columns are reported by file and line, or skipped and counted.
- Parquet: `pyarrow.parquet.ParquetFile.iter_batches` over the requested columns.

Writers write to a temporary file beside the output and rename it into place when the run
succeeds; a failed run removes the temporary file and leaves nothing under the output name.
"""
from __future__ import annotations

import glob
import io
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from easy_rec.serving.errors import PredictError, RejectedRowError

logger = logging.getLogger(__name__)

CSV, PARQUET = "csv", "parquet"
PARQUET_EXTENSIONS = (".parquet", ".pq", ".parq")
MAX_LOGGED_REJECTS = 5
_PARSE_BLOCK_BYTES = 1 << 22  # pyarrow's own parsing unit inside one of our blocks


@dataclass
class Chunk:
    """Consecutive rows of one input file.

    `table` holds the rows that were read (requested columns only), `rejected` the rows of the
    same span the reader dropped (wrong column count, ignore_error only), and `locate(i)` names
    the place of row i of `table`, e.g. ``data.csv:17`` or ``data.parquet: row 17``.
    """

    table: pa.Table
    rejected: int
    locate: Callable[[int], str]


def format_of(path: str) -> str:
    """'parquet' for .parquet / .pq / .parq paths, else 'csv'."""
    return PARQUET if path.lower().endswith(PARQUET_EXTENSIONS) else CSV


def expand_paths(spec: str) -> list[str]:
    """Files named by a comma separated list of paths and glob patterns, in a stable order."""
    files: list[str] = []
    for pattern in (p.strip() for p in spec.split(",")):
        if not pattern:
            continue
        matched = sorted(m for m in glob.glob(pattern) if os.path.isfile(m))
        if not matched:
            raise PredictError(f"input path {pattern!r} matches no file")
        files.extend(matched)
    if not files:
        raise PredictError(f"input path {spec!r} names no file")
    return files


def read_header(path: str, separator: str) -> list[str]:
    """Column names from the first line of a CSV file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.readline().rstrip("\r\n").split(separator)


# ----------------------------------------------------------------------------------- CSV input


class _BlockLines:
    """Maps rows of a parsed block back to physical line numbers.

    pyarrow numbers rows among the non-blank lines of what it parses; blank lines are skipped.
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
            lengths = ends - starts
            only_cr = (lengths == 1) & (data[np.minimum(starts, len(data) - 1)] == ord("\r"))
            blank = (lengths == 0) | only_cr
            self._nonblank = self._first_line + np.flatnonzero(~blank)
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
    with open(path, "rb") as f:
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
        header = read_header(self.paths[0], self._separator)
        for path in self.paths[1:]:
            if read_header(path, self._separator) != header:
                raise PredictError(f"{path}: header differs from that of {self.paths[0]}")
        return header

    @property
    def schema(self) -> pa.Schema:
        """Schema of the chunks' tables: every requested column as text."""
        return pa.schema([(c, pa.string()) for c in self.columns])

    @property
    def total_rows(self) -> int | None:
        """Unknown for CSV (the files are not read ahead)."""
        return None

    def __iter__(self) -> Iterator[Chunk]:
        for path in self.paths:
            for block, first_line in _read_blocks(path, self._block_bytes, self._with_header):
                if block.strip():
                    yield from self._parse_block(path, block, first_line)

    def _parse_block(self, path: str, block: bytes, first_line: int) -> Iterator[Chunk]:
        """Chunks of one block. Rows with a wrong column count are skipped and counted; without
        ignore_error the rows before the first such row are still yielded (so an earlier bad
        cell is reported first) and then the error is raised."""
        rejected: list[pa_csv.InvalidRow] = []

        def on_invalid_row(row: pa_csv.InvalidRow) -> str:
            rejected.append(row)
            return "skip"

        try:
            table = pa_csv.read_csv(io.BytesIO(block), **self._csv_options(on_invalid_row))
        except pa.ArrowInvalid as error:
            raise PredictError(f"{path}:{first_line}: cannot read CSV block: {error}") from None
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

    def _csv_options(self, on_invalid_row: Callable[[pa_csv.InvalidRow], str]) -> dict:
        return {
            "read_options": pa_csv.ReadOptions(column_names=self._names, use_threads=False,
                                               block_size=_PARSE_BLOCK_BYTES),
            "parse_options": pa_csv.ParseOptions(delimiter=self._separator, quote_char=False,
                                                 double_quote=False, escape_char=False,
                                                 invalid_row_handler=on_invalid_row),
            "convert_options": pa_csv.ConvertOptions(
                include_columns=self.columns, check_utf8=False,
                column_types={c: pa.string() for c in self.columns}),
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


def _csv_locator(path: str, lines: _BlockLines, offset: int) -> Callable[[int], str]:
    return lambda i: f"{path}:{lines.line_of_kept(offset + i)}"


# ------------------------------------------------------------------------------- Parquet input


class ParquetSource:
    """Streams the requested columns of Parquet files in record batches of `chunk_rows`."""

    format = PARQUET

    def __init__(self, paths: list[str], columns: list[str], chunk_rows: int = 65536):
        self.paths = paths
        self.columns = list(dict.fromkeys(columns))
        self._chunk_rows = max(int(chunk_rows), 1)
        schemas = [pq.read_schema(path) for path in paths]
        for path, file_schema in zip(paths, schemas):
            missing = [c for c in self.columns if c not in file_schema.names]
            if missing:
                raise PredictError(f"{path}: no column {', '.join(missing)} (columns: "
                                   f"{', '.join(file_schema.names)})")
        self._schema = pa.schema([schemas[0].field(c) for c in self.columns])

    @property
    def schema(self) -> pa.Schema:
        """Schema of the chunks' tables (the requested columns with the file's types)."""
        return self._schema

    @property
    def total_rows(self) -> int:
        """Rows in all files, from the Parquet footers."""
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.paths)

    def __iter__(self) -> Iterator[Chunk]:
        for path in self.paths:
            first_row = 1
            for batch in pq.ParquetFile(path).iter_batches(batch_size=self._chunk_rows,
                                                           columns=self.columns):
                table = pa.Table.from_batches([batch]).select(self.columns)
                yield Chunk(table, 0, _parquet_locator(path, first_row))
                first_row += batch.num_rows


def _parquet_locator(path: str, first_row: int) -> Callable[[int], str]:
    return lambda i: f"{path}: row {first_row + i}"


# -------------------------------------------------------------------------------------- output


class AtomicOutput:
    """Context manager yielding a temporary path beside `final_path`; renamed onto it when the
    block succeeds, deleted when it raises."""

    def __init__(self, final_path: str):
        self.final_path = os.path.abspath(final_path)
        self.temp_path = ""

    def __enter__(self) -> str:
        directory = os.path.dirname(self.final_path)
        os.makedirs(directory, exist_ok=True)
        handle, self.temp_path = tempfile.mkstemp(
            dir=directory, prefix=f".{os.path.basename(self.final_path)}.", suffix=".tmp")
        os.close(handle)
        return self.temp_path

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc_type is None:
            os.replace(self.temp_path, self.final_path)
        elif os.path.exists(self.temp_path):
            os.remove(self.temp_path)


def default_list_separator(separator: str) -> str:
    """Separator of the values of a multi-dimensional output inside one CSV cell."""
    return ";" if separator == "," else ","


class CsvSink:
    """Writes tables as delimited text with a header line; list cells are joined values."""

    def __init__(self, path: str, schema: pa.Schema, separator: str, list_separator: str):
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._separator = separator
        self._list_separator = list_separator
        self._file.write((separator.join(schema.names) + "\n").encode("utf-8"))

    def write(self, table: pa.Table) -> None:
        """Appends the rows of `table` (columns in schema order)."""
        if table.num_rows:
            self._file.write(_csv_bytes(table, self._separator, self._list_separator))

    def close(self) -> None:
        """Flushes and closes the file."""
        self._file.close()


class ParquetSink:
    """Writes tables to one Parquet file (a row group per written table, or smaller)."""

    def __init__(self, path: str, schema: pa.Schema):
        self._writer = pq.ParquetWriter(path, schema)
        self._schema = schema

    def write(self, table: pa.Table) -> None:
        """Appends the rows of `table`."""
        if table.num_rows:
            self._writer.write_table(table.cast(self._schema))

    def close(self) -> None:
        """Writes the footer and closes the file."""
        self._writer.close()


def open_sink(output_format: str, path: str, schema: pa.Schema, separator: str,
              list_separator: str | None = None) -> CsvSink | ParquetSink:
    """A sink for `output_format` ('csv' or 'parquet') writing to `path`."""
    if output_format == PARQUET:
        return ParquetSink(path, schema)
    return CsvSink(path, schema, separator, list_separator or default_list_separator(separator))


def _text_column(column: pa.ChunkedArray | pa.Array, list_separator: str) -> pa.Array:
    """A column as null-free text: numbers in shortest round-trip form, lists joined."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type) \
            or pa.types.is_large_list(column.type):
        column = pc.binary_join(pc.cast(column, pa.list_(pa.string())), list_separator)
    elif not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    return pc.fill_null(column, "")


def _csv_bytes(table: pa.Table, separator: str, list_separator: str) -> memoryview:
    """The rows of `table` as delimited lines, each ending in a line break."""
    cells = [_text_column(table.column(i), list_separator) for i in range(table.num_columns)]
    lines = pc.binary_join_element_wise(*cells, separator)
    terminated = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
    return _concat_strings(pc.cast(terminated, pa.string()))


def _concat_strings(array: pa.Array) -> memoryview:
    """All values of a null-free string array, back to back (a view of its data buffer)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=len(array) + 1,
                            offset=array.offset * 4)
    return memoryview(data_buffer)[offsets[0]:offsets[-1]]
