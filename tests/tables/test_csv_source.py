"""easy_rec.tables.csv_source: batch prediction's CSV reader, on local and gfile paths; cells
as bytes, carriage returns removed as the training reader does."""
from __future__ import annotations

import pytest
import tensorflow as tf

from easy_rec.tables.csv_source import CsvSource

ROWS = [f"{i},name{i},{i / 4}" for i in range(1, 41)]


@pytest.mark.parametrize("block_bytes", [16, 1 << 20])
def test_gfile_paths_read_like_local_ones(tmp_path, block_bytes):
    text = ("id,name,score\n" + "\n".join(ROWS) + "\n").encode()
    local = tmp_path / "t.csv"
    local.write_bytes(text)
    remote = "ram://tables_test_csv_source/t.csv"
    with tf.io.gfile.GFile(remote, "wb") as f:
        f.write(text)
    try:
        tables = {}
        for path in (str(local), remote):
            source = CsvSource([path], ["score", "id"], ",", with_header=True, chunk_rows=7,
                               block_bytes=block_bytes)
            chunks = list(source)
            tables[path] = [row for c in chunks for row in c.table.to_pylist()]
            assert chunks[0].locate(0) == f"{path}:2"
    finally:
        tf.io.gfile.remove(remote)
    expected = [{"score": r.split(",")[2].encode(), "id": r.split(",")[0].encode()} for r in ROWS]
    assert tables[str(local)] == tables[remote] == expected


@pytest.mark.parametrize("odd_line", [b"7,a\rb\r,c", b"7,\xff\xfe,c", b"7,ok,c"])
def test_cells_are_bytes_and_carriage_returns_are_removed(tmp_path, odd_line):
    """Carriage returns inside a line are removed (as by the training reader, TextLineDataset);
    bytes that are not UTF-8 (anywhere in a block, here also in a row of the wrong length) read
    like any other."""
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,name,tag\n1,x,y\r\n\r\n2,\xff,z,extra\n" + odd_line + b"\n\n3,,w\n")
    source = CsvSource([str(path)], ["name", "id"], ",", with_header=True, ignore_error=True)
    chunks = list(source)
    rows = [row for c in chunks for row in c.table.to_pylist()]
    name = odd_line.split(b",")[1].replace(b"\r", b"")
    assert rows == [{"name": b"x", "id": b"1"}, {"name": name, "id": b"7"},
                    {"name": b"", "id": b"3"}]
    assert sum(c.rejected for c in chunks) == 1
    assert [c.locate(i) for c in chunks for i in range(c.table.num_rows)] == \
        [f"{path}:{n}" for n in (2, 5, 7)]
