"""The scoring service serving a split export (docs/serving.md): real HTTP against
`python -m easy_rec.serve` as a subprocess, the embedding rows in a real Redis of the module's
own (--embedding_redis_url; the export's config names the session Redis), which the outage
test stops and restarts. Tests run in file order on one server: the push test lands version 2."""
from __future__ import annotations

import functools
import re
import time

import httpx
import numpy as np
import pytest
from serve_process import ServeProcess
from split_exports import make_split_exports, retargeted

from easy_rec.export.split import read_store_info
from easy_rec.store.embedding_store import EmbeddingStore
from easy_rec.store.redis_client import connect

from .serve_helpers import (
    INPUTS,
    ITEM_COLUMNS,
    USER_COLUMNS,
    land_version,
    post,
    rows,
    serving_fn,
    store_rows,
    typed_batch,
)

PREDICT = "/v1/models/model:predict"


def load_rows(url: str, split: str, tables: dict[str, np.ndarray]) -> None:
    """Writes the split export's store version (its rows) into the Redis at `url`."""
    EmbeddingStore(connect(url), read_store_info(split)["model"]).write_version(
        read_store_info(split)["version"], tables, "float32", num_buckets=64)


@pytest.fixture(scope="module")
def served(redis, redis_server, tmp_path_factory):
    """(the service over the split export as version 1, the plain export of the same model):
    the server starts on an empty folder of versions (it loads TensorFlow while the model is
    exported), then version 1 lands."""
    versions = tmp_path_factory.mktemp("split_versions")
    process = ServeProcess(
        ["--saved_model_dir", str(versions), "--embedding_redis_url", redis.url,
         "--redis_url", redis.url, "--item_key", "movie_id", "--poll_secs", "0.2"],
        str(tmp_path_factory.mktemp("serve_split_log") / "serve.log"))
    process.start(route="/healthz")
    try:
        made = make_split_exports(redis_server.url, "serve_split",
                                  tmp_path_factory.mktemp("serve_split"))
        load_rows(redis.url, made.split, made.tables)
        store_rows(redis.url, rows(5))
        land_version(str(versions), 1, made.split)
        process.split, process.tables = made.split, made.tables
        process.versions_dir = str(versions)
        process.wait("/readyz")
        yield process, made.plain
    finally:
        process.stop()


def predict(server: ServeProcess, batch: list[dict[str, str]]) -> httpx.Response:
    """:predict of the rows' raw features (CSV text), row format."""
    return post(server, PREDICT, {"instances": [{n: row[n] for n in INPUTS} for row in batch]})


@functools.cache
def plain_scores(plain: str):
    """probs of the plain export's serving_default for typed rows (loaded once)."""
    fn = serving_fn(plain)
    return lambda batch: fn(**typed_batch(fn, batch))["probs"].numpy()


def assert_scores_equal(response: httpx.Response, plain: str, batch: list[dict[str, str]]):
    assert response.status_code == 200, response.text
    expected = plain_scores(plain)(batch)
    np.testing.assert_allclose([p["probs"] for p in response.json()["predictions"]], expected,
                               rtol=0, atol=1e-6)


def test_predict_equals_the_unsplit_export(served):
    server, plain = served
    batch = rows(16)
    for _ in range(3):  # cold, admitting to the cache, from the cache
        assert_scores_equal(predict(server, batch), plain, batch)
    metadata = httpx.get(server.base_url + "/v1/models/model/metadata", timeout=10).json()
    inputs = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert sorted(inputs) == sorted(INPUTS)  # the row inputs are the service's business


def test_metrics_show_the_hot_id_cache_hit_rate(served):
    server, _ = served
    text = httpx.get(server.base_url + "/metrics", timeout=10).text
    ratio = re.search(r'^easy_rec_embedding_cache_hit_ratio\{version="1"\} (\S+)$', text, re.M)
    assert ratio and 0 < float(ratio.group(1)) < 1, text
    assert re.search(r'^easy_rec_embedding_cache_lookups\{result="hit",version="1"\} [1-9]',
                     text, re.M), text


def test_recommend_scores_through_the_embedding_store(served):
    server, plain = served
    batch = rows(5)  # stored in the feature store
    user = batch[0]
    response = post(server, "/v1/models/model:recommend",
                    {"user_id": user["user_id"], "item_ids": [r["movie_id"] for r in batch]})
    assert response.status_code == 200, response.text
    assert response.json()["signature_name"] == "score_user_items"  # the split 1 x N pair
    joined = [{**{n: user[n] for n in USER_COLUMNS + ["user_id"]},
               **{n: row[n] for n in ITEM_COLUMNS + ["movie_id"]}} for row in batch]
    np.testing.assert_allclose(response.json()["scores"], plain_scores(plain)(joined), rtol=0,
                               atol=1e-6)


def test_redis_down_answers_503_then_recovers(served, redis):
    server, plain = served
    batch = rows(40)[20:]  # rows not asked for before: their ids are not cached
    redis.stop()
    response = predict(server, batch)
    assert response.status_code == 503, response.text
    assert "embedding store unavailable" in response.json()["error"]
    assert httpx.get(server.base_url + "/healthz", timeout=10).status_code == 200
    redis.start()
    load_rows(redis.url, server.split, server.tables)
    assert_scores_equal(predict(server, batch), plain, batch)


def test_a_pushed_dense_model_is_served_once_its_push_is_committed(served, redis):
    server, plain = served
    store = EmbeddingStore(connect(redis.url), read_store_info(server.split)["model"])
    info = store.version_info(read_store_info(server.split)["version"])
    land_version(server.versions_dir, 2, retargeted(server.split, "push", push=info.pushes + 1))
    status = wait_for_state(server, 2, "LOADING")
    assert "push" in status["status"]["error_message"]
    batch = rows(4)
    response = predict(server, batch)
    assert response.headers["X-Model-Version"] == "1"  # dense model 2 waits for its rows
    users = np.array([int(row["user_id"]) for row in batch])
    table = server.tables["user_id_embedding"]
    store.push(info, {"user_id_embedding": (users, table[users])})
    wait_for_state(server, 2, "AVAILABLE")
    response = predict(server, batch)
    assert response.headers["X-Model-Version"] == "2"
    assert_scores_equal(response, plain, batch)


def wait_for_state(server: ServeProcess, number: int, state: str, tries: int = 150) -> dict:
    """Version `number`'s status entry once it is in `state` (polled, bounded)."""
    for _ in range(tries):
        entries = httpx.get(server.base_url + "/v1/models/model", timeout=10).json()
        entry = [e for e in entries["model_version_status"] if e["version"] == str(number)]
        if entry and entry[0]["state"] == state:
            return entry[0]
        time.sleep(0.2)
    raise AssertionError(f"version {number} never reached {state}: {entries}")
