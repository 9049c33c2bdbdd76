"""Which files a table path names, in which format they are, and whether an output can be
written.

Input paths go through `tf.io.gfile`, so every file system TensorFlow reads (local, gs://,
hdfs://, ...) works the same for training input and batch prediction; outputs are local files.
"""
from __future__ import annotations

import os

import tensorflow as tf

from easy_rec.tables.errors import InputError
from easy_rec.utils.writable import unwritable_reason

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


def check_output_path(path: str) -> None:
    """Raises InputError naming `path` unless a file can be written there, so that a bad output
    path stops a job before its work: the folder is created if missing, then a probe file is
    created in it and removed (this finds read-only folders and file systems whatever the
    permission bits say, and parents that are files)."""
    target = os.path.abspath(path)
    if os.path.isdir(target):
        raise InputError(f"output path {path}: is a folder")
    directory = os.path.dirname(target)
    existing = directory
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise InputError(f"output path {path}: {existing} is a file, not a folder")
    reason = unwritable_reason(directory, probe_prefix=f".{os.path.basename(target)}.")
    if reason is not None:
        raise InputError(f"output path {path}: cannot write in {existing}: {reason}")
