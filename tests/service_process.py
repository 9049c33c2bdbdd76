"""A test service (Redis, a Kafka-protocol broker) run as a subprocess on a free loopback port.

Subclasses say which command starts it and how to tell it answers; this class owns the
process: its log in `data_dir`, the wait until it is ready (failing at once if it exits), and
stopping it by PID.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    """One service process on 127.0.0.1:<port>; subclasses set `name`, `log_name`,
    `not_ready` and implement `command` and `ping`."""

    name = "service"
    log_name = "service.log"
    #: the errors `ping` raises while the service is not up yet
    not_ready: tuple[type[BaseException], ...] = (ConnectionError,)
    poll_secs = 0.05

    def __init__(self, data_dir: str, port: int | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        """PID of the running process."""
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        """The command line that starts the service (raises when it is not installed)."""
        raise NotImplementedError

    def ping(self) -> None:
        """Returns when the service answers; raises one of `not_ready` otherwise."""
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> None:
        """Starts the service and waits until it answers."""
        command = self.command()
        os.makedirs(self.data_dir, exist_ok=True)
        log = open(os.path.join(self.data_dir, self.log_name), "ab")  # noqa: SIM115
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}; see "
                                   f"{os.path.join(self.data_dir, self.log_name)}")
            try:
                self.ping()
                return
            except self.not_ready:
                if time.monotonic() > deadline:
                    raise
                time.sleep(self.poll_secs)

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL) to the PID; waits for it to exit (SIGKILL after 15 s)."""
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
        """Stops, waits `down_secs`, starts again on the same port."""
        self.stop()
        time.sleep(down_secs)
        self.start()
