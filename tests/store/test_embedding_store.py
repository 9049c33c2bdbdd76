"""The Redis embedding store on a real server: versions are written whole before they become
current, half-written ones are never read, replaced ones expire, pushes are numbered and name
their ids, Redis down is a clear error; and the hot-id cache's admission, eviction and
invalidation."""
import numpy as np
import pytest

from easy_rec.store import row_layout
from easy_rec.store.embedding_store import (
    EmbeddingStore,
    StoreUnavailableError,
    VersionNotReadableError,
)
from easy_rec.store.hot_cache import ENTRY_OVERHEAD, HotRowCache
from easy_rec.store.redis_client import connect

RNG = np.random.default_rng(0)
TABLES = {"user_emb": RNG.normal(size=[500, 8]).astype(np.float32),
          "item_wide": RNG.normal(size=[300, 1]).astype(np.float32)}


@pytest.fixture
def store(redis_server, request):
    return EmbeddingStore(connect(redis_server.url), f"t_{request.node.name[:40]}")


def test_a_written_version_is_current_and_reads_back_exactly(store):
    info = store.write_version("1", TABLES, "float32", num_buckets=4, batch_size=64)
    assert store.current_version() == "1" and store.version_info("1") == info
    ids = {"user_emb": np.array([499, 0, 7, 10_000]), "item_wide": np.array([3])}
    rows, missing = store.read_rows(info, ids)
    assert missing == 1  # 10_000 is not a row: a zero row
    np.testing.assert_array_equal(rows["user_emb"][:3], TABLES["user_emb"][[499, 0, 7]])
    np.testing.assert_array_equal(rows["user_emb"][3], 0)
    np.testing.assert_array_equal(rows["item_wide"], TABLES["item_wide"][[3]])
    # each table is sharded over its buckets, one hash each, with a hash tag per bucket
    keys = {k.decode() for k in store.client.keys(f"er:emb:{store.model}:1:user_emb:*")}
    assert keys == {row_layout.bucket_key(store.model, "1", "user_emb", b) for b in range(4)}
    assert all(k.endswith(f"{{{store.model}:user_emb:{b}}}") for b, k in enumerate(sorted(keys)))


def test_float16_rows_lose_only_rounding(store):
    info = store.write_version("1", TABLES, "float16", num_buckets=2)
    rows, _ = store.read_rows(info, {"user_emb": np.arange(500)})
    np.testing.assert_allclose(rows["user_emb"], TABLES["user_emb"], rtol=1e-3, atol=1e-3)
    assert store.client.hlen(row_layout.bucket_key(store.model, "1", "user_emb", 0)) > 0


def test_a_half_written_version_is_never_read_and_the_old_one_stays_current(store, monkeypatch):
    store.write_version("1", TABLES, "float32", num_buckets=2)

    def fail_midway(*args, **kwargs):
        raise StoreUnavailableError("writer killed")

    monkeypatch.setattr(store, "write_rows", fail_midway)
    with pytest.raises(StoreUnavailableError):
        store.write_version("2", TABLES, "float32", num_buckets=2)
    assert store.current_version() == "1"
    with pytest.raises(VersionNotReadableError, match="writing"):
        store.version_info("2")
    with pytest.raises(VersionNotReadableError, match="missing"):
        store.version_info("3")


def test_replaced_versions_expire(store):
    store.write_version("1", TABLES, "float32", num_buckets=2)
    assert store.client.ttl(row_layout.version_key(store.model, "1", "meta")) == -1
    store.write_version("2", TABLES, "float32", num_buckets=2, expire_secs=3600)
    for key in (row_layout.version_key(store.model, "1", "meta"),
                row_layout.bucket_key(store.model, "1", "user_emb", 1)):
        assert 0 < store.client.ttl(key) <= 3600
    assert store.client.ttl(row_layout.bucket_key(store.model, "2", "user_emb", 1)) == -1
    assert store.version_info("1").version == "1"  # readable until it expires (rollback)


