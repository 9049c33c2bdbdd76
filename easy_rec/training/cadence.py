"""When the training loop's periodic work is due.

`Cadence` fires every N steps or every S seconds, as EasyRec's save_checkpoints_steps /
save_checkpoints_secs and export_every_n_steps / export_every_n_secs do; `Throttle` lets work
run at most every S seconds, as eval_interval_secs does for evaluations after checkpoints.
"""
from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


class Cadence:
    """Due when `steps` steps or `secs` seconds have passed since it was last marked (or
    created); a trigger set to 0 is off, so with both 0 it is never due."""

    def __init__(self, steps: int = 0, secs: float = 0.0, clock: Clock = time.time) -> None:
        self._steps = int(steps)
        self._secs = float(secs)
        self._clock = clock
        self._last_step = 0
        self._last_time = clock()

    @property
    def last_step(self) -> int:
        """The step it was last marked at."""
        return self._last_step

    def due(self, step: int) -> bool:
        """Whether the work should run at `step`; call `mark(step)` once it has."""
        if self._secs and self._clock() - self._last_time >= self._secs:
            return True
        return bool(self._steps) and step - self._last_step >= self._steps

    def steps_left(self, step: int) -> int | None:
        """Steps from `step` until the step trigger is due (None when it is off); the time
        trigger is not counted."""
        if not self._steps:
            return None
        return max(self._last_step + self._steps - step, 0)

    def mark(self, step: int) -> None:
        """Records that the work ran at `step`, now (or that counting starts there)."""
        self._last_step = step
        self._last_time = self._clock()


class Throttle:
    """Ready the first time, then once `secs` seconds have passed since it was last marked
    (always, with secs 0)."""

    def __init__(self, secs: float = 0.0, clock: Clock = time.time) -> None:
        self._secs = float(secs)
        self._clock = clock
        self._last_time: float | None = None

    def ready(self) -> bool:
        """Whether the work may run now; call `mark()` once it has."""
        return self._last_time is None or self._clock() - self._last_time >= self._secs

    def mark(self) -> None:
        """Records that the work ran, now."""
        self._last_time = self._clock()
