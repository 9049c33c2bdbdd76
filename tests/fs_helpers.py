"""Helpers for tests of read-only folders and of leftovers of killed writers."""
from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import sys

import pytest

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def make_read_only(path: str) -> None:
    """Removes the write bits of `path` and of everything under it."""
    for folder, _dirs, files in os.walk(path):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)


def make_writable(path: str) -> None:
    """Undoes make_read_only (so pytest can remove its tmp_path)."""
    for folder, _dirs, files in os.walk(path):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def _drop_permission_override() -> None:
    """Runs in the child before exec: without these capabilities root obeys permission bits."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _write_fails(folder: str, run_kwargs: dict) -> bool:
    probe = os.path.join(folder, "probe")
    code = f"open({probe!r}, 'w').close()"
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True,
                              **run_kwargs).returncode != 0
    finally:
        if os.path.exists(probe):
            os.remove(probe)


def permission_run_kwargs(read_only_dir: str) -> dict:
    """subprocess.run keyword arguments under which writing into `read_only_dir` (made read-only
    by make_read_only) fails; skips the test where the OS ignores permission bits.

    Root ignores permission bits; its child processes then run without CAP_DAC_OVERRIDE (and
    CAP_DAC_READ_SEARCH), which makes them obey the bits like any user.
    """
    if _write_fails(read_only_dir, {}):
        return {}
    if os.geteuid() == 0:
        kwargs = {"preexec_fn": _drop_permission_override}
        try:
            if _write_fails(read_only_dir, kwargs):
                return kwargs
        except subprocess.SubprocessError:  # the capability could not be dropped
            pass
    pytest.skip("this OS lets the test process write into a folder without write permission "
                "(root that cannot drop CAP_DAC_OVERRIDE, or a file system ignoring the bits)")


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def host_tag(pid: int) -> str:
    """The writer tag (utils/writers.py) of process `pid` on this host."""
    return f"{socket.gethostname()}-{pid}"
