"""Versioned feature tables on a real Redis: typed fetch, upserts, loads that switch atomically,
failed and abandoned loads, expiry of old versions."""
import threading
import time
import uuid

import numpy as np
import pytest

from easy_rec.store.feature_store import FeatureStore
from easy_rec.store.keys import TableKeys
from easy_rec.store.table_load import expire_versions
from easy_rec.store.versions import LoadError, TableNotFoundError

FIELDS = {"user_id": "INT64", "age": "INT32", "score": "FLOAT", "tags": "STRING", "vip": "BOOL"}


@pytest.fixture
def store(redis_server):
    """A FeatureStore in a namespace of the test's own."""
    return FeatureStore(redis_server.client(), namespace=f"t{uuid.uuid4().hex[:10]}")


def load(store, rows, table="user", **kwargs):
    """Loads `rows` as a new committed version; returns the version."""
    with store.begin_load(table, "user_id", FIELDS, num_buckets=8, **kwargs) as job:
        job.write_rows(rows)
    return job.version


def user_rows(count, age):
    return [{"user_id": i, "age": age, "score": i / 10, "tags": f"a|b{i}", "vip": i % 2}
            for i in range(1, count + 1)]


def bucket_ttls(store, table, version):
    client = store._client
    return [client.ttl(k) for k in TableKeys(store.namespace, table).buckets(version, 8)]


def test_fetch_types_values_and_gives_none_for_missing_keys(store):
    version = load(store, [{"user_id": " 17", "age": "23", "score": "0.1", "tags": "x|y",
                            "vip": "true"}, {"user_id": 18, "age": 5, "score": 2.5, "tags": "",
                                             "vip": False}])
    assert store.current_version("user") == version
    rows = store.fetch("user", ["18", "404", "17"])
    assert rows == [{"user_id": 18, "age": 5, "score": 2.5, "tags": "", "vip": False}, None,
                    {"user_id": 17, "age": 23, "score": 0.1, "tags": "x|y", "vip": True}]
    assert store.fetch("user", []) == []
    assert store.schema("user").fields == FIELDS


def test_write_columns_takes_typed_numpy_columns(store):
    with store.begin_load("user", "user_id", {"user_id": "INT64", "w": "FLOAT"},
                          num_buckets=4) as job:
        assert job.write_columns({"user_id": np.array([3, 4]),
                                  "w": np.array([0.1, 7], np.float32)}) == 2
    assert store.fetch("user", ["3", "4"]) == [{"user_id": 3, "w": 0.1}, {"user_id": 4, "w": 7.0}]


def test_unknown_table_is_an_error(store):
    assert store.current_version("nope") is None
    with pytest.raises(TableNotFoundError, match="'nope'.*load it first"):
        store.fetch("nope", ["1"])


def test_readers_see_the_old_version_during_a_load_then_the_new_one(store, redis_server):
    first = load(store, user_rows(50, age=1))
    other = FeatureStore(redis_server.client(), namespace=store.namespace)
    assert other.fetch("user", ["1"])[0]["age"] == 1  # `other` now caches the first version
    seen: list[set] = []
    stop = threading.Event()

    def read():
        reader = FeatureStore(redis_server.client(), namespace=store.namespace)
        for _ in range(2000):
            if stop.is_set():
                break
            rows = reader.fetch("user", [str(i) for i in range(1, 61)])
            seen.append({(r or {}).get("age") for r in rows})

    thread = threading.Thread(target=read)
    with store.begin_load("user", "user_id", FIELDS, num_buckets=8) as job:
        thread.start()
        for start in range(0, 60, 10):
            job.write_rows(user_rows(60, age=2)[start:start + 10])
            assert store.fetch("user", ["1", "55"]) == [
                {"user_id": 1, "age": 1, "score": 0.1, "tags": "a|b1", "vip": True}, None]
            time.sleep(0.01)
    stop.set()
    thread.join()
    assert store.current_version("user") == job.version != first
    assert other.fetch("user", ["1", "55"])[1]["age"] == 2  # stale cache: pointer moved
    # every read saw one whole version: the old one (50 rows) or the new one (60 rows)
    assert seen and all(s in ({1, None}, {2}) for s in seen)


