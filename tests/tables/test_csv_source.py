"""easy_rec.tables.csv_source: batch prediction's CSV reader, on local and gfile paths."""
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
    expected = [{"score": r.split(",")[2], "id": r.split(",")[0]} for r in ROWS]
    assert tables[str(local)] == tables[remote] == expected
