"""A Kafka-protocol broker for tests and benchmarks: noida-db's binary on a loopback port.

The noida-db wheel ships one binary that speaks the Kafka protocol; it is started directly
(not through the pip wrapper, so its PID is the broker's) and stopped with SIGTERM to that
PID. Data lives in `data_dir`, so a stopped broker restarts with its topics and messages.
Set EASY_REC_KAFKA_SERVERS to use an external broker (e.g. Apache Kafka) instead.
"""
from __future__ import annotations

import os
from importlib import resources

from service_process import ServiceProcess, free_port  # noqa: F401 (free_port: re-export)


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


class KafkaBroker(ServiceProcess):
    """One noida-db process serving Kafka on 127.0.0.1:<port>."""

    name = "noida-db"
    log_name = "broker.log"
    poll_secs = 0.2

    def __init__(self, data_dir: str, port: int | None = None):
        super().__init__(data_dir, port)
        self.servers = f"127.0.0.1:{self.port}"
        from kafka.errors import KafkaError

        self.not_ready = (KafkaError,)

    def command(self) -> list[str]:
        binary = noida_binary()
        if binary is None:
            raise RuntimeError("noida-db is not installed (pip install -e '.[test]')")
        return [binary, "start", "--data-dir", self.data_dir, "--only", "kafka",
                "--kafka-port", str(self.port)]

    def ping(self) -> None:
        from kafka import KafkaConsumer

        KafkaConsumer(bootstrap_servers=self.servers, bootstrap_timeout_ms=1000,
                      request_timeout_ms=1000).close()
