"""Split export (export_config.embedding_store): the big tables go to Redis, the SavedModel
holds the rest, and serving it through SplitModelRunner (and easy_rec.predict) gives the
unsplit export's outputs; pushes invalidate exactly their ids in the runner's cache."""
import argparse
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import SAMPLES
from split_exports import ROWS, make_split_exports, retargeted

from easy_rec.export.__main__ import apply_store_flags
from easy_rec.export.split import IDS_SIGNATURE, StoreRelease, read_store_info
from easy_rec.export.user_items import SIGNATURE as USER_ITEMS_SIGNATURE
from easy_rec.pipeline import load_pipeline_config
from easy_rec.serving.batch_predict import batch_predict
from easy_rec.serving.options import PredictOptions
from easy_rec.serving.signature import ServingSignature
from easy_rec.serving.split_runner import SplitModelRunner
from easy_rec.store.embedding_store import (
    EmbeddingStore,
    StoreUnavailableError,
    VersionNotReadableError,
)
from easy_rec.store.redis_client import connect

# user_id (12000 ids), movie_id (6000), title (10000), zip_id (2000) go to Redis, deep and wide
STORED = {"user_id_embedding", "movie_id_embedding", "title_embedding", "zip_id_embedding",
          "user_id_wide", "movie_id_wide"}


@pytest.fixture(scope="module")
def exports(redis_server, tmp_path_factory):
    """(plain export, split export, its float16 twin, one batch of inputs, stored rows)."""
    made = make_split_exports(redis_server.url, "split_test", tmp_path_factory.mktemp("split"))
    # the same SavedModel over the rows stored as float16
    EmbeddingStore(connect(redis_server.url), "split_test").write_version(
        "half", made.tables, "float16", num_buckets=64)
    half = retargeted(made.split, "half", version="half")
    return made.plain, made.split, half, made.inputs, made.tables


def test_split_outputs_equal_the_unsplit_exports(exports, redis_server):
    plain, split, _, inputs, _ = exports
    expected = ServingSignature(plain)(inputs, ["probs", "logits"])
    runner = SplitModelRunner.load(split, connect(redis_server.url))
    assert sorted(runner.input_names) == sorted(inputs)
    for _ in range(3):  # cold, admitting, from the cache
        got = runner(inputs)
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-6)
    assert runner.cache.hits > 0 and len(runner.cache) > 0


def test_the_one_user_by_n_items_pair_equals_the_unsplit_export(exports, redis_server):
    plain, split, _, inputs, _ = exports
    runners = SplitModelRunner.load_all(split, connect(redis_server.url))
    runner = runners[USER_ITEMS_SIGNATURE]
    assert runner.cache is runners["serving_default"].cache
    user = {n for n, batch in runner.input_batch.items() if batch == 1}
    assert user == {"user_id", "gender", "age", "job_id", "zip_id"}
    one_by_n = {n: v[:1] if n in user else v for n, v in inputs.items()}
    tiled = {n: np.repeat(v[:1], len(v), 0) if n in user else v for n, v in inputs.items()}
    expected = ServingSignature(plain)(tiled, ["probs", "logits"])
    for _ in range(3):  # cold, admitting, from the cache
        got = runner(one_by_n)
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-6)
    # the ids the pair looks up are those of the tiled rows: one per user-side table
    ids = runner._ids_fn(**{k: tf.constant(v) for k, v in one_by_n.items()})
    row_wise = runners["serving_default"]._ids_fn(**{k: tf.constant(v) for k, v in tiled.items()})
    assert set(ids) == set(row_wise)
    for name, value in ids.items():
        np.testing.assert_array_equal(value.numpy(), row_wise[name].numpy())
    assert len(ids["emb_ids__user_id_embedding"]) == len(ids["emb_ids__user_id_wide"]) == 1


def test_the_split_saved_model_holds_no_stored_table(exports):
    plain, split, _, _, _ = exports
    info = read_store_info(split)
    assert set(info["tables"]) == STORED and info["push"] == 0
    shapes = [s for _, s in tf.train.list_variables(os.path.join(split, "variables", "variables"))]
    assert [12000, 16] not in shapes and [6000, 1] not in shapes
    assert [12000, 16] in [s for _, s in tf.train.list_variables(
        os.path.join(plain, "variables", "variables"))]
    assert os.path.getsize(os.path.join(split, "variables", "variables.data-00000-of-00001")) \
        < 1 << 20


def test_the_ids_signature_runs_in_plain_tensorflow(exports):
    _, split, _, inputs, _ = exports
    loaded = tf.saved_model.load(split)
    ids = loaded.signatures[IDS_SIGNATURE](**{k: tf.constant(v) for k, v in inputs.items()})
    assert {k.removeprefix("emb_ids__") for k in ids} == STORED
    users = ids["emb_ids__user_id_embedding"].numpy()
    assert (np.diff(users) > 0).all() and 0 < len(users) <= 64  # sorted, distinct


def test_float16_rows_change_outputs_by_rounding_only(exports, redis_server):
    plain, _, half, inputs, _ = exports
    expected = ServingSignature(plain)(inputs, ["probs"])["probs"]
    got = SplitModelRunner.load(half, connect(redis_server.url))(inputs)["probs"]
    assert np.abs(got - expected).max() < 1e-3


