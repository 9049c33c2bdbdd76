"""Parquet reader: types, nulls, column pruning, list columns, sharding, resume, CSV parity."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from conftest import REPO, SAMPLES, sample_rows
from google.protobuf import text_format
from pipeline_helpers import sample_config, train

from easy_rec.config.errors import ConfigError
from easy_rec.export.exporter import list_exports
from easy_rec.features.base import build_feature
from easy_rec.features.feature_layer import FeatureLayer
from easy_rec.input import reader as reader_module
from easy_rec.input.column_plan import build_column_plan
from easy_rec.input.empty_input import EmptyInputError
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.input.parquet_input import ParquetInput
from easy_rec.input.shards import Shard
from easy_rec.pipeline import parse_pipeline_config_text
from easy_rec.protos import dataset_pb2, feature_config_pb2
from easy_rec.tables.errors import InputError

FIELDS = """
input_type: ParquetInput
input_fields { input_name: "label" input_type: INT32 }
input_fields { input_name: "uid" input_type: STRING }
input_fields { input_name: "price" input_type: DOUBLE default_val: "-1.5" }
input_fields { input_name: "count" input_type: INT64 }
input_fields { input_name: "score" input_type: FLOAT }
input_fields { input_name: "flag" input_type: BOOL default_val: "true" }
"""


def data_config(extra: str = "", fields: str = FIELDS) -> dataset_pb2.DatasetConfig:
    config = dataset_pb2.DatasetConfig()
    text_format.Parse(fields + extra, config)
    return config


def write(path, columns: dict, row_group_size: int | None = None) -> str:
    pq.write_table(pa.table(columns), str(path), row_group_size=row_group_size)
    return str(path)


def typed_table(labels: list[int]) -> dict:
    """Columns matching FIELDS with narrower Arrow types than configured (safe widenings)."""
    n = len(labels)
    return {
        "label": pa.array(labels, pa.int8()),
        "uid": pa.array([f"u{i}" for i in range(n)], pa.string()),
        "price": pa.array([0.5 * i for i in range(n)], pa.float32()),
        "count": pa.array(list(range(n)), pa.int32()),
        "score": pa.array(list(range(n)), pa.int64()),
        "flag": pa.array([i % 2 == 0 for i in range(n)], pa.bool_()),
    }


def as_lists(batch: dict) -> dict:
    return {k: (v.to_list() if isinstance(v, tf.RaggedTensor) else v.numpy().reshape(-1).tolist())
            for k, v in batch.items()}


def read_all(reader: ParquetInput, batch_size: int = 4, **kwargs) -> dict:
    out: dict = {}
    for batch in reader.make_dataset(batch_size, **kwargs):
        for key, value in as_lists(batch).items():
            out.setdefault(key, []).extend(value)
    return out


def test_types_widenings_and_nulls(tmp_path):
    path = write(tmp_path / "a.parquet", {
        "label": pa.array([1, 0, 1], pa.int8()),
        "uid": pa.array(["u1", None, "u3"]),
        "price": pa.array([2.5, None, 3.0], pa.float32()),
        "count": pa.array([7, None, -2], pa.int32()),
        "score": pa.array([1, 2, None], pa.int64()),
        "flag": pa.array([False, None, True]),
    })
    reader = ParquetInput(data_config(), path)
    spec = reader.output_signature
    assert [spec[k].dtype for k in ("label", "uid", "price", "count", "score", "flag")] == [
        tf.int32, tf.string, tf.float64, tf.int64, tf.float32, tf.bool]
    rows = read_all(reader)
    assert rows["label"] == [1, 0, 1]
    assert rows["uid"] == [b"u1", b"", b"u3"]
    assert rows["price"] == pytest.approx([2.5, -1.5, 3.0])
    assert rows["count"] == [7, 0, -2]
    assert rows["score"] == pytest.approx([1.0, 2.0, 0.0])
    assert rows["flag"] == [False, True, True]
    assert sum(rows[MALFORMED_KEY]) == 0


def test_only_needed_columns_are_read(tmp_path, monkeypatch):
    columns = typed_table([1, 0])
    columns["uid"] = pa.array([{"x": 1}, {"x": 2}])  # a struct: unreadable as STRING
    columns["extra"] = pa.array([1.0, 2.0])
    path = write(tmp_path / "a.parquet", columns)
    requested: list = []
    original = pq.ParquetFile.read_row_group

    def spy(self, i, columns=None, **kwargs):
        requested.append(list(columns))
        return original(self, i, columns=columns, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    rows = read_all(ParquetInput(data_config(), path, needed_fields=["label", "count"]))
    assert set(rows) == {"label", "count", MALFORMED_KEY}
    assert rows["count"] == [0, 1]
    assert requested == [["label", "count"]]


@pytest.mark.parametrize("arrow_type, configured", [
    (pa.float64(), "INT64"), (pa.int64(), "INT32"), (pa.float64(), "FLOAT"),
    (pa.string(), "BOOL"), (pa.int32(), "STRING")])
def test_type_mismatch_names_file_column_and_types(tmp_path, arrow_type, configured):
    values = ["1", "2"] if arrow_type == pa.string() else [1, 2]
    path = write(tmp_path / "bad.parquet", {"x": pa.array(values, arrow_type)})
    fields = f'input_type: ParquetInput input_fields {{ input_name: "x" input_type: {configured} }}'
    with pytest.raises(InputError) as error:
        ParquetInput(data_config(fields=fields), path)
    text = str(error.value)
    assert path in text and "'x'" in text and str(arrow_type) in text and configured in text


def test_list_column_needs_string_type_and_missing_column_is_named(tmp_path):
    path = write(tmp_path / "a.parquet", {"tags": pa.array([[1, 2]], pa.list_(pa.int64()))})
    fields = 'input_type: ParquetInput input_fields { input_name: "tags" input_type: INT64 }'
    with pytest.raises(InputError, match=r"list<element: int64>.*INT64.*input_type: STRING"):
        ParquetInput(data_config(fields=fields), path)
    with pytest.raises(InputError, match=rf"{path}: no column 'label' \(columns: tags\)"):
        ParquetInput(data_config(), path)


def test_invalid_default_is_an_error_only_with_nulls(tmp_path):
    fields = ('input_type: ParquetInput '
              'input_fields { input_name: "c" input_type: INT64 default_val: "" }')
    full = write(tmp_path / "full.parquet", {"c": pa.array([1, 2])})
    assert read_all(ParquetInput(data_config(fields=fields), full))["c"] == [1, 2]
    nulls = write(tmp_path / "nulls.parquet", {"c": pa.array([1, None])})
    with pytest.raises(InputError, match=r"column 'c' has nulls and its default_val '' is not"):
        ParquetInput(data_config(fields=fields), nulls)


def test_globs_and_comma_separated_paths(tmp_path):
    for i in range(3):
        write(tmp_path / f"part-{i}.parquet", typed_table([i]))
    write(tmp_path / "other.parquet", typed_table([9, 8]))
    reader = ParquetInput(data_config(), f"{tmp_path}/part-*.parquet,{tmp_path}/other.parquet")
    assert len(reader.files) == 4
    assert sorted(read_all(reader)["label"]) == [0, 1, 2, 8, 9]
    with pytest.raises(InputError, match="matches no file"):
        ParquetInput(data_config(), f"{tmp_path}/missing-*.parquet")


TAG_FIELDS = """
input_type: ParquetInput
input_fields { input_name: "tags" input_type: STRING default_val: "none" }
input_fields { input_name: "ids" input_type: STRING }
input_fields { input_name: "weighted" input_type: STRING }
"""


def test_list_columns_read_as_ragged_strings(tmp_path):
    path = write(tmp_path / "t.parquet", {
        "tags": pa.array([["a", "", None, "b"], None, [], ["c"]], pa.list_(pa.string())),
        "ids": pa.array([[1, 20], [3], None, []], pa.list_(pa.int64())),
        "weighted": pa.array([["a:0.5", "b:2"], ["x:1"], [], None], pa.list_(pa.string())),
    })
    reader = ParquetInput(data_config(fields=TAG_FIELDS), path)
    assert reader.list_columns == {"tags", "ids", "weighted"}
    assert reader.output_signature["tags"] == tf.RaggedTensorSpec(
        [None, None], tf.string, ragged_rank=1, row_splits_dtype=tf.int64)
    rows = read_all(reader, batch_size=3)
    # empty and null items are dropped; a null list takes [default_val] when there is one
    assert rows["tags"] == [[b"a", b"b"], [b"none"], [], [b"c"]]
    assert rows["ids"] == [[b"1", b"20"], [b"3"], [], []]


@pytest.mark.parametrize("feature_text", [
    'input_names: "tags" feature_type: TagFeature separator: "|" hash_bucket_size: 50 '
    'embedding_dim: 4 combiner: "mean"',
    'input_names: "ids" feature_type: TagFeature separator: "," num_buckets: 30 '
    'embedding_dim: 4 combiner: "sum"',
    'input_names: "weighted" feature_type: TagFeature separator: "|" kv_separator: ":" '
    'vocab_list: ["a", "b", "x"] embedding_dim: 4 combiner: "sqrtn"',
])
def test_list_column_feeds_tag_feature_like_the_joined_string(feature_text):
    """Training on a ragged list column and serving the separator-joined string agree."""
    config = feature_config_pb2.FeatureConfig()
    text_format.Parse(feature_text, config)
    name, sep = config.input_names[0], config.separator
    lists = {"tags": [["a", "b"], [], ["c", "a", "a"]], "ids": [["1", "20"], ["3"], []],
             "weighted": [["a:0.5", "b:2"], ["x:1"], []]}[name]
    ragged = {name: tf.ragged.constant(lists, dtype=tf.string, row_splits_dtype=tf.int64)}
    joined = {name: tf.constant([sep.join(row) for row in lists])}

    feature = build_feature(config)
    from_list, from_string = feature.encode(ragged), feature.encode(joined)
    assert from_list.ids.to_list() == from_string.ids.to_list()
    if from_string.weights is not None:
        assert from_list.weights.to_list() == from_string.weights.to_list()

    group = feature_config_pb2.FeatureGroupConfig()
    text_format.Parse(f'group_name: "g" feature_names: "{name}" wide_deep: DEEP', group)
    layer = FeatureLayer([config], [group])
    np.testing.assert_array_equal(layer(ragged).concat("g").numpy(),
                                  layer(joined).concat("g").numpy())


def test_list_columns_only_feed_tag_and_raw_features():
    config = sample_config("deepfm", "unused", "a.parquet", "b.parquet")
    reader_module.check_list_columns(build_column_plan(config), frozenset({"genres", "title"}))
    with pytest.raises(InputError, match=r"'zip_id' is a list column but is used as IdFeature"):
        reader_module.check_list_columns(build_column_plan(config), frozenset({"zip_id"}))
    with pytest.raises(InputError, match=r"'label' is a list column but is used as label field"):
        reader_module.check_list_columns(build_column_plan(config), frozenset({"label"}))


def test_sharding_splits_row_groups_disjointly_and_completely(tmp_path):
    write(tmp_path / "a.parquet", typed_table(list(range(40))), row_group_size=7)
    write(tmp_path / "b.parquet", typed_table(list(range(100, 125))), row_group_size=10)
    reader = ParquetInput(data_config(), f"{tmp_path}/*.parquet", needed_fields=["label"])
    assert len(reader.units) == 6 + 3
    seen_units, seen_rows = [], []
    for task_index in range(3):
        units = reader.worker_units(Shard(3, task_index))
        seen_units += units
        seen_rows += read_all(reader, shard=Shard(3, task_index))["label"]
    assert sorted(seen_units) == sorted(reader.units)  # each row group exactly once
    assert sorted(seen_rows) == list(range(40)) + list(range(100, 125))
    with pytest.raises(InputError, match="worker 9 of 10 gets no row group"):
        reader.worker_units(Shard(10, 9))


def _labels(batches) -> list[list[int]]:
    return [b["label"].numpy().tolist() for b in batches]


def test_checkpointed_iterator_resumes_with_the_next_batch(tmp_path):
    columns = typed_table(list(range(90)))
    columns["tags"] = pa.array([[f"t{i}"] * (i % 4) for i in range(90)], pa.list_(pa.string()))
    path = write(tmp_path / "a.parquet", columns, row_group_size=16)
    config = data_config('input_fields { input_name: "tags" input_type: STRING } '
                         "shuffle_buffer_size: 32 prefetch_size: 2")

    def dataset():
        return ParquetInput(config, path).make_dataset(8, num_epochs=2, shuffle=True, seed=3)

    straight = list(dataset())
    iterator = iter(dataset())
    first = [next(iterator) for _ in range(7)]
    checkpoint = tf.train.Checkpoint(iterator=iterator)
    saved = checkpoint.write(str(tmp_path / "ckpt"))
    next(iterator)  # moves past the checkpoint; the restore must rewind
    restored = iter(dataset())
    tf.train.Checkpoint(iterator=restored).read(saved).assert_consumed()
    rest = list(restored)
    assert _labels(first + rest) == _labels(straight)
    assert [b["tags"].to_list() for b in first + rest] == [b["tags"].to_list() for b in straight]
    labels = sorted(x for batch in _labels(straight) for x in batch)
    assert labels == sorted(list(range(90)) * 2)


# ---------------------------------------------------------------- configs and CSV parity
PARQUET_CONFIG_TEXT = """
parquet_train_input: "train.parquet"
parquet_eval_input: "test.parquet"
model_dir: "m"
data_config { input_type: INPUT_TYPE input_fields { input_name: "label" input_type: INT32 }
              input_fields { input_name: "x" input_type: INT64 } label_fields: "label" }
