"""The scoring service end to end: real HTTP over loopback against `python -m easy_rec.serve`
started as a subprocess, a tiny DeepFM trained once (20 steps) and served from a folder of
versions, a real Redis as feature store.

The tests share one server and run in file order: the reload test lands version 2, the SIGTERM
test (last) stops the server."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import threading
import time

import httpx
import numpy as np
import pytest
from serve_process import ServeProcess

from easy_rec.serving.warmup import warmup_record

from . import serve_helpers
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

DEFAULTS = {"age": "3", "genres": "Drama", "year": "1990"}
MAX_ITEMS = 50
MAX_BODY = 64 * 1024


def train_export(root) -> str:
    """A DeepFM export whose config gives some columns a default_val."""
    edits = {f"data_config.input_fields[input_name={name}]": f'default_val: "{value}"'
             for name, value in DEFAULTS.items()}
    return serve_helpers.train_export(root, "deepfm", "movielens_train.csv", **edits)


@pytest.fixture(scope="module")
def served(redis, tmp_path_factory):
    """(the service, the export it serves as version 1): the server starts on an empty folder
    of versions (it loads TensorFlow while the model trains), then version 1 lands."""
    versions = tmp_path_factory.mktemp("versions")
    process = ServeProcess(
        ["--saved_model_dir", str(versions), "--redis_url", redis.url, "--item_key", "movie_id",
         "--poll_secs", "0.2", "--max_items", str(MAX_ITEMS), "--max_body_bytes", str(MAX_BODY),
         "--body_timeout_secs", "2", "--drain_secs", "20"],
        str(tmp_path_factory.mktemp("serve_log") / "serve.log"))
    process.versions_dir = str(versions)
    process.start(route="/healthz")
    try:
        export = train_export(tmp_path_factory.mktemp("serve_model"))
        land_version(str(versions), 1, export)
        store_rows(redis.url, rows(5))
        process.wait("/readyz")
        yield process, export
    finally:
        process.stop()


@pytest.fixture
def server(served) -> ServeProcess:
    """The running service."""
    return served[0]


@pytest.fixture
def export(served) -> str:
    """The export served as version 1."""
    return served[1]


def tf_signatures(export: str) -> list[str]:
    """The export's signature names."""
    import tensorflow as tf

    return list(tf.saved_model.load(export).signatures)


def in_process_scores(export: str, batch: list[dict[str, str]]) -> dict[str, np.ndarray]:
    """serving_default called in this process on the typed rows."""
    fn = serving_fn(export)
    return {name: value.numpy() for name, value in fn(**typed_batch(fn, batch)).items()}


def test_predict_rows_and_columns_equal_the_saved_model(server, export):
    batch = rows(8)
    expected = in_process_scores(export, batch)
    # CSV text for every value, "17" for an int64 input as well
    instances = [{name: row[name] for name in INPUTS} for row in batch]
    response = post(server, "/v1/models/model:predict", {"instances": instances})
    assert response.status_code == 200, response.text
    assert response.headers["X-Model-Version"] == "1"
    predictions = response.json()["predictions"]
    np.testing.assert_allclose([p["probs"] for p in predictions], expected["probs"], atol=1e-6)
    np.testing.assert_allclose([p["logits"] for p in predictions], expected["logits"], atol=1e-5)
    # columnar, with JSON numbers for the numeric inputs
    inputs = {name: [int(row[name]) if name not in ITEM_COLUMNS[:2] + ["zip_id"] else row[name]
                     for row in batch] for name in INPUTS}
    response = post(server, "/v1/models/model/versions/1:predict",
                    {"signature_name": "serving_default", "inputs": inputs})
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["outputs"]["probs"], expected["probs"], atol=1e-6)


@pytest.mark.parametrize("path, body, status, names", [
    ("/v1/models/other:predict", {"instances": [{}]}, 404, "other"),
    ("/v1/models/model/versions/7:predict", {"instances": [{}]}, 404, "version 7"),
    ("/v1/models/model:predict", {"instance": []}, 400, "instances"),
    ("/v1/models/model:predict", {"instances": [{"user_id": "1"}]}, 400, "missing input"),
    ("/v1/models/model:predict", {"instances": [{**dict.fromkeys(INPUTS, "1"), "age": "x"}]},
     400, "instances[0].age"),
    ("/v1/models/model:predict", {"inputs": {**{n: ["1"] for n in INPUTS}, "year": ["1", "2"]}},
     400, "inputs.year"),
    ("/v1/models/model:predict", {"signature_name": "nope", "instances": [{}]}, 400, "nope"),
    ("/v1/models/model:predict", {"instances": [dict.fromkeys(INPUTS, "1")] * (MAX_ITEMS + 1)},
     413, "instances"),
    ("/v1/models/model:predict", {"instances": ["x" * MAX_BODY]}, 413, "--max_body_bytes"),
    ("/v1/models/model:recommend", {"user_id": 1, "item_ids": "2"}, 400, "item_ids"),
    ("/v1/models/model:recommend", {"user_id": None, "item_ids": [2]}, 400, "user_id"),
    ("/v1/models/model:recommend", {"user_id": 1, "item_ids": list(range(MAX_ITEMS + 1))}, 413,
     "item_ids"),
    ("/v1/models/model:recommend", {"user_id": 1, "item_ids": [2], "context": {"age": "old"}},
     400, "context.age"),
    ("/v1/models/model:recommend", {"user_id": 1, "item_ids": [2], "context": {"x": 1}}, 400,
     "context: x"),
    ("/v1/features/shops:upsert", {"key": 1, "row": {"age": 2}}, 404, "shops"),
    ("/v1/features/user:upsert", {"key": 1, "row": {"height": 2}}, 400, "height"),
    ("/v1/features/user:upsert", {"key": 1, "row": {"age": "old"}}, 400, "old"),
    ("/v1/nothing", {}, 404, "/v1/nothing"),
])
def test_errors_name_what_is_wrong(server, path, body, status, names):
    response = post(server, path, body)
    assert response.status_code == status, response.text
    assert names in response.json()["error"]


