"""Batch prediction (`python -m easy_rec.predict`): CSV / Parquet in and out, chunking,
rejected rows, atomic output and the command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from conftest import REPO, SAMPLES, sample_rows
from google.protobuf import text_format
from pipeline_helpers import exporting_sample_config, train

from easy_rec.export.exporter import list_exports
from easy_rec.input.csv_input import CSVInput
from easy_rec.protos import pipeline_pb2
from easy_rec.serving.batch_predict import RowConverter, batch_predict, output_array
from easy_rec.serving.options import (
    PredictOptions,
    apply_data_config,
    options_from_arguments,
    parse_input_fields,
)
from easy_rec.tables.convert import ColumnRule, convert_column
from easy_rec.tables.csv_source import CsvSource
from easy_rec.tables.errors import PredictError, RejectedRowError
from easy_rec.tables.parquet_source import ParquetSource
from easy_rec.tables.sinks import open_sink

CONFIG = os.path.join(SAMPLES, "deepfm_on_movielens.config")
NUM_ROWS = 500
RESERVED = ["user_id", "title", "label"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A DeepFM trained for 5 steps on a MovieLens slice and exported; its config; test rows."""
    root = tmp_path_factory.mktemp("predict")
    train_path, test_path = root / "train.csv", root / "test.csv"
    train_path.write_text("".join(sample_rows("movielens_train.csv", 3000)), encoding="utf-8")
    test_path.write_text("".join(sample_rows("movielens_test.csv", NUM_ROWS)), encoding="utf-8")
    config = exporting_sample_config("deepfm", str(root / "model"), str(train_path), str(test_path),
                           **{"train_config.num_steps": 5})
    train(config)
    export_root = root / "model" / "export" / "final"
    export_dir = str(export_root / list_exports(str(export_root))[0])
    return {"export_dir": export_dir, "config": config, "test_csv": str(test_path)}


def reference(model, csv_path: str) -> dict:
    """Typed rows of a CSV (parsed by the training reader) and the signature's outputs on them."""
    reader = CSVInput(model["config"].data_config, csv_path)
    batch = next(iter(reader.make_dataset(10 * NUM_ROWS, num_epochs=1)))
    fn = tf.saved_model.load(model["export_dir"]).signatures["serving_default"]
    inputs = {name: batch[name] for name in fn.structured_input_signature[1]}
    outputs = {k: v.numpy() for k, v in fn(**inputs).items()}
    return {"columns": {k: v.numpy() for k, v in batch.items()}, "outputs": outputs}


@pytest.fixture(scope="module")
def expected(model):
    """The test rows and the signature's outputs on them (reference)."""
    return reference(model, model["test_csv"])


def options(model, output_path, **overrides) -> PredictOptions:
    """Options for the header-less test CSV, column names etc. from the sample config."""
    fields = dict(saved_model_dir=model["export_dir"], input_path=model["test_csv"],
                  output_path=str(output_path), reserved_cols=list(RESERVED), progress=False)
    fields.update(overrides)
    opts = PredictOptions(**fields)
    apply_data_config(opts, model["config"].data_config, separator_given="separator" in overrides)
    return opts


def read_csv_output(path, separator="\t") -> pa.Table:
    return pa_csv.read_csv(path, parse_options=pa_csv.ParseOptions(delimiter=separator,
                                                                   quote_char=False))


def assert_predictions(table: pa.Table, expected, rows=None) -> None:
    for name in ("probs", "logits"):
        want = expected["outputs"][name] if rows is None else expected["outputs"][name][rows]
        got = np.asarray(table.column(name).to_pylist(), dtype=np.float32)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_headerless_csv_with_pipeline_config(model, expected, tmp_path):
    out = tmp_path / "pred.csv"
    summary = batch_predict(options(model, out))
    assert summary.as_dict() == {"rows_read": NUM_ROWS, "rows_written": NUM_ROWS,
                                 "rows_rejected": 0, "output_path": str(out),
                                 "seconds": summary.seconds}
    table = read_csv_output(out)
    assert table.column_names == RESERVED + ["probs", "logits"]
    assert_predictions(table, expected)
    rows = [line.rstrip("\n").split("\t") for line in sample_rows("movielens_test.csv", NUM_ROWS)]
    text = out.read_text(encoding="utf-8").splitlines()[1:]
    assert [line.split("\t")[:3] for line in text] == [[r[1], r[8], r[0]] for r in rows]


