"""Redis connections: the password never shows, the URL is checked, a client talks to a real server."""
import pytest

from easy_rec.store.redis_client import connect, redacted


def test_redacted_hides_the_password_and_keeps_the_rest():
    assert redacted("redis://:s3cret@10.0.0.1:6380/2") == "redis://:***@10.0.0.1:6380/2"
    assert redacted("redis://bob:s3cret@h/0") == "redis://bob:***@h/0"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_connect_refuses_other_schemes():
    with pytest.raises(ValueError, match="expected redis://"):
        connect("http://127.0.0.1:6379")


def test_connect_talks_to_a_real_server(redis_server):
    client = connect(redis_server.url)
    client.set("redis_client_test", b"1")
    assert client.get("redis_client_test") == b"1"


def test_password_from_the_environment_reaches_the_server(own_redis_server, monkeypatch):
    import redis

    monkeypatch.delenv("EASY_REC_REDIS_PASSWORD", raising=False)
    own_redis_server.client().config_set("requirepass", "pw")
    with pytest.raises(redis.AuthenticationError):
        connect(own_redis_server.url).ping()
    monkeypatch.setenv("EASY_REC_REDIS_PASSWORD", "pw")
    assert connect(own_redis_server.url).ping()
