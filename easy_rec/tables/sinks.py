"""Table output: tables written as delimited text (with a header line) or as Parquet.

Sinks write wherever they are told; callers write to a temporary path and rename it into place
when the run succeeds (easy_rec.utils.files.atomic_output).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from easy_rec.tables.paths import PARQUET


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
    """A column as null-free bytes: binary cells as they are, text as UTF-8, numbers in
    shortest round-trip form, lists joined."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type) \
            or pa.types.is_large_list(column.type):
        column = pc.binary_join(pc.cast(column, pa.list_(pa.string())), list_separator)
    elif not (pa.types.is_string(column.type) or pa.types.is_binary(column.type)):
        column = pc.cast(column, pa.string())
    return pc.fill_null(pc.cast(column, pa.binary()), _bytes(""))


def _bytes(text: str) -> pa.Scalar:
    return pa.scalar(text.encode("utf-8"), pa.binary())


def _csv_bytes(table: pa.Table, separator: str, list_separator: str) -> memoryview:
    """The rows of `table` as delimited lines, each ending in a line break."""
    cells = [_text_column(table.column(i), list_separator) for i in range(table.num_columns)]
    lines = pc.binary_join_element_wise(*cells, _bytes(separator))
    return _concat_values(pc.binary_join_element_wise(lines, _bytes(""), _bytes("\n")))


def _concat_values(array: pa.Array) -> memoryview:
    """All values of a null-free binary array, back to back (a view of its data buffer)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=len(array) + 1,
                            offset=array.offset * 4)
    return memoryview(data_buffer)[offsets[0]:offsets[-1]]
