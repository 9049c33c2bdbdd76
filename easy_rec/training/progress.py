"""How far training is: the total number of steps, when it can be known, and the progress line
logged every log_step_count_steps steps (steps done / total, examples/s, ETA).

The total is train_config.num_steps when set; otherwise, with data_config.num_epochs, the
number of batches in num_epochs passes over the training files, when their row count is cheap
to know (the footers of Parquet files; the lines of uncompressed CSV files up to COUNT_LIMIT
bytes in all). With neither (a Kafka stream, TFRecord files, big or compressed CSV files, no
num_epochs) the total and the ETA read "?".
"""
from __future__ import annotations

import datetime
import math
import os
from collections.abc import Callable

from easy_rec.input.reader import PARQUET_INPUTS
from easy_rec.protos import dataset_pb2, train_pb2

InputType = dataset_pb2.DatasetConfig
CSV_TYPES = (InputType.CSVInput, InputType.CSVInputV2, InputType.CSVInputEx)
#: CSV inputs larger than this (bytes, all files) are not counted
COUNT_LIMIT = 1 << 30
_CHUNK = 1 << 22


def count_rows(files: list[str], input_type: int, with_header: bool = False) -> int | None:
    """Rows in `files` of data_config input type `input_type` when cheap to know, else None."""
    if input_type in PARQUET_INPUTS:
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    if input_type not in CSV_TYPES or not files:
        return None
    local = all(os.path.isfile(f) for f in files)
    if not local or sum(os.path.getsize(f) for f in files) > COUNT_LIMIT:
        return None
    if any(_is_gzip(f) for f in files):
        return None
    return sum(_count_lines(f) - int(with_header) for f in files)


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _count_lines(path: str) -> int:
    """Lines of a text file (a last line without a newline counts)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + int(last != b"\n")


def total_steps(train_config: train_pb2.TrainConfig, data_config: dataset_pb2.DatasetConfig,
                rows: Callable[[], int | None]) -> int | None:
    """num_steps when set, else the steps of num_epochs passes over the training rows (`rows()`,
    asked only then); None when either is unknown."""
    if train_config.num_steps:
        return int(train_config.num_steps)
    if not data_config.num_epochs:
        return None
    rows = rows()
    if rows is None:
        return None
    examples = rows * int(data_config.num_epochs)
    batch = max(int(data_config.batch_size), 1)
    return examples // batch if data_config.drop_remainder else math.ceil(examples / batch)


def progress_line(step: int, total: int | None, steps_per_sec: float,
                  examples_per_sec: float) -> str:
    """`step 200/641 (31.2%), 12.5 steps/s, 12800 examples/s, ETA 0:00:35` (total and ETA
    `?` when the total is unknown)."""
    if total:
        done = f"step {step}/{total} ({100.0 * step / total:.1f}%)"
        left = max(total - step, 0) / steps_per_sec if steps_per_sec > 0 else None
        eta = "?" if left is None else str(datetime.timedelta(seconds=round(left)))
    else:
        done, eta = f"step {step}/?", "?"
    return f"{done}, {steps_per_sec:.3g} steps/s, {examples_per_sec:.0f} examples/s, ETA {eta}"
