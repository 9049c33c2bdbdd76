"""A plain and a split export of one untrained DeepFM on MovieLens, for the split export tests
(tests/export/test_split_export.py) and the service serving it (tests/serving/
test_serve_split.py)."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass

import numpy as np
from conftest import SAMPLES
from pipeline_helpers import sample_model_and_batch

from easy_rec.export.exporter import export_saved_model
from easy_rec.export.split import stored_tables
from easy_rec.pipeline import load_pipeline_config
from easy_rec.serving.signature import ServingSignature

ROWS = os.path.join(SAMPLES, "data", "movielens_test.csv")
CONFIG = os.path.join(SAMPLES, "deepfm_on_movielens.config")
MIN_ROWS = 1000


def store_config(url: str, model_name: str):
    """The DeepFM config with an embedding store on `url` (tables of >= 1000 rows stored)."""
    config = load_pipeline_config(CONFIG).config
    store = config.export_config.embedding_store
    store.redis_url, store.model_name, store.min_rows_to_store = url, model_name, MIN_ROWS
    return config


@dataclass(frozen=True)
class SplitExports:
    """Both exports of one model, a batch of its inputs and the stored tables' rows."""

    plain: str
    split: str
    inputs: dict[str, np.ndarray]
    tables: dict[str, np.ndarray]


def make_split_exports(url: str, model_name: str, root) -> SplitExports:
    """Exports the model under `root` plainly and split (its rows written to `url`)."""
    model, batch = sample_model_and_batch("deepfm", ROWS, 64)
    model(batch, training=False)
    plain = export_saved_model(model, load_pipeline_config(CONFIG).config, str(root / "plain"), 1)
    split = export_saved_model(model, store_config(url, model_name), str(root / "split"), 1)
    tables = {n: t.weights.numpy() for n, t in stored_tables(model, MIN_ROWS).items()}
    signature = ServingSignature(plain)
    inputs = {k: v.numpy() for k, v in batch.items() if k in signature.input_names}
    return SplitExports(plain, split, inputs, tables)


def retargeted(export: str, suffix: str, **changes) -> str:
    """A copy of a split export whose store description has `changes`."""
    copy = f"{export}_{suffix}"
    shutil.copytree(export, copy, dirs_exist_ok=True)
    path = os.path.join(copy, "assets.extra", "embedding_store.json")
    with open(path, encoding="utf-8") as f:
        info = json.load(f)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(info | changes, f)
    return copy
