"""Writer tags: the host and process that write a temporary file or folder, so that the
leftovers of a killed writer can be told from a live writer's work in progress."""
from __future__ import annotations

import os
import socket


def writer_tag() -> str:
    """`<host>-<pid>` of this process."""
    return f"{socket.gethostname()}-{os.getpid()}"


def is_dead_writer(tag: str) -> bool:
    """Whether the writer a tag names has certainly stopped writing.

    True for a process of this host that no longer exists, and for this very process (callers
    clean up before they write, so a temporary of their own is a leftover, e.g. of an earlier
    process that had the same PID in a restarted container). A writer on another host cannot be
    checked and counts as alive. A bare `<pid>` (older temporary names) means this host.
    """
    host, _, pid = tag.rpartition("-")
    if not pid.isdigit() or host not in ("", socket.gethostname()):
        return False
    return int(pid) == os.getpid() or not _process_exists(int(pid))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True
