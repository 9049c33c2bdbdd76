"""The scoring service as a subprocess on a free loopback port, for tests and benchmarks:
started with `python -m easy_rec.serve`, ready when /readyz answers 200, stopped by PID."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """One `python -m easy_rec.serve` process; its output goes to `log_path`."""

    def __init__(self, args: list[str], log_path: str):
        self.port = free_port()
        self.args = ["--port", str(self.port), *args]
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0, route: str = "/readyz") -> None:
        """Starts the server and waits until `route` answers 200 (/readyz: a model version is
        loaded; /healthz: it listens)."""
        env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "easy_rec.serve", *self.args], stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=REPO)
        self.wait(route, timeout)

    def wait(self, route: str = "/readyz", timeout: float = 120.0) -> None:
        """Waits until `route` answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"easy_rec.serve exited with {self.process.returncode}:\n"
                                   + self.log())
            try:
                if httpx.get(self.base_url + route, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("easy_rec.serve did not get ready:\n" + self.log())
            time.sleep(0.2)

    def log(self) -> str:
        """What the server wrote so far."""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """Sends `sig` to the server's PID."""
        self.process.send_signal(sig)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, then waits for the exit (SIGKILL after `timeout`); the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
