"""Early ends of training that EasyRec's train_config asks for: a wall-clock deadline
(`dead_line`) and a stop file in model_dir (`enable_oss_stop_signal`).

Both are checked after every call of the train step (after every step, as EasyRec's session
hooks do, with train_config.steps_per_execution 1): the call that crosses the deadline (or
sees the file) is the last one, and the job then ends as at num_steps (final
checkpoint, evaluation, export).
"""
from __future__ import annotations

import datetime
import os
import re
import time
from collections.abc import Callable

from easy_rec.protos import train_pb2

#: the file whose appearance in model_dir stops training (EasyRec's name)
STOP_SIGNAL_FILE = "OSS_STOP_SIGNAL"
#: seconds between two looks for the stop file
STOP_FILE_CHECK_SECS = 10.0
DEAD_LINE_FORMAT = "%Y%m%d %H:%M:%S"
_TIMESTAMP = re.compile(r"\d{10}")


def parse_dead_line(text: str) -> float:
    """Unix time of a dead_line: 'YYYYmmdd HH:MM:SS' in local time (EasyRec's format) or a
    10-digit unix timestamp. ValueError for anything else."""
    text = text.strip()
    if _TIMESTAMP.fullmatch(text):
        return float(text)
    try:
        moment = datetime.datetime.strptime(text, DEAD_LINE_FORMAT)
    except ValueError:
        raise ValueError(f"dead_line {text!r} is neither 'YYYYmmdd HH:MM:SS' (e.g. "
                         "'20220516 23:59:59', local time) nor a 10-digit unix timestamp"
                         ) from None
    return moment.timestamp()


class StopSignals:
    """Tells after each step whether training should end early, and why."""

    def __init__(self, train_config: train_pb2.TrainConfig, model_dir: str,
                 clock: Callable[[], float] = time.time):
        self._clock = clock
        self._dead_line = (parse_dead_line(train_config.dead_line)
                           if train_config.HasField("dead_line") else None)
        self._dead_line_text = train_config.dead_line
        self._stop_file = (os.path.join(model_dir, STOP_SIGNAL_FILE)
                           if train_config.enable_oss_stop_signal else None)
        self._next_file_check = 0.0

    def dead_line_passed(self) -> bool:
        """Whether dead_line is set and has passed (the next step is the last one)."""
        return self._dead_line is not None and self._clock() > self._dead_line

    def reason(self) -> str | None:
        """Why training should stop now (None: go on)."""
        now = self._clock()
        if self._dead_line is not None and now > self._dead_line:
            return f"train_config.dead_line {self._dead_line_text!r} has passed"
        if self._stop_file is not None and now >= self._next_file_check:
            self._next_file_check = now + STOP_FILE_CHECK_SECS
            if os.path.exists(self._stop_file):
                return f"found the stop signal {self._stop_file}"
        return None
