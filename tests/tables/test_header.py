"""easy_rec.tables.header: the header line training input and batch prediction both read."""
from __future__ import annotations

import pytest
import tensorflow as tf
from google.protobuf import text_format

from easy_rec.input.csv_input import CSVInput
from easy_rec.protos import dataset_pb2
from easy_rec.tables.csv_source import CsvSource
from easy_rec.tables.errors import InputError
from easy_rec.tables.header import common_header, read_header

DATA_CONFIG = text_format.Parse("""
with_header: true
separator: "\\t"
input_fields { input_name: "id" input_type: INT32 }
""", dataset_pb2.DatasetConfig())


def test_header_is_the_first_line_split(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"id\tname\tscore\r\n1\tx\t0.5\r\n")
    assert read_header(str(path), "\t") == ["id", "name", "score"]
    path.write_bytes(b"only")
    assert read_header(str(path), "\t") == ["only"]


def test_bytes_that_are_not_utf8_are_replaced(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,n\xffme\n")
    assert read_header(str(path), ",") == ["id", "n\ufffdme"]


def test_header_is_read_through_gfile():
    path = "ram://tables_test_header/t.csv"
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(b"a;b\n1;2\n")
    try:
        assert read_header(path, ";") == ["a", "b"]
    finally:
        tf.io.gfile.remove(path)


def test_common_header(tmp_path):
    paths = [tmp_path / name for name in ("a.csv", "b.csv", "c.csv")]
    for path, header in zip(paths, ("id\tname", "id\tname", "id\tscore")):
        path.write_text(f"{header}\n1\tx\n")
    names = [str(p) for p in paths]
    assert common_header(names[:2], "\t") == ["id", "name"]
    message = rf"{names[2]}: header differs from that of {names[0]}"
    with pytest.raises(InputError, match=message):
        common_header(names, "\t")
    with pytest.raises(InputError, match=message):
        CSVInput(DATA_CONFIG, ",".join(names))
    with pytest.raises(InputError, match=message):
        CsvSource(names, ["id"], "\t", with_header=True)
