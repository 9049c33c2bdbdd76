"""The work of `easy_rec.tools.load_features`: which columns to load with which types, and the
load itself (table readers of batch prediction -> typed columns -> a FeatureStore load)."""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tensorflow as tf
from tqdm import tqdm

from easy_rec.config.features import feature_configs
from easy_rec.config.loader import load_pipeline_config
from easy_rec.protos import dataset_pb2
from easy_rec.serving.batch_predict import RowConverter, open_source
from easy_rec.serving.options import (
    PredictOptions,
    options_from_arguments,
    parse_typed_input_fields,
    split_names,
)
from easy_rec.store.feature_store import FeatureStore
from easy_rec.tables.chunk import MAX_LOGGED_REJECTS, Chunk
from easy_rec.tables.column_types import FIELD_DTYPES, zero_text
from easy_rec.tables.convert import ColumnRule
from easy_rec.tables.errors import PredictError, RejectedRowError
from easy_rec.tables.header import common_header
from easy_rec.tables.paths import PARQUET, expand_paths, format_of

logger = logging.getLogger(__name__)

_FIELD_TYPES = dataset_pb2.DatasetConfig.FieldType


@dataclass
class LoadSummary:
    """Counts of one load: rows = rows written (a later row with a key already written
    replaces it), keys = distinct keys, bad_rows = rows skipped (--ignore_error)."""

    table: str
    version: str = ""
    replaced: str | None = None
    rows: int = 0
    keys: int = 0
    bad_rows: int = 0
    redis: str = ""
    seconds: float = 0.0


@dataclass
class LoadPlan:
    """What to load: reader options, the columns (key first) with FieldType names, and the
    table's store settings."""

    options: PredictOptions
    table: str
    namespace: str
    key_field: str
    fields: dict[str, str]
    expire_old_secs: int
    num_buckets: int


def plan_load(args: argparse.Namespace) -> LoadPlan:
    """The plan of a command line: columns from --columns, the config's feature inputs or the
    file, types from --input_fields or data_config. PredictError when the key or a column is
    not in the input."""
    config = load_pipeline_config(args.pipeline_config).config if args.pipeline_config else None
    options = options_from_arguments(args, config)
    typed = dict(parse_typed_input_fields(args.input_fields)) if args.input_fields else {}
    config_types = {} if config is None else {
        f.input_name: _FIELD_TYPES.Name(f.input_type) for f in config.data_config.input_fields}
    available = input_columns(options)
    if args.columns:
        wanted = split_names(args.columns)
    elif config is not None:
        used = {n for f in feature_configs(config) for n in f.input_names}
        wanted = [c for c in available if c in used]
    else:
        wanted = available
    columns = list(dict.fromkeys([args.key_field, *wanted]))
    missing = [c for c in columns if c not in available]
    if missing:
        raise PredictError(f"{options.input_path}: no column {', '.join(missing)} (columns: "
                           f"{', '.join(available)})")
    fields = {c: typed.get(c) or config_types.get(c, "STRING") for c in columns}
    return LoadPlan(options, args.table, args.namespace, args.key_field, fields,
                    args.expire_old_secs, args.num_buckets)


def input_columns(options: PredictOptions) -> list[str]:
    """Column names of the input: the Parquet schema, the CSV header, else the configured
    names of header-less CSV."""
    paths = expand_paths(options.input_path)
    if (options.input_format or format_of(paths[0])) == PARQUET:
        return pq.read_schema(paths[0]).names
    if options.with_header:
        return common_header(paths, options.separator)
    if not options.column_names:
        raise PredictError("a CSV without header needs its column names: pass --input_fields "
                           "or --pipeline_config (or use --with_header)")
    return list(options.column_names)


def count_rows(options: PredictOptions) -> int:
    """Rows of the input for the progress bar: Parquet footers, else CSV line breaks."""
    paths = expand_paths(options.input_path)
    if (options.input_format or format_of(paths[0])) == PARQUET:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
    total = 0
    for path in paths:
        with tf.io.gfile.GFile(path, "rb") as f:
            while block := f.read(16 << 20):
                total += block.count(b"\n")
    return max(total - (len(paths) if options.with_header else 0), 0)


