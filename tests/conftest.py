"""Shared fixtures: sample configs and small data slices for fast end-to-end tests."""
from __future__ import annotations

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(REPO, "samples")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def sample_rows(name: str, count: int) -> list[str]:
    """First `count` lines of samples/data/<name>."""
    with open(os.path.join(SAMPLES, "data", name), encoding="utf-8") as f:
        return [next(f) for _ in range(count)]


@pytest.fixture
def small_data(tmp_path):
    """(train path, test path) with 20,000 / 500 rows of the MovieLens sample."""
    train = tmp_path / "train.csv"
    test = tmp_path / "test.csv"
    train.write_text("".join(sample_rows("movielens_train.csv", 20000)), encoding="utf-8")
    test.write_text("".join(sample_rows("movielens_test.csv", 500)), encoding="utf-8")
    return str(train), str(test)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """A Kafka-protocol broker (noida-db, tests/kafka_broker.py) for the whole test session.

    With $EASY_REC_KAFKA_SERVERS set, tests use that broker instead (restart tests skip).
    """
    from kafka_broker import KafkaBroker, noida_binary

    external = os.environ.get("EASY_REC_KAFKA_SERVERS")
    if external:
        broker = KafkaBroker(str(tmp_path_factory.mktemp("kafka")))
        broker.servers = external
        yield broker
        return
    if noida_binary() is None:
        pytest.skip("noida-db is not installed (pip install -e '.[test]')")
    broker = KafkaBroker(str(tmp_path_factory.mktemp("kafka")))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server (tests/redis_server.py) for the whole test session; tests keep
    their keys apart by prefix or call `flushdb` themselves.

    With $EASY_REC_REDIS_URL set, tests use that server instead (restart tests skip).
    """
    from redis_server import RedisServer

    external = os.environ.get("EASY_REC_REDIS_URL")
    server = RedisServer(str(tmp_path_factory.mktemp("redis")))
    if external:
        server.url = external
        yield server
        return
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_server(tmp_path):
    """A redis-server of the test's own, for tests that stop or restart it."""
    from redis_server import RedisServer

    server = RedisServer(str(tmp_path / "redis"))
    server.start()
    yield server
    server.stop()