def test_string_cells_that_are_not_utf8_are_scored_as_training_reads_them(model, tmp_path):
    """zip_id (hashed) and title (words) cells with bytes that are not UTF-8 (and carriage
    returns): the outputs are those of the signature on the training reader's parsing; title is
    copied byte-exact (without the carriage returns, which no reader keeps)."""
    rows = [line.encode().rstrip(b"\n").split(b"\t") for line in sample_rows("movielens_test.csv", 60)]
    for n, row in enumerate(rows[::2]):
        row[7] = b"\xff\xfe%d" % n
        row[8] = b"caf\xe9 \x80\r " + row[8]
    path, out = tmp_path / "bytes.csv", tmp_path / "pred.csv"
    path.write_bytes(b"".join(b"\t".join(row) + b"\n" for row in rows))
    want = reference(model, str(path))
    summary = batch_predict(options(model, out, input_path=str(path)))
    assert summary.rows_written == len(rows)
    written = [line.split(b"\t") for line in out.read_bytes().split(b"\n")[1:-1]]
    assert [cells[1] for cells in written] == [row[8].replace(b"\r", b"") for row in rows]
    np.testing.assert_allclose(np.array([float(cells[3]) for cells in written], np.float32),
                               want["outputs"]["probs"], rtol=1e-5, atol=1e-6)


def test_csv_with_header_needs_no_config(model, expected, tmp_path):
    header = [f.input_name for f in model["config"].data_config.input_fields]
    source = tmp_path / "with_header.tsv"
    source.write_text("\t".join(header) + "\n" + "".join(sample_rows("movielens_test.csv", NUM_ROWS)))
    out = tmp_path / "pred.csv"
    opts = PredictOptions(model["export_dir"], str(source), str(out), reserved_cols=["movie_id"],
                          output_cols=["probs"], separator="\t", with_header=True, progress=False)
    batch_predict(opts)
    table = read_csv_output(out)
    assert table.column_names == ["movie_id", "probs"]
    assert table.column("movie_id").to_pylist() == expected["columns"]["movie_id"].tolist()
    np.testing.assert_allclose(np.asarray(table.column("probs").to_pylist(), np.float32),
                               expected["outputs"]["probs"], rtol=1e-5, atol=1e-6)


def write_parquet(expected, path, row_group_size=64) -> pa.Table:
    """The typed test rows as a Parquet file (text columns as strings)."""
    columns = {k: v for k, v in expected["columns"].items() if not k.startswith("__")}
    table = pa.table({k: pa.array([b.decode() for b in v]) if v.dtype == object else pa.array(v)
                      for k, v in columns.items()})
    pq.write_table(table, path, row_group_size=row_group_size)
    return table


def test_parquet_in_and_out(model, expected, tmp_path):
    source = tmp_path / "test.parquet"
    table_in = write_parquet(expected, source)
    out = tmp_path / "pred.parquet"
    opts = PredictOptions(model["export_dir"], str(source), str(out), reserved_cols=RESERVED,
                          chunk_rows=100, progress=False)
    summary = batch_predict(opts)
    assert summary.rows_written == NUM_ROWS
    table = pq.read_table(out)
    assert table.column_names == RESERVED + ["probs", "logits"]
    assert table.schema.field("user_id").type == pa.int64()
    for name in RESERVED:
        assert table.column(name).to_pylist() == table_in.column(name).to_pylist()
    assert_predictions(table, expected)