def test_predict_serves_a_split_export(exports, redis_server, tmp_path):
    plain, split, _, _, _ = exports
    rows = tmp_path / "rows.csv"
    with open(ROWS, encoding="utf-8") as f:
        rows.write_text("".join(f.readlines()[:300]), encoding="utf-8")
    outputs = {}
    for name, export in (("plain", plain), ("split", split)):
        path = str(tmp_path / f"{name}.csv")
        batch_predict(PredictOptions(saved_model_dir=export, input_path=str(rows),
                                     output_path=path,
                                     separator="\t", output_cols=["probs"], with_header=False,
                                     column_names=_columns(), progress=False,
                                     redis_url=redis_server.url if name == "split" else None))
        outputs[name] = pd.read_csv(path)["probs"].to_numpy()
    np.testing.assert_allclose(outputs["split"], outputs["plain"], atol=1e-6)


def _columns() -> list[str]:
    config = load_pipeline_config(os.path.join(SAMPLES, "deepfm_on_movielens.config")).config
    return [f.input_name for f in config.data_config.input_fields]


def test_a_push_invalidates_exactly_its_ids(exports, redis_server):
    _, split, _, inputs, _ = exports
    client = connect(redis_server.url)
    runner = SplitModelRunner.load(split, client, poll_secs=0)
    for _ in range(2):
        before = runner(inputs)["probs"]
    cached = len(runner.cache)
    users = np.unique(runner._ids_fn(user_id=tf.constant(inputs["user_id"]), **{
        k: tf.constant(v) for k, v in inputs.items() if k != "user_id"})[
        "emb_ids__user_id_embedding"].numpy())[:3]
    store = EmbeddingStore(client, "split_test")
    info = store.version_info(read_store_info(split)["version"])
    store.push(info, {"user_id_embedding": (users, np.full([3, 16], 0.5, np.float32))})
    after = runner(inputs)["probs"]
    assert len(runner.cache) == cached - 3 and runner.pushes_seen == info.pushes + 1
    assert (after != before).any()
    # a dense model published with a push loads only once that push is committed
    with pytest.raises(VersionNotReadableError, match="push 99"):
        SplitModelRunner.load(retargeted(split, "push99", push=99), client)


def test_redis_down_fails_misses_clearly_and_serves_cached_rows(exports, own_redis_server):
    _, split, _, inputs, tables = exports
    client = connect(own_redis_server.url, timeout_secs=0.5, retries=0)
    EmbeddingStore(client, "split_test").write_version(read_store_info(split)["version"], tables,
                                                       "float32", num_buckets=64)
    runner = SplitModelRunner.load(split, client, poll_secs=0)
    first = {k: v[:4] for k, v in inputs.items()}
    for _ in range(2):
        expected = runner(first)["probs"]
    own_redis_server.stop()
    np.testing.assert_array_equal(runner(first)["probs"], expected)  # all rows cached
    with pytest.raises(StoreUnavailableError, match="unreachable"):
        runner({k: v[4:] for k, v in inputs.items()})


def test_export_takes_easyrecs_redis_flags(monkeypatch):
    config = load_pipeline_config(os.path.join(SAMPLES, "deepfm_on_movielens.config")).config
    args = argparse.Namespace(redis_url="127.0.0.1:6390", redis_passwd="pw", redis_threads=8,
                              redis_batch_size=512, redis_timeout=30, redis_expire=2,
                              redis_embedding_version="", redis_write_kv=1)
    # setenv first, so that the teardown also removes what apply_store_flags sets
    monkeypatch.setenv("EASY_REC_REDIS_PASSWORD", "")
    monkeypatch.delenv("EASY_REC_REDIS_PASSWORD")
    apply_store_flags(args, config)
    store = config.export_config.embedding_store
    assert (store.redis_url, store.threads, store.batch_size, store.timeout_secs,
            store.expire_hours) == ("redis://127.0.0.1:6390/0", 8, 512, 30, 2)
    assert os.environ["EASY_REC_REDIS_PASSWORD"] == "pw" and "pw" not in str(config)
    assert StoreRelease("v1", False).write_rows is False


@pytest.mark.parametrize("store, message", [
    ("redis_url: 'http://h:1'", "redis_url 'http://h:1' is not a redis://"),
    ("min_rows_to_store: 10", "embedding_store needs redis_url"),
    ("redis_url: 'redis://h:1/0' num_buckets: 0", "num_buckets must be at least 1"),
])
def test_embedding_store_config_errors_name_the_field(tmp_path, store, message):
    from easy_rec.config.errors import ConfigError

    base = open(os.path.join(SAMPLES, "deepfm_on_movielens.config"), encoding="utf-8").read()
    path = tmp_path / "c.config"
    path.write_text(base + f"export_config {{ embedding_store {{ {store} }} }}", encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as error:
        load_pipeline_config(str(path))
    assert "c.config:" in str(error.value) and "export_config.embedding_store" in str(error.value)
