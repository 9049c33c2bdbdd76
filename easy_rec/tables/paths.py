"""Which files a table path names, and in which format they are.

Paths go through `tf.io.gfile`, so every file system TensorFlow reads (local, gs://, hdfs://,
...) works the same for training input and batch prediction.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.tables.errors import InputError

CSV, PARQUET = "csv", "parquet"
PARQUET_EXTENSIONS = (".parquet", ".pq", ".parq")


def expand_paths(spec: str) -> list[str]:
    """Files named by a comma separated list of paths and glob patterns, in a stable order
    (each pattern's matches sorted; directories among them are skipped).

    Raises InputError when a pattern matches nothing or the list names no file.
    """
    files: list[str] = []
    for pattern in (p.strip() for p in spec.split(",")):
        if not pattern:
            continue
        matched = sorted(tf.io.gfile.glob(pattern))
        if not matched:
            raise InputError(f"input path {pattern!r} matches no file")
        files.extend(m for m in matched if not tf.io.gfile.isdir(m))
    if not files:
        raise InputError(f"input path {spec!r} names no file")
    return files


def format_of(path: str) -> str:
    """'parquet' for .parquet / .pq / .parq paths, else 'csv'."""
    return PARQUET if path.lower().endswith(PARQUET_EXTENSIONS) else CSV