def test_failed_load_leaves_the_old_version_current_and_deletes_its_rows(store):
    first = load(store, user_rows(3, age=1))
    with pytest.raises(ValueError, match="'age'.*not a valid INT32"), \
            store.begin_load("user", "user_id", FIELDS, num_buckets=8) as job:
        job.write_rows(user_rows(3, age=2))
        job.write_rows([{"user_id": 9, "age": "old"}])
    assert store.current_version("user") == first
    assert store.fetch("user", ["2"])[0]["age"] == 1
    assert not any(store._client.exists(k) for k in
                   TableKeys(store.namespace, "user").buckets(job.version, 8))
    load(store, user_rows(3, age=3))  # the lock was released
    assert store.fetch("user", ["2"])[0]["age"] == 3


def test_abandoned_load_expires_by_itself_and_blocks_a_second_load(store):
    first = load(store, user_rows(3, age=1))
    job = store.begin_load("user", "user_id", FIELDS, num_buckets=8, loading_ttl_secs=600)
    job.write_rows(user_rows(3, age=2))
    assert all(0 < t <= 600 for t in bucket_ttls(store, "user", job.version))
    with pytest.raises(LoadError, match="another load of table user"):
        store.begin_load("user", "user_id", FIELDS)
    assert store.current_version("user") == first
    job._lock.release()  # as if its lock had timed out


def test_replaced_version_expires_and_is_forgotten_when_due(store):
    first = load(store, user_rows(3, age=1))
    second = load(store, user_rows(3, age=2), expire_old_secs=500)
    assert all(0 < t <= 500 for t in bucket_ttls(store, "user", first))
    assert all(t == -1 for t in bucket_ttls(store, "user", second))
    keys = TableKeys(store.namespace, "user")
    client = store._client
    assert client.ttl(keys.current) == -1
    client.hset(keys.expiry, first, int(time.time()) - 1)  # its time has come
    expire_versions(client, keys)
    assert not any(client.exists(k) for k in keys.buckets(first, 8))
    assert client.hkeys(keys.versions) == [second.encode()]


def test_upsert_merges_fields_or_replaces_the_row_and_is_visible(store):
    load(store, user_rows(2, age=1))
    store.upsert("user", "1", {"age": "41", "tags": "new|seq/é\"\\"})
    store.upsert("user", "7", {"score": 1.5})
    assert store.fetch("user", ["1", "7"]) == [
        {"user_id": 1, "age": 41, "score": 0.1, "tags": "new|seq/é\"\\", "vip": True},
        {"user_id": 7, "score": 1.5}]
    store.upsert("user", "1", {"age": 3}, replace=True)
    assert store.fetch("user", ["1"]) == [{"user_id": 1, "age": 3}]


@pytest.mark.parametrize("row,message", [
    ({"height": 1}, "field 'height' is not in the table"),
    ({"age": "x"}, "field 'age'.*not a valid INT32"),
    ({"age": 2**40}, "out of the range of INT32"),
    ({"user_id": 8}, "differs from the row's user_id"),
])
def test_upsert_refuses_rows_that_do_not_fit(store, row, message):
    load(store, user_rows(1, age=1))
    with pytest.raises(ValueError, match=message):
        store.upsert("user", "1", row)


def test_upsert_from_a_stale_store_lands_in_the_new_version(store, redis_server):
    load(store, user_rows(2, age=1))
    stale = FeatureStore(redis_server.client(), namespace=store.namespace)
    stale.fetch("user", ["1"])
    load(store, user_rows(2, age=2))
    stale.upsert("user", "2", {"age": 99})
    assert store.fetch("user", ["1", "2"])[1]["age"] == 99


def test_upsert_survives_a_flushed_script_cache(store):
    load(store, user_rows(1, age=1))
    store.upsert("user", "1", {"age": 2})
    store._client.script_flush()
    store.upsert("user", "1", {"age": 3})
    assert store.fetch("user", ["1", "", 1]) == [
        {"user_id": 1, "age": 3, "score": 0.1, "tags": "a|b1", "vip": True}, None,
        {"user_id": 1, "age": 3, "score": 0.1, "tags": "a|b1", "vip": True}]
