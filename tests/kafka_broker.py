"""A Kafka-protocol broker for tests and benchmarks: noida-db's binary on a loopback port.

The noida-db wheel ships one binary that speaks the Kafka protocol; it is started directly
(not through the pip wrapper, so its PID is the broker's) and stopped with SIGTERM to that
PID. Data lives in `data_dir`, so a stopped broker restarts with its topics and messages.
Set EASY_REC_KAFKA_SERVERS to use an external broker (e.g. Apache Kafka) instead.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from importlib import resources


def noida_binary() -> str | None:
    """Path of the noida-db binary, or None when the package is not installed."""
    try:
        path = resources.files("noida_db").joinpath("noida-db")
    except ModuleNotFoundError:
        return None
    if not path.is_file():
        return None
    os.chmod(str(path), 0o755)
    return str(path)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KafkaBroker:
    """One noida-db process serving Kafka on 127.0.0.1:<port>."""

    def __init__(self, data_dir: str, port: int | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.servers = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        """PID of the running broker process."""
        return self._process.pid if self._process else None

    def start(self, timeout: float = 30.0) -> None:
        """Starts the broker and waits until it answers Kafka metadata requests."""
        binary = noida_binary()
        if binary is None:
            raise RuntimeError("noida-db is not installed (pip install -e '.[test]')")
        os.makedirs(self.data_dir, exist_ok=True)
        log = open(os.path.join(self.data_dir, "broker.log"), "ab")  # noqa: SIM115
        self._process = subprocess.Popen(
            [binary, "start", "--data-dir", self.data_dir, "--only", "kafka",
             "--kafka-port", str(self.port)], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"noida-db exited with {self._process.returncode}; see "
                                   f"{self.data_dir}/broker.log")
            try:
                KafkaConsumer(bootstrap_servers=self.servers, bootstrap_timeout_ms=1000,
                              request_timeout_ms=1000).close()
                return
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM to the broker's PID; waits for it to exit (SIGKILL after 15 s)."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self, down_secs: float = 0.0) -> None:
        """Stops, waits `down_secs`, starts again on the same port and data."""
        self.stop()
        time.sleep(down_secs)
        self.start()