def test_parquet_nulls_take_defaults(model, expected, tmp_path):
    table = write_parquet(expected, tmp_path / "typed.parquet")
    age = table.schema.get_field_index("age")
    nulls = table.set_column(age, "age", pa.nulls(NUM_ROWS, pa.int32()))
    threes = table.set_column(age, "age", pa.array([3] * NUM_ROWS, pa.int32()))
    pq.write_table(nulls, tmp_path / "nulls.parquet")
    pq.write_table(threes, tmp_path / "threes.parquet")
    for name in ("nulls", "threes"):
        batch_predict(PredictOptions(model["export_dir"], str(tmp_path / f"{name}.parquet"),
                                     str(tmp_path / f"{name}_pred.parquet"), defaults={"age": "3"},
                                     progress=False))
    assert pq.read_table(tmp_path / "nulls_pred.parquet").equals(
        pq.read_table(tmp_path / "threes_pred.parquet"))


def test_chunking_does_not_change_the_output(model, tmp_path):
    one = tmp_path / "one.csv"
    many = tmp_path / "many.csv"
    batch_predict(options(model, one))
    batch_predict(options(model, many, chunk_rows=7, block_bytes=700))
    assert one.read_bytes() == many.read_bytes()


def test_csv_reader_yields_bounded_chunks(model):
    names = [f.input_name for f in model["config"].data_config.input_fields]
    source = CsvSource([model["test_csv"]], ["user_id", "age"], "\t", names, chunk_rows=40,
                       block_bytes=1500)
    chunks = list(source)
    assert len(chunks) > NUM_ROWS // 40
    assert all(0 < c.table.num_rows <= 40 for c in chunks)
    assert all(c.table.column_names == ["user_id", "age"] for c in chunks)
    assert sum(c.table.num_rows for c in chunks) == NUM_ROWS
    lines = [c.locate(i) for c in chunks for i in range(c.table.num_rows)]
    assert lines == [f"{model['test_csv']}:{n}" for n in range(1, NUM_ROWS + 1)]


def test_parquet_reader_yields_bounded_chunks(expected, tmp_path):
    path = tmp_path / "t.parquet"
    write_parquet(expected, path, row_group_size=128)
    chunks = list(ParquetSource([str(path)], ["age", "user_id"], chunk_rows=30))
    assert all(0 < c.table.num_rows <= 30 for c in chunks)
    assert sum(c.table.num_rows for c in chunks) == NUM_ROWS
    assert chunks[1].locate(0) == f"{path}: row 31"


def corrupt(tmp_path, bad_cell=True, short_row=True, blank_line_at=0) -> tuple[str, int, int]:
    """Test CSV with a bad age cell in row 300 and / or a short row 350, optionally a blank line
    inserted at line `blank_line_at`; returns the path and the two rows' line numbers."""
    lines = sample_rows("movielens_test.csv", NUM_ROWS)
    if bad_cell:
        cells = lines[299].split("\t")
        cells[5] = "abc"
        lines[299] = "\t".join(cells)
    if short_row:
        lines[349] = "\t".join(lines[349].split("\t")[:-1]) + "\n"
    if blank_line_at:
        lines.insert(blank_line_at - 1, "\n")
    path = tmp_path / "bad.csv"
    path.write_text("".join(lines), encoding="utf-8")
    shift = 1 if blank_line_at else 0
    return str(path), 300 + shift, 350 + shift


@pytest.mark.parametrize("blank_line_at", [0, 10])
def test_rejected_cell_fails_and_leaves_no_file(model, tmp_path, blank_line_at):
    path, bad_cell_line, _ = corrupt(tmp_path, blank_line_at=blank_line_at)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(RejectedRowError) as error:
        batch_predict(options(model, out_dir / "pred.csv", input_path=path, chunk_rows=50,
                              block_bytes=2000, batch_size=16))
    assert f"{path}:{bad_cell_line}: column age: value 'abc' is not a valid int32" in str(error.value)
    assert os.listdir(out_dir) == []


