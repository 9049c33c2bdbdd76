"""Streaming Parquet input: `pyarrow.parquet.ParquetFile.iter_batches` over the requested
columns, so memory stays bounded however large the files are."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from easy_rec.tables.chunk import Chunk
from easy_rec.tables.errors import PredictError
from easy_rec.tables.paths import PARQUET


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