def test_pushes_are_numbered_and_name_their_ids(store):
    info = store.write_version("1", TABLES, "float32", num_buckets=2)
    new = np.full([2, 8], 7.0, np.float32)
    assert store.push(info, {"user_emb": (np.array([5, 9]), new)}) == 1
    assert store.push(info, {n: (np.arange(len(t)), t) for n, t in TABLES.items()},
                      full=True) == 2
    records, gap = store.pushes_after("1", None)
    assert [(r.push, r.full) for r in records] == [(1, False), (2, True)] and not gap
    np.testing.assert_array_equal(records[0].ids["user_emb"], [5, 9])
    assert store.version_info("1").pushes == 2
    later, _ = store.pushes_after("1", records[0].stream_id)
    assert [r.push for r in later] == [2]


def test_rows_of_a_delta_push_are_read_back(store):
    info = store.write_version("1", TABLES, "float32", num_buckets=2)
    store.push(info, {"user_emb": (np.array([5]), np.full([1, 8], 7.0, np.float32))})
    rows, _ = store.read_rows(info, {"user_emb": np.array([5, 6])})
    np.testing.assert_array_equal(rows["user_emb"][0], 7.0)
    np.testing.assert_array_equal(rows["user_emb"][1], TABLES["user_emb"][6])


def test_redis_down_is_a_clear_error(own_redis_server):
    store = EmbeddingStore(connect(own_redis_server.url, timeout_secs=0.5, retries=0), "m")
    info = store.write_version("1", TABLES, "float32", num_buckets=2)
    own_redis_server.stop()
    with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{own_redis_server.port}.*"
                                                    "unreachable while reading rows"):
        store.read_rows(info, {"user_emb": np.array([1])})


def test_cache_admits_by_frequency_evicts_by_bytes_and_invalidates():
    row_bytes = 4 * 4 + ENTRY_OVERHEAD
    cache = HotRowCache(max_bytes=3 * row_bytes, min_count=2)
    rows = np.arange(20, dtype=np.float32).reshape(5, 4)
    ids = np.arange(5)
    cache.offer("t", ids[:3], rows[:3])
    assert len(cache) == 0  # seen once: not admitted
    cache.offer("t", ids[:3], rows[:3])
    got, missed = cache.get("t", np.array([0, 1, 2, 4]), 4)
    assert missed.tolist() == [False, False, False, True] and cache.hits == 3
    np.testing.assert_array_equal(got[:3], rows[:3])
    cache.get("t", np.array([0]), 4)  # 0 is now the most recently used
    cache.offer("t", ids[3:4], rows[3:4])
    cache.offer("t", ids[3:4], rows[3:4])  # admitted: the least recently used (1) goes
    assert cache.bytes <= cache.max_bytes and cache.evictions == 1
    assert cache.get("t", np.array([0, 1, 2, 3]), 4)[1].tolist() == [False, True, False, False]
    assert cache.invalidate("t", [2, 4]) == 1
    assert cache.get("t", np.array([2, 3]), 4)[1].tolist() == [True, False]
    assert 0 < cache.hit_rate < 1


def test_cache_evicts_the_least_recently_used_rows_of_all_tables_and_reuses_their_slots():
    small, wide = 2 * 4 + ENTRY_OVERHEAD, 10 * 4 + ENTRY_OVERHEAD
    cache = HotRowCache(max_bytes=2 * small + 2 * wide, min_count=1)
    a, b = np.arange(20, dtype=np.float32).reshape(10, 2), -np.arange(100, dtype=np.float32)
    b = b.reshape(10, 10)
    cache.offer("a", np.array([1, 2]), a[[1, 2]])
    cache.offer("b", np.array([7, 8]), b[[7, 8]])
    cache.get("a", np.array([1]), 2)  # a:1 is now the most recently used, a:2 the least
    cache.offer("b", np.array([9]), b[[9]])  # needs one wide row: a:2, then b:7 go
    assert cache.evictions == 2 and cache.bytes == small + 2 * wide == cache.max_bytes - small
    rows, missed = cache.get("b", np.array([7, 8, 9]), 10)
    assert missed.tolist() == [True, False, False]
    np.testing.assert_array_equal(rows[1:], b[[8, 9]])
    cache.get("a", np.array([1]), 2)
    cache.offer("a", np.array([3, 4, 2]), a[[3, 4, 2]])  # b's rows go, a's slots are reused
    rows, missed = cache.get("a", np.array([1, 2, 3, 4]), 2)
    assert cache.bytes <= cache.max_bytes and len(cache) == 4 and not missed.any()
    np.testing.assert_array_equal(rows, a[[1, 2, 3, 4]])