def test_crash_mid_run_removes_the_partial_output(model, tmp_path, monkeypatch):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    seen: list[list[tuple[str, int]]] = []
    convert = RowConverter.__call__

    def crash_on_fourth_chunk(self, chunk):
        seen.append([(p.name, p.stat().st_size) for p in out_dir.iterdir()])
        if len(seen) == 4:
            raise RuntimeError("injected crash")
        return convert(self, chunk)

    monkeypatch.setattr(RowConverter, "__call__", crash_on_fourth_chunk)
    with pytest.raises(RuntimeError, match="injected crash"):
        batch_predict(options(model, out_dir / "pred.csv", chunk_rows=50, batch_size=16))
    [(temp_name, size)] = seen[-1]  # by then the temp file held 144 predicted rows
    assert temp_name.startswith(".pred.csv.") and temp_name.endswith(".tmp") and size > 3000
    assert os.listdir(out_dir) == []


@pytest.mark.parametrize("blank_line_at", [0, 3])
def test_wrong_column_count_names_the_line(model, tmp_path, blank_line_at):
    path, _, short_line = corrupt(tmp_path, bad_cell=False, blank_line_at=blank_line_at)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(RejectedRowError, match=f"{path}:{short_line}: expected 11 columns, found 10"):
        batch_predict(options(model, out_dir / "pred.parquet", input_path=path, block_bytes=4000))
    assert os.listdir(out_dir) == []


def test_ignore_error_skips_and_counts(model, expected, tmp_path):
    path, _, _ = corrupt(tmp_path, blank_line_at=200)
    out = tmp_path / "pred.csv"
    summary = batch_predict(options(model, out, input_path=path, ignore_error=True, chunk_rows=64))
    assert (summary.rows_read, summary.rows_written, summary.rows_rejected) == \
        (NUM_ROWS, NUM_ROWS - 2, 2)
    kept = np.ones(NUM_ROWS, dtype=bool)
    kept[[299, 349]] = False
    assert_predictions(read_csv_output(out), expected, rows=kept)


def test_output_cols_are_checked(model, tmp_path):
    with pytest.raises(PredictError, match="no output y"):
        batch_predict(options(model, tmp_path / "p.csv", output_cols=["probs", "y"]))
    assert not (tmp_path / "p.csv").exists()


def test_header_less_csv_needs_column_names(model, tmp_path):
    opts = PredictOptions(model["export_dir"], model["test_csv"], str(tmp_path / "p.csv"),
                          separator="\t", progress=False)
    with pytest.raises(PredictError, match="--input_fields or --pipeline_config"):
        batch_predict(opts)


def test_cell_conversion_rules():
    cells = pa.array(["+5", " 7 ", "", None, "abc", "99999999999"])
    converted = convert_column(cells, ColumnRule("x", tf.int32, "-1"))
    assert converted.values.tolist()[:4] == [5, 7, -1, -1]
    assert converted.valid.tolist() == [True, True, True, True, False, False]
    floats = convert_column(pa.array(["inf", "1e3", ".5", "x"]), ColumnRule("f", tf.float32, "0"))
    assert floats.values.tolist()[:3] == [np.inf, 1000.0, 0.5]
    assert floats.valid.tolist() == [True, True, True, False]
    bools = convert_column(pa.array(["TRUE", "0", "", "yes"]), ColumnRule("b", tf.bool, "false"))
    assert bools.values.tolist()[:3] == [True, False, False]
    assert bools.valid.tolist() == [True, True, True, False]
    typed = convert_column(pa.array([1.0, None, 2.5]), ColumnRule("i", tf.int64, "4"))
    assert typed.values.tolist()[:2] == [1, 4]
    assert typed.valid.tolist() == [True, True, False]
    with pytest.raises(PredictError, match="default 'x' is not a valid int64"):
        ColumnRule("i", tf.int64, "x")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_multi_dimensional_outputs(tmp_path, fmt):
    values = np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)
    schema = pa.schema([("id", pa.string()), ("probs", pa.list_(pa.float32()))])
    table = pa.Table.from_arrays([pa.array(["a", "b"]), output_array(values, schema.field(1).type)],
                                 schema=schema)
    path = str(tmp_path / f"out.{fmt}")
    sink = open_sink(fmt, path, schema, "\t")
    sink.write(table)
    sink.close()
    if fmt == "csv":
        assert open(path).read() == "id\tprobs\na\t0.25,0.75\nb\t0.5,0.5\n"
    else:
        assert pq.read_table(path).column("probs").to_pylist() == values.tolist()


