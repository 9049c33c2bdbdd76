"""Writes a large Criteo-like table whose columns follow the real Criteo sample.

Schema (Kaggle Display Advertising Challenge): label, I1..I13 (integers, may be empty),
C1..C26 (8-digit hex hashes, may be empty); tab separated, no header. Every column is modelled
on /work/shared/data/criteo-sample/train.txt (7,200 real rows):

- each generated row starts from a real row drawn at random (its label is kept, so the label
  rate is the sample's), and each feature cell is that row's cell with probability
  `row_copy_prob`, else an independent draw from the column's own distribution; this keeps
  every column's marginal distribution and part of the dependence between columns and label;
- an independent draw is empty with the column's empty rate in the sample; otherwise it is a
  resampled observed value, or, with the column's Good-Turing unseen-value mass (share of values
  seen once), a new value: for integer columns a draw from a log-normal fitted to the observed
  values, for categorical columns a new hash from a pool sized so that each new value occurs
  about `tail_repeat` times in the whole file (a long tail of rare values).

Seeded and vectorised (numpy, pyarrow); rows are generated and written in chunks, so memory
does not grow with --rows. `--parquet` also writes the same rows as Parquet (row groups of
65,536 rows; empty cells are nulls).

Usage: python scripts/generate_criteo_like.py --output /tmp/criteo_like.txt [--rows 2000000]
       [--seed 0] [--parquet]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from tqdm import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SAMPLE = os.path.join(os.path.dirname(REPO), "shared", "data", "criteo-sample",
                              "train.txt")
LABEL = "label"
INT_COLUMNS = [f"I{i}" for i in range(1, 14)]
CAT_COLUMNS = [f"C{i}" for i in range(1, 27)]
COLUMNS = [LABEL, *INT_COLUMNS, *CAT_COLUMNS]
SCHEMA = pa.schema([(LABEL, pa.int32())] + [(c, pa.int64()) for c in INT_COLUMNS]
                   + [(c, pa.string()) for c in CAT_COLUMNS])
ROW_GROUP_ROWS = 65_536
CHUNK_ROWS = 4 * ROW_GROUP_ROWS
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

logger = logging.getLogger("generate_criteo_like")


@dataclass
class ColumnModel:
    """One feature column of the sample.

    `cells[r]` is real row r's value (int64, or the hash as uint32 for categorical columns)
    and `empty[r]` whether it is empty; `observed` holds the non-empty values; `new_rate` is
    the share of non-empty values seen exactly once (Good-Turing estimate of the chance that a
    value is new); `log_mu` / `log_sigma` fit log1p of the (non-negative part of the) integers.
    """

    name: str
    categorical: bool
    cells: np.ndarray
    empty: np.ndarray
    observed: np.ndarray
    empty_rate: float
    new_rate: float
    log_mu: float = 0.0
    log_sigma: float = 0.0


@dataclass
class SampleModel:
    """The real sample: labels per row and a model per feature column."""

    labels: np.ndarray
    columns: list[ColumnModel]


def read_sample(path: str) -> dict[str, np.ndarray]:
    """Every column of a Criteo text file as an array of strings ('' when empty)."""
    table = pa_csv.read_csv(
        path, read_options=pa_csv.ReadOptions(column_names=COLUMNS),
        parse_options=pa_csv.ParseOptions(delimiter="\t", quote_char=False),
        convert_options=pa_csv.ConvertOptions(column_types={c: pa.string() for c in COLUMNS}))
    return {name: np.asarray(table.column(name).to_pylist(), dtype=object) for name in COLUMNS}


def fit_column(name: str, text: np.ndarray) -> ColumnModel:
    """Model of one feature column from its text cells."""
    categorical = name.startswith("C")
    empty = text == ""
    cells = np.zeros(len(text), dtype=np.uint32 if categorical else np.int64)
    cells[~empty] = [int(v, 16) if categorical else int(v) for v in text[~empty]]
    observed = cells[~empty]
    _, counts = np.unique(observed, return_counts=True)
    new_rate = float(np.sum(counts == 1) / max(len(observed), 1))
    model = ColumnModel(name, categorical, cells, empty, observed, float(empty.mean()), new_rate)
    if not categorical and len(observed):
        logs = np.log1p(np.maximum(observed, 0).astype(np.float64))
        model.log_mu, model.log_sigma = float(logs.mean()), float(logs.std())
    return model


def fit_sample(path: str = DEFAULT_SAMPLE) -> SampleModel:
    """Models every column of the real sample at `path`."""
    text = read_sample(path)
    labels = np.asarray([int(v) for v in text[LABEL]], dtype=np.int32)
    return SampleModel(labels, [fit_column(name, text[name]) for name in COLUMNS[1:]])


def hex_strings(codes: np.ndarray, valid: np.ndarray) -> pa.Array:
    """uint32 codes as 8-digit lower-case hex strings; null where not `valid`."""
    shifts = np.arange(28, -4, -4, dtype=np.uint32)
    digits = _HEX_DIGITS[(codes[:, None] >> shifts) & 0xF]
    offsets = np.arange(len(codes) + 1, dtype=np.int32) * 8
    text = pa.StringArray.from_buffers(len(codes), pa.py_buffer(offsets),
                                       pa.py_buffer(np.ascontiguousarray(digits).tobytes()))
    return pc.if_else(pa.array(valid), text, pa.scalar(None, pa.string()))


def mix_hash(ids: np.ndarray, salt: int) -> np.ndarray:
    """A 32-bit hash of integer ids (splitmix64 finaliser), different per `salt`."""
    with np.errstate(over="ignore"):
        x = ids.astype(np.uint64) + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x & np.uint64(0xFFFFFFFF)).astype(np.uint32)


class CriteoLikeGenerator:
    """Draws chunks of Criteo-like rows from a SampleModel (see the module docstring)."""

    def __init__(self, model: SampleModel, total_rows: int, seed: int = 0,
                 row_copy_prob: float = 0.5, tail_repeat: float = 2.0):
        self.model = model
        self.rng = np.random.default_rng(seed)
        self.row_copy_prob = row_copy_prob
        self._tail_pools = {
            c.name: max(1, int(total_rows * (1 - row_copy_prob) * (1 - c.empty_rate)
                               * c.new_rate / tail_repeat))
            for c in model.columns}

    def chunk(self, rows: int) -> pa.Table:
        """`rows` new rows: label int32, I* int64, C* string; empty cells are nulls."""
        template = self.rng.integers(0, len(self.model.labels), size=rows)
        arrays = [pa.array(self.model.labels[template])]
        for salt, column in enumerate(self.model.columns, start=1):
            values, valid = self._column(column, template, salt)
            arrays.append(hex_strings(values, valid) if column.categorical
                          else pa.array(values, mask=~valid))
        return pa.Table.from_arrays(arrays, schema=SCHEMA)

    def _column(self, column: ColumnModel, template: np.ndarray,
                salt: int) -> tuple[np.ndarray, np.ndarray]:
        rows = len(template)
        values = column.cells[template].copy()
        empty = column.empty[template].copy()
        fresh = self.rng.random(rows) >= self.row_copy_prob
        empty[fresh] = self.rng.random(int(fresh.sum())) < column.empty_rate
        filled = fresh & ~empty
        count = int(filled.sum())
        if count and len(column.observed):
            values[filled] = column.observed[self.rng.integers(0, len(column.observed), count)]
            novel = np.flatnonzero(filled)[self.rng.random(count) < column.new_rate]
            values[novel] = self._new_values(column, len(novel), salt)
        return values, ~empty

    def _new_values(self, column: ColumnModel, count: int, salt: int) -> np.ndarray:
        if column.categorical:
            ids = self.rng.integers(0, self._tail_pools[column.name], size=count)
            return mix_hash(ids, salt)
        draws = np.expm1(self.rng.normal(column.log_mu, column.log_sigma, size=count))
        return np.floor(np.maximum(draws, 0.0)).astype(np.int64)


def write_criteo_like(output: str, rows: int = 2_000_000, seed: int = 0,
                      parquet_path: str | None = None, sample: str = DEFAULT_SAMPLE,
                      row_copy_prob: float = 0.5, chunk_rows: int = CHUNK_ROWS,
                      progress: bool | None = None) -> dict:
    """Writes `rows` rows to `output` (and `parquet_path`); returns a summary dict."""
    start = time.perf_counter()
    generator = CriteoLikeGenerator(fit_sample(sample), rows, seed, row_copy_prob)
    options = pa_csv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    parquet = pq.ParquetWriter(parquet_path, SCHEMA) if parquet_path else None
    try:
        with pa_csv.CSVWriter(output, SCHEMA, write_options=options) as csv_writer, \
                tqdm(total=rows, unit="rows", desc="generate",
                     disable=None if progress is None else not progress) as bar:
            for first in range(0, rows, chunk_rows):
                table = generator.chunk(min(chunk_rows, rows - first))
                csv_writer.write_table(table)
                if parquet is not None:
                    parquet.write_table(table, row_group_size=ROW_GROUP_ROWS)
                bar.update(table.num_rows)
    finally:
        if parquet is not None:
            parquet.close()
    return {"rows": rows, "output": output, "parquet": parquet_path, "seed": seed,
            "seconds": round(time.perf_counter() - start, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="/tmp/criteo_like.txt", help="tab separated output")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parquet", action="store_true",
                        help="also write the rows to <output without extension>.parquet")
    parser.add_argument("--sample", default=DEFAULT_SAMPLE, help="real Criteo rows to imitate")
    parser.add_argument("--row_copy_prob", type=float, default=0.5,
                        help="chance that a cell is copied from the row's real template row")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parquet_path = os.path.splitext(args.output)[0] + ".parquet" if args.parquet else None
    summary = write_criteo_like(args.output, args.rows, args.seed, parquet_path, args.sample,
                                args.row_copy_prob)
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
