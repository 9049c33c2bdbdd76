"""Helpers shared by the scoring service tests: train a tiny export of a sample config, land it
in a watched folder of versions, POST JSON to the service."""
from __future__ import annotations

import os
import shutil

import httpx
from conftest import sample_rows
from pipeline_helpers import sample_config, train
from serve_process import ServeProcess

from easy_rec.serving.warmup import WARMUP_FILE


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
