"""Header lines of delimited text files: the column names on their first line."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.tables.errors import InputError


def read_header(path: str, separator: str) -> list[str]:
    """Column names from the first line of a delimited text file (read through tf.io.gfile;
    bytes that are not UTF-8 become U+FFFD)."""
    with tf.io.gfile.GFile(path, "rb") as f:
        line = f.readline()
    return line.decode("utf-8", errors="replace").rstrip("\r\n").split(separator)


def common_header(paths: list[str], separator: str) -> list[str]:
    """The header of `paths[0]`; raises InputError when another file's header differs."""
    header = read_header(paths[0], separator)
    for path in paths[1:]:
        if read_header(path, separator) != header:
            raise InputError(f"{path}: header differs from that of {paths[0]}")
    return header
