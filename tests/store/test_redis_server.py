"""The test Redis server starts on a free port, answers, restarts and stops by PID."""
import os


def test_redis_server_round_trip_and_restart(own_redis_server):
    client = own_redis_server.client()
    client.set("k", b"v")
    assert client.get("k") == b"v"
    pid = own_redis_server.pid
    own_redis_server.restart()
    assert own_redis_server.pid != pid
    assert own_redis_server.client().get("k") is None  # no persistence
    old = own_redis_server.pid
    own_redis_server.stop()
    try:
        os.kill(old, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
