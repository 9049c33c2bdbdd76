"""easy_rec.utils.writers: a writer tag tells a killed writer's leftovers from live work."""
from __future__ import annotations

import os
import subprocess
import sys

from fs_helpers import dead_pid, host_tag

from easy_rec.utils.writers import is_dead_writer, writer_tag


def test_exited_process_on_this_host_is_dead():
    assert is_dead_writer(host_tag(dead_pid()))
    assert is_dead_writer(str(dead_pid()))  # older names: a bare PID


def test_running_process_is_alive():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not is_dead_writer(host_tag(proc.pid))
    finally:
        proc.kill()
        proc.wait()


def test_this_process_counts_as_dead_for_its_own_start_up_cleanup():
    assert writer_tag() == host_tag(os.getpid())
    assert is_dead_writer(writer_tag())


def test_writer_on_another_host_counts_as_alive():
    assert not is_dead_writer(f"some-other-host.example-{dead_pid()}")
    assert not is_dead_writer("not-a-tag")