@pytest.mark.parametrize("content", [
    b"{not json",
    b'{"instances": [{"year": NaN}]}',  # orjson is strict: no NaN / Infinity literals
    b'{"instances": [{"title": "\xff"}]}',  # not UTF-8
])
def test_malformed_json_is_400(server, content):
    response = httpx.post(server.base_url + "/v1/models/model:predict", content=content,
                          timeout=10)
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


def test_model_status_health_and_metrics(server):
    status = httpx.get(server.base_url + "/v1/models/model").json()
    assert status["model_version_status"][-1] == {
        "version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    assert httpx.get(server.base_url + "/v1/models/model/versions/9").status_code == 404
    metadata = httpx.get(server.base_url + "/v1/models/model/metadata").json()
    inputs = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert sorted(inputs) == sorted(INPUTS) and inputs["user_id"]["dtype"] == "DT_INT64"
    assert httpx.get(server.base_url + "/healthz").status_code == 200
    assert httpx.get(server.base_url + "/readyz").json()["status"] == "ready"
    text = httpx.get(server.base_url + "/metrics").text
    assert 'easy_rec_requests_total{code="200",route="predict"}' in text
    assert "easy_rec_request_seconds_bucket" in text and "easy_rec_model_version" in text


def test_recommend_scores_stored_features_and_counts_missing(server, redis, export):
    batch = rows(6)  # the first 5 users and movies are stored
    user = batch[0]
    items = [row["movie_id"] for row in batch[:5]] + ["999999"]
    body = {"user_id": user["user_id"], "item_ids": items, "context": {}}
    response = post(server, "/v1/models/model:recommend", body)
    assert response.status_code == 200, response.text
    result = response.json()
    # what the same rows, joined by hand, score; the unknown item takes the config defaults
    joined = [{**{n: user[n] for n in USER_COLUMNS + ["user_id"]},
               **{n: row[n] for n in ITEM_COLUMNS + ["movie_id"]}} for row in batch[:5]]
    joined.append({**joined[0], "movie_id": "999999", "title": "", "genres": DEFAULTS["genres"],
                   "year": DEFAULTS["year"]})
    expected = in_process_scores(export, joined)["probs"]
    np.testing.assert_allclose(result["scores"], expected, atol=1e-6)
    assert result["model_version"] == "1" and result["missing_items"] == 1
    assert result["missing_item_ids"] == ["999999"] and result["missing_users"] == 0
    # the 1 x N signature when the export has one (user inputs batch 1), else serving_default
    tiled = "score_user_items" in tf_signatures(export)
    assert result["signature_name"] == ("score_user_items" if tiled else "serving_default")
    naive = post(server, "/v1/models/model:recommend",
                 {**body, "signature_name": "serving_default"}).json()
    np.testing.assert_allclose(naive["scores"], result["scores"], atol=1e-6)
    # an unknown user: counted, named, scored with the defaults; items now from the cache
    response = post(server, "/v1/models/model:recommend", {"user_id": 424242, "item_ids": items})
    result = response.json()
    assert result["missing_users"] == 1 and result["missing_user_ids"] == [424242]
    missing_user = [{**row, "gender": "0", "age": DEFAULTS["age"], "job_id": "0", "zip_id": "",
                     "user_id": "424242"} for row in joined]
    np.testing.assert_allclose(result["scores"], in_process_scores(export, missing_user)["probs"],
                               atol=1e-6)
    text = httpx.get(server.base_url + "/metrics").text
    assert 'easy_rec_item_cache_lookups_total{result="hit"}' in text
    assert "easy_rec_item_cache_hit_ratio" in text


def test_upsert_is_seen_by_the_next_request(server):
    movie = rows(1)[0]["movie_id"]
    before = post(server, "/v1/models/model:recommend", {"user_id": 1, "item_ids": [movie]})
    upserted = post(server, "/v1/features/item:upsert",
                    {"key": movie, "row": {"year": "1920", "genres": "Horror"}})
    assert upserted.status_code == 200, upserted.text
    assert upserted.json()["fields"] == ["genres", "year"]
    after = post(server, "/v1/models/model:recommend", {"user_id": 1, "item_ids": [movie]})
    assert after.json()["scores"] != before.json()["scores"]


def test_redis_outage_is_503_then_recovers(server, redis):
    body = {"user_id": 1, "item_ids": ["424243"]}
    redis.stop()
    response = post(server, "/v1/models/model:recommend", body)
    assert response.status_code == 503
    assert "feature store" in response.json()["error"] and redis.url in response.json()["error"]
    assert post(server, "/v1/models/model:predict",
                {"instances": [dict.fromkeys(INPUTS, "1")]}).status_code == 200
    redis.start()  # empty: the tables have to be loaded again
    response = post(server, "/v1/models/model:recommend", body)
    assert response.status_code == 503 and "load it first" in response.json()["error"]
    store_rows(redis.url, rows(5))
    assert post(server, "/v1/models/model:recommend", body).status_code == 200


def test_slow_client_does_not_block_others(server):
    with socket.create_connection(("127.0.0.1", server.port)) as slow:
        slow.sendall(b"POST /v1/models/model:predict HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        for _ in range(3):
            assert post(server, "/v1/models/model:predict",
                        {"instances": [dict.fromkeys(INPUTS, "1")]}).status_code == 200
        slow.settimeout(30)
        assert slow.recv(4096).startswith(b"HTTP/1.1 408")


def test_reload_under_load_fails_no_request(server, export):
    instances = [{name: row[name] for name in INPUTS} for row in rows(4)]
    seen, failures, stop = set(), [], threading.Event()

    def client() -> None:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            for _ in range(2000):  # bounded; stopped once version 2 answers
                response = http.post("/v1/models/model:predict", json={"instances": instances})
                if response.status_code != 200:
                    failures.append(response.text)
                seen.add(response.headers.get("X-Model-Version"))
                if stop.is_set():
                    return

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    warmup = [warmup_record("serving_default", typed_batch(serving_fn(export), rows(n)))
              for n in (1, 3)]
    land_version(server.versions_dir, 2, export, warmup)
    deadline = time.monotonic() + 60
    while "2" not in seen and time.monotonic() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.1)
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == [] and seen == {"1", "2"}
    assert "loaded version 2 " in server.log() and "2 warm-up request(s)" in server.log()
    # both versions stay addressable; the newest is the default
    status = httpx.get(server.base_url + "/v1/models/model").json()["model_version_status"]
    assert [entry["version"] for entry in status] == ["2", "1"]
    old = post(server, "/v1/models/model/versions/1:predict", {"instances": instances})
    assert old.status_code == 200 and old.headers["X-Model-Version"] == "1"


def test_removing_the_newest_version_rolls_back(server):
    shutil.rmtree(os.path.join(server.versions_dir, "2"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = httpx.get(server.base_url + "/v1/models/model").json()["model_version_status"]
        if [entry["version"] for entry in status] == ["1"]:
            break
        time.sleep(0.1)
    response = post(server, "/v1/models/model:predict",
                    {"instances": [dict.fromkeys(INPUTS, "1")]})
    assert response.headers["X-Model-Version"] == "1"
    assert post(server, "/v1/models/model/versions/2:predict",
                {"instances": [dict.fromkeys(INPUTS, "1")]}).status_code == 404


def read_all(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    parts = []
    while chunk := connection.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


def test_a_version_that_fails_to_load_is_reported_not_served(server, export):
    broken = os.path.join(server.versions_dir, ".tmp-3")
    shutil.copytree(export, broken)
    with open(os.path.join(broken, "saved_model.pb"), "wb") as f:
        f.write(b"not a SavedModel")
    os.rename(broken, os.path.join(server.versions_dir, "3"))
    deadline, status = time.monotonic() + 30, []
    while time.monotonic() < deadline and not any(e["version"] == "3" for e in status):
        status = httpx.get(server.base_url + "/v1/models/model").json()["model_version_status"]
        time.sleep(0.1)
    assert status[0]["version"] == "3" and status[0]["state"] == "END"
    assert status[0]["status"]["error_message"]
    response = post(server, "/v1/models/model:predict",
                    {"instances": [dict.fromkeys(INPUTS, "1")]})
    assert response.status_code == 200 and response.headers["X-Model-Version"] == "1"


def test_sigterm_drains_the_request_in_flight(server):
    body = json.dumps({"instances": [dict.fromkeys(INPUTS, "1")]}).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as client:
        client.sendall(b"POST /v1/models/model:predict HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Type: application/json\r\n"
                       + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
        time.sleep(0.2)
        server.signal()
        time.sleep(0.5)
        client.sendall(body[10:])
        client.settimeout(30)
        response = read_all(client)
    assert response.startswith(b"HTTP/1.1 200"), response
    assert b"predictions" in response
    # uvicorn re-raises the signal once drained: the exit status says SIGTERM
    assert server.process.wait(30) == -signal.SIGTERM
