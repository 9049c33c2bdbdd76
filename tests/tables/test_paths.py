"""easy_rec.tables.paths: one expansion of input paths for training input and batch prediction."""
from __future__ import annotations

import pytest
import tensorflow as tf
from google.protobuf import text_format

from easy_rec.input.csv_input import CSVInput
from easy_rec.protos import dataset_pb2
from easy_rec.serving.batch_predict import open_source
from easy_rec.serving.options import PredictOptions
from easy_rec.tables.errors import InputError
from easy_rec.tables.paths import CSV, PARQUET, expand_paths, format_of

DATA_CONFIG = text_format.Parse("""
input_fields { input_name: "id" input_type: INT32 }
input_fields { input_name: "name" input_type: STRING }
""", dataset_pb2.DatasetConfig())


@pytest.fixture
def table_dir(tmp_path):
    """b.csv, a.csv, c.txt and a directory sub.csv (holding d.csv)."""
    for name in ("b.csv", "a.csv", "c.txt"):
        (tmp_path / name).write_text("1,x\n2,y\n")
    (tmp_path / "sub.csv").mkdir()
    (tmp_path / "sub.csv" / "d.csv").write_text("3,z\n")
    return tmp_path


@pytest.fixture
def ram_dir():
    """The same kind of table in TensorFlow's in-memory file system (not reachable by glob)."""
    root = "ram://tables_test_paths"
    tf.io.gfile.makedirs(f"{root}/sub.csv")
    for name in ("b.csv", "a.csv"):
        with tf.io.gfile.GFile(f"{root}/{name}", "wb") as f:
            f.write(b"1,x\n2,y\n")
    yield root
    tf.io.gfile.rmtree(root)


def test_globs_are_sorted_and_skip_directories(table_dir):
    assert expand_paths(f"{table_dir}/*.csv") == [f"{table_dir}/a.csv", f"{table_dir}/b.csv"]


def test_comma_lists_keep_their_order_and_ignore_blank_entries(table_dir):
    spec = f" {table_dir}/c.txt , ,{table_dir}/b*.csv,{table_dir}/a.csv"
    assert expand_paths(spec) == [f"{table_dir}/c.txt", f"{table_dir}/b.csv",
                                  f"{table_dir}/a.csv"]


def test_paths_that_name_no_file_are_errors(table_dir):
    with pytest.raises(InputError, match=r"input path '.*/nothing\*\.csv' matches no file"):
        expand_paths(f"{table_dir}/a.csv,{table_dir}/nothing*.csv")
    with pytest.raises(InputError, match="names no file"):
        expand_paths(f"{table_dir}/sub.csv")
    with pytest.raises(InputError, match="names no file"):
        expand_paths(" , ")


def test_paths_go_through_gfile(ram_dir):
    assert expand_paths(f"{ram_dir}/*.csv") == [f"{ram_dir}/a.csv", f"{ram_dir}/b.csv"]


@pytest.mark.parametrize("spec", ["{d}/*.csv", "{d}/b.csv,{d}/a*", "{d}/*"])
@pytest.mark.parametrize("where", ["local", "ram"])
def test_training_and_prediction_read_the_same_files(table_dir, ram_dir, spec, where):
    spec = spec.format(d=table_dir if where == "local" else ram_dir)
    expected = expand_paths(spec)
    training = CSVInput(DATA_CONFIG, spec).files
    options = PredictOptions(saved_model_dir="", input_path=spec, output_path="",
                             column_names=["id", "name"])
    prediction = open_source(options, ["id", "name"]).paths
    assert training == prediction == expected


def test_format_of():
    assert [format_of(p) for p in ("a.parquet", "b.PQ", "c.parq", "d.csv", "e.txt", "f")] == \
        [PARQUET, PARQUET, PARQUET, CSV, CSV, CSV]
