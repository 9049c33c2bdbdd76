"""Copies a child process's output to ours line by line, each line prefixed with its task."""
from __future__ import annotations

import threading
from typing import BinaryIO, TextIO

# One lock for every copied line and the launcher's own console output, so lines of
# different processes never interleave within a line.
CONSOLE_LOCK = threading.Lock()


def write_line(target: TextIO, text: str) -> None:
    """Writes `text` (one or more whole lines) to `target` under CONSOLE_LOCK and flushes."""
    with CONSOLE_LOCK:
        target.write(text)
        target.flush()


def _copy(source: BinaryIO, target: TextIO, prefix: str) -> None:
    for raw in iter(source.readline, b""):
        line = raw.decode("utf-8", "replace")
        write_line(target, prefix + (line if line.endswith("\n") else line + "\n"))
    source.close()


def start_copying(source: BinaryIO, target: TextIO, prefix: str) -> threading.Thread:
    """A daemon thread that copies the pipe `source` to `target` until the pipe ends, with
    `prefix` before every line (a last line without a newline gets one); join it once the
    process has exited."""
    thread = threading.Thread(target=_copy, args=(source, target, prefix), daemon=True,
                              name=f"copy {prefix.strip()}")
    thread.start()
    return thread