feature_config { features { input_names: "x" feature_type: IdFeature embedding_dim: 4
                            hash_bucket_size: 10 } }
model_config { model_class: "DeepFM" deepfm { dnn { hidden_units: [4] } }
               feature_groups { group_name: "wide" feature_names: "x" wide_deep: WIDE }
               feature_groups { group_name: "deep" feature_names: "x" wide_deep: DEEP } }
train_config { optimizer_config { adam_optimizer { learning_rate {
               constant_learning_rate { learning_rate: 0.01 } } } } }
"""


def test_parquet_paths_in_the_config():
    config = parse_pipeline_config_text(
        PARQUET_CONFIG_TEXT.replace("INPUT_TYPE", "ParquetInput")).config
    assert reader_module.train_input_path(config) == "train.parquet"
    assert reader_module.eval_input_path(config) == "test.parquet"
    with pytest.raises(ConfigError, match="parquet_train_input is read with data_config"):
        parse_pipeline_config_text(PARQUET_CONFIG_TEXT.replace("INPUT_TYPE", "CSVInput"))
    plain = parse_pipeline_config_text(
        PARQUET_CONFIG_TEXT.replace("INPUT_TYPE", "ParquetInput")
        .replace("parquet_train_input", "train_input_path")
        .replace('parquet_eval_input: "test.parquet"', "")).config
    assert reader_module.train_input_path(plain) == "train.parquet"
    assert reader_module.eval_input_path(plain) is None


def test_parquet_input_v2_reads_like_parquet_input(tmp_path):
    config = parse_pipeline_config_text(
        PARQUET_CONFIG_TEXT.replace("INPUT_TYPE", "ParquetInputV2")).config
    assert reader_module.train_input_path(config) == "train.parquet"
    path = write(tmp_path / "a.parquet", {"label": pa.array([1, 0], pa.int32()),
                                          "x": pa.array([7, 8], pa.int64())})
    plan = build_column_plan(config, ["x"])
    batch = next(iter(reader_module.build_reader(config.data_config, path, plan)
                      .make_dataset(2)))
    assert batch["x"].numpy().tolist() == [7, 8] and batch["label"].numpy().tolist() == [1, 0]
    # EasyRec's ParquetInputV2 builds IdFeature, TagFeature and RawFeature only
    combo = PARQUET_CONFIG_TEXT.replace("INPUT_TYPE", "ParquetInputV2").replace(
        'feature_type: IdFeature', 'feature_type: ComboFeature')
    with pytest.raises(ConfigError, match="ParquetInputV2 feeds IdFeature") as info:
        parse_pipeline_config_text(combo)
    assert info.value.field == "feature_config.features[0].feature_type"


def _converter():
    spec = importlib.util.spec_from_file_location(
        "csv_to_parquet", os.path.join(REPO, "scripts", "csv_to_parquet.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def movielens_pair(tmp_path):
    """The MovieLens sample slice as CSV and as Parquet (genres and title as list columns)."""
    csv_train, csv_test = tmp_path / "train.csv", tmp_path / "test.csv"
    csv_train.write_text("".join(sample_rows("movielens_train.csv", 20000)), encoding="utf-8")
    csv_test.write_text("".join(sample_rows("movielens_test.csv", 500)), encoding="utf-8")
    convert = _converter()
    config = os.path.join(SAMPLES, "deepfm_on_movielens.config")
    lists = convert.parse_list_columns("genres=|,title= ")
    pq_train, pq_test = str(tmp_path / "train.parquet"), str(tmp_path / "test.parquet")
    convert.convert(config, str(csv_train), pq_train, 3000, lists)
    convert.convert(config, str(csv_test), pq_test, 200, lists)
    return (str(csv_train), str(csv_test)), (pq_train, pq_test)


@pytest.mark.slow
def test_deepfm_trains_the_same_from_parquet_as_from_csv(tmp_path, movielens_pair):
    (csv_train, csv_test), (pq_train, pq_test) = movielens_pair
    assert pq.ParquetFile(pq_train).metadata.num_row_groups == 7
    edits = {"data_config.shuffle": False, "train_config.num_steps": 60}
    tf.random.set_seed(11)
    csv_trainer, csv_results = train(sample_config(
        "deepfm", str(tmp_path / "csv"), csv_train, csv_test,
        **edits))
    tf.random.set_seed(11)
    pq_config = sample_config("deepfm", str(tmp_path / "pq"), pq_train, pq_test,
                              **edits, **{"data_config.input_type": "ParquetInput",
                                          "export_config.exporter_type": "final"})
    pq_trainer, pq_results = train(pq_config)

    assert int(pq_trainer.global_step) == 60
    assert pq_results["auc"] == pytest.approx(csv_results["auc"], rel=1e-5)
    assert pq_results["loss"] == pytest.approx(csv_results["loss"], rel=1e-4)
    pairs = list(zip(csv_trainer.model.variables, pq_trainer.model.variables))
    assert pairs
    # Parquet's list column and the CSV's split string reach the genre combiner by different
    # ops, so sums differ in the last float bits; Adam scales a near-zero gradient up to a
    # whole step (learning rate 1e-3), so a rounding difference can move a weight by a
    # fraction of one step. 1% of one step is far below any real divergence.
    for a, b in pairs:
        assert a.name == b.name
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.name)

    # serving takes the joined strings (the CSV form) and matches the model on the list columns
    export_root = os.path.join(str(tmp_path / "pq"), "export", "final")
    served = tf.saved_model.load(os.path.join(export_root, list_exports(export_root)[0]))
    names = pq_trainer.model.serving_input_names
    pq_batch = next(iter(reader_module.build_reader(
        pq_config.data_config, pq_test, build_column_plan(pq_config), names).make_dataset(64)))
    csv_batch = next(iter(reader_module.build_reader(
        csv_trainer.config.data_config, csv_test, build_column_plan(csv_trainer.config),
        names).make_dataset(64)))
    assert isinstance(pq_batch["genres"], tf.RaggedTensor)
    expected = pq_trainer.model({k: pq_batch[k] for k in names}, training=False)["probs"]
    out = served.signatures["serving_default"](**{k: csv_batch[k] for k in names})
    np.testing.assert_allclose(out["probs"].numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_trainer_restart_on_parquet_continues_with_the_next_batch(tmp_path):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text("".join(sample_rows("movielens_train.csv", 300)), encoding="utf-8")
    parquet = str(tmp_path / "train.parquet")
    _converter().convert(os.path.join(SAMPLES, "deepfm_on_movielens.config"), str(csv_path),
                         parquet, 64, {"genres": "|"})

    def run(model_dir: str, steps: int) -> tuple[list, int]:
        seen: list = []
        config = sample_config("deepfm", model_dir, parquet, parquet, **{
            "data_config.input_type": "ParquetInput", "data_config.batch_size": 32,
            "data_config.num_epochs": 3, "data_config.shuffle_buffer_size": 64,
            "train_config.num_steps": steps, "train_config.save_checkpoints_steps": 7,
            "export_config.exporter_type": "none", "eval_config.eval_interval_secs": 3600})
        trainer, _ = train(config, batch_observer=lambda b: seen.append(
            list(zip(b["user_id"].numpy().tolist(), b["movie_id"].numpy().tolist()))))
        return seen, int(trainer.global_step)

    straight, _ = run(str(tmp_path / "straight"), 100)
    first, step = run(str(tmp_path / "resumed"), 12)
    second, final_step = run(str(tmp_path / "resumed"), 100)
    # 3 epochs of 300 rows in batches of 32: the input ends after 29 steps
    assert (step, final_step, len(first), len(second)) == (12, 29, 12, 17)
    assert first + second == straight


@pytest.mark.parametrize("with_plain_columns", [True, False])
def test_row_packing_round_trips_bit_exactly(with_plain_columns):
    from easy_rec.input.row_packing import PackedColumn, RowPacker

    values = {
        "f": tf.constant([0.1, -0.0, float("nan"), 3.4e38], tf.float32),
        "d": tf.constant([1e-300, -2.5, float("inf"), 0.0], tf.float64),
        "i": tf.constant([-2**31, 2**31 - 1, 0, 7], tf.int32),
        "b": tf.constant([True, False, True, False]),
        "s": tf.constant(["", "x", "y y", "z"]),
        "l1": tf.ragged.constant([["a", "b"], [], ["c"], []], row_splits_dtype=tf.int64),
        "l2": tf.ragged.constant([[], ["d"], [], ["e", "f", "g"]], row_splits_dtype=tf.int64),
    }
    if not with_plain_columns:
        values = {k: v for k, v in values.items() if k.startswith("l")}
    packer = RowPacker([PackedColumn(k, v.dtype, isinstance(v, tf.RaggedTensor))
                        for k, v in values.items()])
    rows = tf.data.Dataset.from_tensors(packer.pack(values)).unbatch()
    batch = next(iter(rows.batch(4).map(packer.unpack)))
    for key, value in values.items():
        if isinstance(value, tf.RaggedTensor):
            assert batch[key].to_list() == value.to_list()
        elif value.dtype.is_floating:
            np.testing.assert_array_equal(
                tf.bitcast(batch[key], tf.int32 if value.dtype == tf.float32 else tf.int64),
                tf.bitcast(value, tf.int32 if value.dtype == tf.float32 else tf.int64))
        else:
            np.testing.assert_array_equal(batch[key].numpy(), value.numpy())
            assert batch[key].dtype == value.dtype


def test_converted_csv_reads_like_the_csv(tmp_path):
    config_path = tmp_path / "p.config"
    config_path.write_text(PARQUET_CONFIG_TEXT.replace("INPUT_TYPE", "CSVInput")
                           .replace("parquet_train_input", "train_input_path")
                           .replace("parquet_eval_input", "eval_input_path"))
    csv_path = tmp_path / "a.csv"
    csv_path.write_text("1,7\n0,\n,3\n")
    parquet = str(tmp_path / "a.parquet")
    assert _converter().main(["--pipeline_config", str(config_path), "--input", str(csv_path),
                              "--output", parquet, "--row_group_size", "2"]) == 0
    assert pq.ParquetFile(parquet).metadata.num_row_groups == 2
    config = parse_pipeline_config_text(config_path.read_text()).config
    plan = build_column_plan(config)
    from_csv = reader_module.build_reader(config.data_config, str(csv_path), plan, ["label", "x"])
    config.data_config.input_type = dataset_pb2.DatasetConfig.ParquetInput
    from_parquet = reader_module.build_reader(config.data_config, parquet, plan, ["label", "x"])
    assert read_all(from_parquet) == read_all(from_csv) == {
        "label": [1, 0, 0], "x": [7, 0, 3], MALFORMED_KEY: [0]}


def test_list_items_with_the_reader_separators_are_reported(tmp_path):
    path = write(tmp_path / "t.parquet", {"tags": pa.array([["a\x1fb"]], pa.list_(pa.string()))})
    fields = 'input_type: ParquetInput input_fields { input_name: "tags" input_type: STRING }'
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"column 'tags': a list item"):
        read_all(ParquetInput(data_config(fields=fields), path))


def test_check_head_rejects_files_without_rows(tmp_path):
    empty = write(tmp_path / "empty.parquet", typed_table([]))
    with pytest.raises(EmptyInputError, match=rf"^no evaluation rows in {empty}: empty"):
        ParquetInput(data_config(), empty).check_head("evaluation")
    rows = write(tmp_path / "rows.parquet", typed_table([1, 0]))
    ParquetInput(data_config(), f"{empty},{rows}").check_head("evaluation")
