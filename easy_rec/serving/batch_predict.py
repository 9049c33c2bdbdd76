"""Batch prediction: stream a table through a SavedModel's `serving_default` signature.

Input columns are matched to the signature's inputs by name and converted to its dtypes;
reserved columns are copied through; the chosen outputs follow them. Chunks are read, predicted
and written one at a time, so memory use does not grow with the size of the input.
"""
from __future__ import annotations

import logging
import os
import time
from contextlib import closing
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from easy_rec.export.split import read_store_info
from easy_rec.serving.options import PredictOptions
from easy_rec.serving.signature import OutputSpec, ServingSignature
from easy_rec.tables.chunk import MAX_LOGGED_REJECTS, Chunk
from easy_rec.tables.column_types import zero_text
from easy_rec.tables.convert import ColumnRule, ConvertedColumn, convert_column
from easy_rec.tables.csv_source import CsvSource
from easy_rec.tables.errors import PredictError, RejectedRowError
from easy_rec.tables.parquet_source import ParquetSource
from easy_rec.tables.paths import PARQUET, check_output_path, expand_paths, format_of
from easy_rec.tables.sinks import CsvSink, ParquetSink, open_sink
from easy_rec.utils.files import atomic_output

logger = logging.getLogger(__name__)


@dataclass
class PredictSummary:
    """Counts of one run; `rows_read` = `rows_written` + `rows_rejected`."""

    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    output_path: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """The summary as a JSON-ready dict."""
        return asdict(self)


def output_arrow_type(spec: OutputSpec) -> pa.DataType:
    """Arrow type of an output column: the dtype's type, a list of it for [batch, ...] outputs."""
    element = pa.string() if spec.dtype.name == "string" \
        else pa.from_numpy_dtype(spec.dtype.as_numpy_dtype)
    return pa.list_(element) if spec.example_shape else element