def test_input_fields_parsing():
    assert parse_input_fields("a:INT64, b,c:string") == ["a", "b", "c"]
    with pytest.raises(PredictError, match="unknown type"):
        parse_input_fields("a:INTEGER")


def run_cli(*args, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", "easy_rec.predict", "--no_progress", *args],
                          env=env, capture_output=True, text=True, cwd=str(cwd))


@pytest.mark.slow
def test_cli(model, expected, tmp_path):
    fields = ",".join(f"{f.input_name}:STRING" for f in model["config"].data_config.input_fields)
    out = tmp_path / "pred.tsv"
    run = run_cli("--saved_model_dir", model["export_dir"], "--input_path", model["test_csv"],
                  "--output_path", str(out), "--input_fields", fields, "--separator", r"\t",
                  "--reserved_cols", "label,user_id", "--output_cols", "probs", "--batch_size",
                  "100", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["rows_read"] == summary["rows_written"] == NUM_ROWS
    assert summary["rows_rejected"] == 0
    assert summary["output_path"] == str(out)
    table = read_csv_output(out)
    assert table.column_names == ["label", "user_id", "probs"]
    np.testing.assert_allclose(np.asarray(table.column("probs").to_pylist(), np.float32),
                               expected["outputs"]["probs"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_cli_failure_and_ignore_error(model, tmp_path):
    path, bad_line, _ = corrupt(tmp_path)
    out = tmp_path / "out" / "pred.csv"
    common = ["--saved_model_dir", model["export_dir"], "--input_path", path, "--output_path",
              str(out), "--pipeline_config", CONFIG, "--chunk_rows", "100"]
    failed = run_cli(*common, cwd=tmp_path)
    assert failed.returncode == 1
    assert f"error: {path}:{bad_line}: column age" in failed.stderr
    assert os.listdir(out.parent) == []
    ok = run_cli(*common, "--ignore_error", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-3000:]
    summary = json.loads(ok.stdout.strip().splitlines()[-1])
    assert (summary["rows_read"], summary["rows_written"], summary["rows_rejected"]) == \
        (NUM_ROWS, NUM_ROWS - 2, 2)
    assert os.listdir(out.parent) == ["pred.csv"]


def test_export_and_predict_from_the_model_dir_alone(model, expected, tmp_path, monkeypatch):
    """Training leaves model_dir/pipeline.config (the config as run); easy_rec.export needs
    only --model_dir, and its export carries assets/pipeline.config, so easy_rec.predict needs
    only --saved_model_dir for header-less CSV, as with EasyRec's files."""
    from easy_rec import predict
    from easy_rec.export import __main__ as export_main

    model_dir = model["config"].model_dir
    with open(os.path.join(model_dir, "pipeline.config"), encoding="utf-8") as f:
        assert text_format.Parse(f.read(), pipeline_pb2.EasyRecConfig()) == model["config"]
    monkeypatch.setattr(sys, "argv", ["export", "--model_dir", model_dir,
                                      "--export_dir", str(tmp_path / "exports")])
    assert export_main.main() == 0
    export_dir = str(tmp_path / "exports" / list_exports(str(tmp_path / "exports"))[0])
    out = tmp_path / "pred.csv"
    args = predict.build_parser().parse_args([
        "--saved_model_dir", export_dir, "--input_path", model["test_csv"],
        "--output_path", str(out), "--no_progress"])
    batch_predict(options_from_arguments(args))
    assert_predictions(read_csv_output(out), expected)
