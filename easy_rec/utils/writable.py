"""Writable folders: found out before a job starts its work, reported in one line."""
from __future__ import annotations

import os
import tempfile


class NotWritableError(OSError):
    """A folder the job must write to cannot be created or written."""


def unwritable_reason(path: str, probe_prefix: str = ".write-probe-") -> str | None:
    """Why `path` cannot be used as an output folder; None when it can.

    Creates the folder (and its parents) when missing, then creates and removes a probe file
    named `probe_prefix`... in it, so the answer holds whatever the reason: permission bits, a
    read-only file system, a parent that is a regular file, a name too long for the folder.
    """
    try:
        os.makedirs(path, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=path, prefix=probe_prefix)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        return error.strerror or str(error)
    return None


def require_writable_dir(path: str, role: str) -> None:
    """Raises NotWritableError naming `role` (e.g. "model_dir") and `path` when it is not
    writable (see unwritable_reason)."""
    reason = unwritable_reason(path)
    if reason is not None:
        raise NotWritableError(f"{role} {path} is not writable: {reason}")
