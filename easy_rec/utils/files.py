"""File helpers: atomic outputs, so a crash never leaves a half-written file under its name."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """Yields a temporary path beside `path` for the block to write the file to.

    When the block succeeds the file is fsynced, given the usual permissions for the current
    umask (mkstemp alone would give 0600) and renamed over `path`; when it raises, the temporary
    file is removed and nothing is left under either name.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp_path = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                                         suffix=".tmp")
    os.close(handle)
    try:
        yield temp_path
        _fsync(temp_path)
        os.chmod(temp_path, 0o666 & ~_current_umask())
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` through atomic_output."""
    with atomic_output(path) as temp_path, open(temp_path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str, text: str) -> None:
    """atomic_write_bytes of `text` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def append_line(path: str, line: str) -> None:
    """Appends `line` plus a newline to `path` with one O_APPEND write, then fsyncs.

    Concurrent or crashed writers never interleave or tear a line (on a local file system).
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