class KeyCheck:
    """Drops rows whose key cell is empty: raises for the first (file:line), or with
    ignore_error counts them and logs the first few."""

    def __init__(self, key_field: str, ignore_error: bool):
        self._key = key_field
        self._ignore_error = ignore_error
        self._logged = 0

    def __call__(self, chunk: Chunk) -> tuple[Chunk, int]:
        """(the chunk without rows lacking a key, how many were dropped)."""
        empty = _empty_cells(chunk.table.column(self._key))
        missing = np.flatnonzero(empty)
        if not len(missing):
            return chunk, 0
        if not self._ignore_error:
            raise RejectedRowError(f"{chunk.locate(int(missing[0]))}: column {self._key}: empty "
                                   "key (pass --ignore_error to skip and count such rows)")
        for row in missing[:max(MAX_LOGGED_REJECTS - self._logged, 0)]:
            self._logged += 1
            logger.warning("skipped row at %s: empty key %s", chunk.locate(int(row)), self._key)
        kept = np.flatnonzero(~empty)
        locate = chunk.locate
        return Chunk(chunk.table.take(pa.array(kept)), chunk.rejected,
                     lambda i: locate(int(kept[i]))), len(missing)


def load_features(client, plan: LoadPlan) -> LoadSummary:
    """Loads the plan's input as a new version of its table and makes it current; returns the
    counts. Raises (the previous version staying current) on a bad row without
    ignore_error, when no row could be loaded, or when Redis fails."""
    start = time.perf_counter()
    options = plan.options
    rules = [column_rule(name, kind, options.defaults) for name, kind in plan.fields.items()]
    source = open_source(options, list(plan.fields))
    convert = RowConverter(rules, [], options.ignore_error)
    check_keys = KeyCheck(plan.key_field, options.ignore_error)
    summary = LoadSummary(table=plan.table)
    store = FeatureStore(client, plan.namespace)
    with store.begin_load(plan.table, plan.key_field, plan.fields, num_buckets=plan.num_buckets,
                          expire_old_secs=plan.expire_old_secs) as job, \
            tqdm(total=count_rows(options), unit="rows", desc=f"load {plan.table}",
                 disable=None if options.progress is None else not options.progress) as bar:
        summary.version = job.version
        for chunk in source:
            keyed, no_key = check_keys(chunk)
            rows, rejected = convert(keyed)
            summary.bad_rows += chunk.rejected + no_key + rejected
            for begin in range(0, rows.num_rows, options.batch_size):
                job.write_columns({k: v[begin:begin + options.batch_size]
                                   for k, v in rows.inputs.items()})
            summary.rows += rows.num_rows
            bar.update(chunk.table.num_rows + chunk.rejected)
        if not summary.rows:
            raise PredictError(f"no row of {options.input_path} could be loaded (bad rows: "
                               f"{summary.bad_rows}); the current version stays")
        summary.replaced = job.commit()
    summary.keys = job.keys_written
    summary.seconds = round(time.perf_counter() - start, 3)
    logger.info("table %s: version %s current, %d rows (%d keys, %d bad rows) in %.1f s",
                plan.table, summary.version, summary.rows, summary.keys, summary.bad_rows,
                summary.seconds)
    return summary


def column_rule(name: str, type_name: str, defaults: dict[str, str]) -> ColumnRule:
    """How a column of FieldType `type_name` is converted: its dtype, and empty cells read as
    its default_val (else the dtype's zero)."""
    dtype = FIELD_DTYPES[_FIELD_TYPES.Value(type_name)]
    return ColumnRule(name, dtype, defaults.get(name, zero_text(dtype)))


def _empty_cells(column: pa.ChunkedArray) -> np.ndarray:
    """Mask of null cells, and of empty ones in a text column."""
    array = column.combine_chunks()
    if pa.types.is_binary(array.type) or pa.types.is_string(array.type):
        empty = pc.equal(pc.binary_length(array), 0)
    else:
        empty = pc.is_null(array)
    return pc.fill_null(empty, True).to_numpy(zero_copy_only=False).astype(bool)
