"""Helpers shared by the scoring service tests: train a tiny export of a sample config, land it
in a watched folder of versions, POST JSON to the service."""
from __future__ import annotations

import os
import shutil

import httpx
import numpy as np
from conftest import sample_rows
from pipeline_helpers import sample_config, train
from serve_process import ServeProcess

from easy_rec.serving.warmup import WARMUP_FILE

MOVIE_COLUMNS = ["label", "user_id", "movie_id", "rating", "gender", "age", "job_id", "zip_id",
                 "title", "genres", "year"]
INPUTS = ["user_id", "movie_id", "gender", "age", "job_id", "zip_id", "title", "genres", "year"]
USER_COLUMNS = ["gender", "age", "job_id", "zip_id"]
ITEM_COLUMNS = ["title", "genres", "year"]


def train_export(root, model: str, data_file: str, train_rows: int = 3000, **edits) -> str:
    """The export of samples/<model>_on_movielens.config trained 20 steps (no evaluation) on the
    first `train_rows` rows of samples/data/<data_file>, with config `edits`."""
    train_file = root / "train.csv"
    train_file.write_text("".join(sample_rows(data_file, train_rows)), encoding="utf-8")
    config = sample_config(model, str(root / "model"), str(train_file), "",
                           **{"train_config.num_steps": 20, "export_config.exporter_type": "final",
                              **edits})
    train(config)
    final = root / "model" / "export" / "final"
    return str(final / os.listdir(final)[0])


def land_version(versions_dir: str, number: int, export: str,
                 warmup: list[bytes] = ()) -> None:
    """Copies `export` in as version `number` (with TF Serving warm-up records), appearing at
    once (copy, then rename)."""
    import tensorflow as tf

    temp = os.path.join(versions_dir, f".tmp-{number}")
    shutil.copytree(export, temp)
    if warmup:
        with tf.io.TFRecordWriter(os.path.join(temp, WARMUP_FILE)) as writer:
            for record in warmup:
                writer.write(record)
    os.rename(temp, os.path.join(versions_dir, str(number)))


def post(server: ServeProcess, path: str, body: object, **kwargs) -> httpx.Response:
    """POST `body` as JSON."""
    return httpx.post(server.base_url + path, json=body, timeout=30, **kwargs)


def rows(count: int) -> list[dict[str, str]]:
    """The first `count` test rows as {column: CSV text}."""
    return [dict(zip(MOVIE_COLUMNS, line.rstrip("\n").split("\t")))
            for line in sample_rows("movielens_test.csv", count)]


def serving_fn(export: str):
    """The export's serving_default, loaded in this process."""
    import tensorflow as tf

    return tf.saved_model.load(export).signatures["serving_default"]


def typed_batch(fn, batch: list[dict[str, str]]) -> dict[str, np.ndarray]:
    """The rows' CSV text as numpy columns of the signature's dtypes."""
    import tensorflow as tf

    specs = fn.structured_input_signature[1]
    return {name: np.array([row[name].encode() if spec.dtype == tf.string
                            else spec.dtype.as_numpy_dtype(row[name]) for row in batch],
                           object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype)
            for name, spec in specs.items()}


def store_rows(redis_url: str, batch: list[dict[str, str]]) -> None:
    """Writes the batch's users and movies into the feature store."""
    from easy_rec.store.feature_store import FeatureStore
    from easy_rec.store.redis_client import connect

    store = FeatureStore(connect(redis_url))
    for table, key, columns in [("user", "user_id", USER_COLUMNS),
                                ("item", "movie_id", ITEM_COLUMNS)]:
        types = {name: "STRING" if name in ("zip_id", "title", "genres") else "INT64"
                 for name in [key, *columns]}
        with store.begin_load(table, key, types) as load:
            load.write_rows([{name: row[name] for name in [key, *columns]} for row in batch])
