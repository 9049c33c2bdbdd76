"""Cells that are not UTF-8 in batch prediction: string inputs get the bytes training hashes,
reserved columns are written back byte-exact (CSV) or as binary (Parquet), and numeric cells
are malformed rows (file:line when strict, skipped and counted with ignore_error)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from easy_rec.serving.batch_predict import batch_predict
from easy_rec.serving.options import PredictOptions
from easy_rec.tables.errors import RejectedRowError

ROWS = [(b"caf\xe9", 1, 0.5), (b"\xff\xfe\x00x", -2, 1.25), ("naïve".encode(), 3, 0.0)]


def write_csv(path, rows, extra: bytes = b"") -> None:
    lines = [b"s,i,f"] + [b"%s,%d,%r" % (s, i, f) for s, i, f in rows]
    path.write_bytes(b"\n".join(lines) + b"\n" + extra)


def options(model, source, output, **overrides) -> PredictOptions:
    fields = dict(saved_model_dir=model.path, input_path=str(source), output_path=str(output),
                  reserved_cols=["s"], with_header=True, progress=False)
    return PredictOptions(**{**fields, **overrides})


@pytest.mark.parametrize("output_format", ["csv", "parquet"])
def test_string_cells_are_scored_and_kept_as_bytes(tiny_model, tmp_path, output_format):
    source, out = tmp_path / "in.csv", tmp_path / f"out.{output_format}"
    write_csv(source, ROWS)
    batch_predict(options(tiny_model, source, out))
    want = tiny_model.scores(*zip(*ROWS))
    if output_format == "csv":
        lines = out.read_bytes().split(b"\n")
        assert lines[0] == b"s,y" and lines[-1] == b""
        assert [line.split(b",")[0] for line in lines[1:-1]] == [r[0] for r in ROWS]
        got = [float(line.split(b",")[1]) for line in lines[1:-1]]
    else:
        table = pq.read_table(out)
        assert table.schema.field("s").type == pa.binary()
        assert table.column("s").to_pylist() == [r[0] for r in ROWS]
        got = table.column("y").to_pylist()
    np.testing.assert_array_equal(got, want)


def test_parquet_binary_input_is_scored_as_bytes(tiny_model, tmp_path):
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    s, i, f = zip(*ROWS)
    pq.write_table(pa.table({"s": pa.array(s, pa.binary()), "i": pa.array(i, pa.int32()),
                             "f": pa.array(f, pa.float32())}), source)
    batch_predict(options(tiny_model, source, out))
    table = pq.read_table(out)
    assert table.column("s").to_pylist() == list(s)
    np.testing.assert_array_equal(table.column("y").to_pylist(), tiny_model.scores(s, i, f))


@pytest.mark.parametrize("bad_line", [b"x,1\xff,2", b"x,3,\xe9", b"\xff,\xfe,\xfd,\xfc"])
def test_numeric_cell_that_is_not_utf8_is_a_malformed_row(tiny_model, tmp_path, bad_line):
    source = tmp_path / "in.csv"
    write_csv(source, ROWS, extra=bad_line + b"\n")
    with pytest.raises(RejectedRowError, match=f"^{source}:5: "):
        batch_predict(options(tiny_model, source, tmp_path / "strict.csv"))
    assert not (tmp_path / "strict.csv").exists()
    summary = batch_predict(options(tiny_model, source, tmp_path / "out.csv", ignore_error=True))
    assert (summary.rows_read, summary.rows_written, summary.rows_rejected) == (4, 3, 1)
