"""Examples per second of the training loop: over the whole run excluding evaluation, and
over the window since the last log line."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from easy_rec.training.cadence import Clock


class Throughput:
    """Counts trained steps and examples against wall time."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._start = self._window_start = clock()
        self._steps = self._examples = self._window_examples = 0
        self._excluded = 0.0

    def add(self, examples: int, steps: int = 1) -> None:
        """Counts `steps` trained steps of `examples` examples in all."""
        self._steps += steps
        self._examples += examples
        self._window_examples += examples

    def window_rate(self) -> float:
        """Examples per second since the previous call (or the start); starts a new window."""
        now = self._clock()
        rate = self._window_examples / max(now - self._window_start, 1e-9)
        self._window_start, self._window_examples = now, 0
        return rate

    @contextmanager
    def excluded(self) -> Iterator[None]:
        """Time spent inside does not count towards the run's seconds (evaluation)."""
        start = self._clock()
        try:
            yield
        finally:
            self._excluded += self._clock() - start

    def summary(self) -> dict[str, float]:
        """steps, examples, seconds (without excluded time) and examples_per_sec so far."""
        seconds = self._clock() - self._start - self._excluded
        return {"steps": self._steps, "examples": self._examples, "seconds": seconds,
                "examples_per_sec": self._examples / max(seconds, 1e-9)}