def output_array(values: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    """numpy outputs [rows] or [rows, ...] as an Arrow column (list cells for the latter)."""
    if not pa.types.is_list(arrow_type):
        return pa.array(values, type=arrow_type)
    flat = values.reshape(len(values), -1)
    offsets = np.arange(len(flat) + 1, dtype=np.int32) * flat.shape[1]
    return pa.ListArray.from_arrays(pa.array(offsets),
                                    pa.array(flat.ravel(), type=arrow_type.value_type))


@dataclass
class Rows:
    """Valid rows on their way to the model: converted signature inputs and reserved columns."""

    inputs: dict[str, np.ndarray]
    reserved: pa.Table

    @property
    def num_rows(self) -> int:
        """Number of rows (from the inputs: a table without columns does not keep its count
        through slicing and concatenation)."""
        for values in self.inputs.values():
            return len(values)
        return self.reserved.num_rows

    def split(self, count: int) -> tuple[Rows, Rows]:
        """(first `count` rows, the rest)."""
        head = Rows({k: v[:count] for k, v in self.inputs.items()}, self.reserved.slice(0, count))
        tail = Rows({k: v[count:] for k, v in self.inputs.items()}, self.reserved.slice(count))
        return head, tail

    def append(self, other: Rows) -> Rows:
        """These rows followed by `other`'s."""
        inputs = {k: np.concatenate([v, other.inputs[k]]) for k, v in self.inputs.items()}
        return Rows(inputs, pa.concat_tables([self.reserved, other.reserved]))


class RowConverter:
    """Converts a chunk's columns to the signature dtypes and rejects rows that do not parse:
    raises for the first one, or (ignore_error) drops them and logs the first few."""

    def __init__(self, rules: list[ColumnRule], reserved: list[str], ignore_error: bool):
        self._rules = rules
        self._reserved = reserved
        self._ignore_error = ignore_error
        self._logged_rejects = 0

    def __call__(self, chunk: Chunk) -> tuple[Rows, int]:
        """(the chunk's valid rows, number of rows rejected because a cell does not parse)."""
        columns = {r.name: convert_column(chunk.table.column(r.name), r) for r in self._rules}
        valid = np.logical_and.reduce([c.valid for c in columns.values()]) if columns \
            else np.ones(chunk.table.num_rows, dtype=bool)
        rows = Rows({name: column.values for name, column in columns.items()},
                    chunk.table.select(self._reserved))
        rejected = int(len(valid) - np.count_nonzero(valid))
        if rejected:
            self._reject(chunk, columns, valid)
            rows = Rows({name: values[valid] for name, values in rows.inputs.items()},
                        rows.reserved.filter(pa.array(valid)))
        return rows, rejected

    def _reject(self, chunk: Chunk, columns: dict[str, ConvertedColumn], valid: np.ndarray) -> None:
        if not self._ignore_error:
            raise RejectedRowError(self._describe(chunk, columns, int(np.argmin(valid)))
                                   + " (pass --ignore_error to skip and count such rows)")
        for row in np.flatnonzero(~valid):
            if self._logged_rejects >= MAX_LOGGED_REJECTS:
                return
            self._logged_rejects += 1
            logger.warning("skipped row at %s", self._describe(chunk, columns, int(row)))

    def _describe(self, chunk: Chunk, columns: dict[str, ConvertedColumn], row: int) -> str:
        rule = next(r for r in self._rules if not columns[r.name].valid[row])
        value = _readable(chunk.table.column(rule.name)[row].as_py())
        return f"{chunk.locate(row)}: column {rule.name}: value {value!r} is not a valid " \
               f"{rule.dtype.name}"


def _readable(value: object) -> object:
    """A cell for a message: bytes as text when they are UTF-8 ('abc'), else as bytes
    (b'x\\xff')."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


class Rebatcher:
    """Regroups rows so that the model always sees the same batches (rows 1..B, B+1..2B, ...)
    however the input was chunked: the predictions then do not depend on the chunk size."""

    def __init__(self, batch_size: int):
        self.batch_size = max(int(batch_size), 1)
        self._pending: Rows | None = None

    def push(self, rows: Rows) -> Rows | None:
        """Adds rows; returns the whole batches now available (None if none)."""
        pending = rows if self._pending is None else self._pending.append(rows)
        whole = pending.num_rows - pending.num_rows % self.batch_size
        ready, self._pending = pending.split(whole)
        return ready if whole else None

    def flush(self) -> Rows | None:
        """The last, partial batch (None if nothing is left)."""
        pending, self._pending = self._pending, None
        return pending if pending is not None and pending.num_rows else None


class Predictor:
    """Calls the signature batch by batch and assembles the output table (reserved columns,
    then outputs)."""

    def __init__(self, signature: ServingSignature, output_names: list[str], schema: pa.Schema,
                 batch_size: int):
        self._signature = signature
        self._outputs = output_names
        self._schema = schema
        self._batch_size = max(int(batch_size), 1)

    def __call__(self, rows: Rows) -> pa.Table:
        """Predictions for `rows` as a table of the output schema."""
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self._outputs}
        for start in range(0, rows.num_rows, self._batch_size):
            batch = {k: v[start:start + self._batch_size] for k, v in rows.inputs.items()}
            for name, values in self._signature(batch, self._outputs).items():
                parts[name].append(values)
        arrays = list(rows.reserved.columns) + [
            output_array(np.concatenate(parts[name]), self._schema.field(name).type)
            for name in self._outputs]
        return pa.Table.from_arrays(arrays, schema=self._schema)


def open_source(options: PredictOptions, columns: list[str]) -> CsvSource | ParquetSource:
    """The reader for the options' input files and format."""
    paths = expand_paths(options.input_path)
    input_format = options.input_format or format_of(paths[0])
    if input_format == PARQUET:
        return ParquetSource(paths, columns, options.chunk_rows)
    return CsvSource(paths, columns, options.separator, options.column_names,
                     options.with_header, options.chunk_rows, options.block_bytes,
                     options.ignore_error)


def select_outputs(signature: ServingSignature, output_cols: list[str] | None) -> list[str]:
    """The requested outputs (default: all of the signature's), checked against it."""
    if not output_cols:
        return signature.output_names
    unknown = [n for n in output_cols if n not in signature.outputs]
    if unknown:
        raise PredictError(f"--output_cols: the model has no output {', '.join(unknown)} "
                           f"(outputs: {', '.join(signature.output_names)})")
    return list(dict.fromkeys(output_cols))


def column_rules(signature: ServingSignature, defaults: dict[str, str]) -> list[ColumnRule]:
    """One conversion rule per signature input: its dtype and default cell."""
    return [ColumnRule(name, dtype, defaults.get(name, zero_text(dtype)))
            for name, dtype in signature.input_dtypes.items()]


def output_schema(source: CsvSource | ParquetSource, reserved: list[str],
                  signature: ServingSignature, output_names: list[str]) -> pa.Schema:
    """Reserved columns (input types) followed by the outputs."""
    clash = [n for n in output_names if n in reserved]
    if clash:
        raise PredictError(f"reserved column(s) {', '.join(clash)} clash with output names")
    fields = [source.schema.field(name) for name in reserved]
    fields += [pa.field(n, output_arrow_type(signature.outputs[n])) for n in output_names]
    return pa.schema(fields)


def open_signature(options: PredictOptions) -> ServingSignature:
    """The export's serving_default; for a split export its SplitModelRunner on the embedding
    store at options.redis_url."""
    if read_store_info(options.saved_model_dir) is None:
        return ServingSignature(options.saved_model_dir)
    if not options.redis_url:
        raise PredictError(f"{options.saved_model_dir} is a split export: give --redis_url of "
                           "its embedding store")
    from easy_rec.serving.split_runner import SplitModelRunner
    from easy_rec.store.redis_client import connect

    return SplitModelRunner.load(options.saved_model_dir, connect(options.redis_url))


def batch_predict(options: PredictOptions) -> PredictSummary:
    """Runs one batch prediction; returns its counts. Raises InputError (PredictError but for
    input paths that name no file, CSV headers that differ and output paths that cannot be
    written; nothing is left at the output path) when the output cannot be written, the input
    cannot be read, a row is rejected without ignore_error or every row is rejected."""
    start = time.perf_counter()
    check_output_path(options.output_path)
    signature = open_signature(options)
    rules = column_rules(signature, options.defaults)
    output_names = select_outputs(signature, options.output_cols)
    reserved = list(dict.fromkeys(options.reserved_cols))
    source = open_source(options, signature.input_names + reserved)
    schema = output_schema(source, reserved, signature, output_names)
    convert = RowConverter(rules, reserved, options.ignore_error)
    rebatcher = Rebatcher(options.batch_size)
    predict = Predictor(signature, output_names, schema, options.batch_size)
    output_format = options.output_format or format_of(options.output_path)
    summary = PredictSummary(output_path=os.path.abspath(options.output_path))
    with atomic_output(options.output_path) as temp_path, \
            closing(open_sink(output_format, temp_path, schema, options.separator,
                              options.list_separator)) as sink, \
            tqdm(total=source.total_rows, unit="rows", desc="predict",
                 disable=None if options.progress is None else not options.progress) as bar:
        for chunk in source:
            rows, rejected = convert(chunk)
            summary.rows_read += chunk.table.num_rows + chunk.rejected
            summary.rows_rejected += chunk.rejected + rejected
            summary.rows_written += _write(sink, predict, rebatcher.push(rows))
            bar.update(chunk.table.num_rows + chunk.rejected)
        summary.rows_written += _write(sink, predict, rebatcher.flush())
        _check_some_written(summary, options.input_path)
    summary.seconds = round(time.perf_counter() - start, 3)
    logger.info("wrote %d rows to %s (%d rejected) in %.1f s", summary.rows_written,
                summary.output_path, summary.rows_rejected, summary.seconds)
    return summary


def _check_some_written(summary: PredictSummary, input_path: str) -> None:
    """Raises PredictError when rows were read but every one was rejected (an output without
    rows would only hide that the input does not fit the model)."""
    if summary.rows_read and not summary.rows_written:
        raise PredictError(f"all {summary.rows_read} rows of {input_path} were rejected (the "
                           "warnings above name the first ones); no output written")


def _write(sink: CsvSink | ParquetSink, predict: Predictor, rows: Rows | None) -> int:
    """Predicts and writes `rows` (if any); returns the number of rows written."""
    if rows is None:
        return 0
    table = predict(rows)
    sink.write(table)
    return table.num_rows
