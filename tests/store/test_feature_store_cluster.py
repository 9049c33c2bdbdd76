"""The feature store on a real 3-node Redis Cluster: the key layout's hash tags let the load,
the pointer switch, fetches and upserts work across slots."""
import pytest

from easy_rec.store.feature_store import FeatureStore
from easy_rec.store.keys import TableKeys

FIELDS = {"user_id": "INT64", "age": "INT32", "tags": "STRING"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from redis_server import RedisClusterServers, redis_cli_binary

    if redis_cli_binary() is None:
        pytest.skip("no redis-cli to create a cluster")
    servers = RedisClusterServers(str(tmp_path_factory.mktemp("cluster")))
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


def test_load_switch_fetch_and_upsert_on_a_cluster(cluster):
    client = cluster.client()
    store = FeatureStore(client)
    with store.begin_load("user", "user_id", FIELDS, num_buckets=16) as job:
        job.write_rows([{"user_id": i, "age": i, "tags": f"t{i}"} for i in range(1, 201)])
    keys = TableKeys("easy_rec", "user")
    slots = {client.keyslot(k) for k in keys.buckets(job.version, 16)}
    assert len(slots) > 3  # rows spread over the cluster
    assert store.fetch("user", ["1", "200", "404"]) == [
        {"user_id": 1, "age": 1, "tags": "t1"}, {"user_id": 200, "age": 200, "tags": "t200"},
        None]
    store.upsert("user", "7", {"age": 70})
    client.script_flush()
    store.upsert("user", "8", {"tags": "new"})
    assert store.fetch("user", ["7", "8"]) == [{"user_id": 7, "age": 70, "tags": "t7"},
                                               {"user_id": 8, "age": 8, "tags": "new"}]
    with pytest.raises(ValueError), store.begin_load("user", "user_id", FIELDS) as failed:
        failed.write_rows([{"user_id": 1, "age": "x"}])
    with store.begin_load("user", "user_id", FIELDS, num_buckets=4, expire_old_secs=50) as new:
        new.write_rows([{"user_id": 1, "age": -1}])
    assert store.current_version("user") == new.version != failed.version
    assert store.fetch("user", ["1", "7"]) == [{"user_id": 1, "age": -1}, None]
    assert 0 < client.ttl(keys.bucket(job.version, 0)) <= 50
