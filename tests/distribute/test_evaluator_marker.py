"""How the chief learns of an evaluator task: TF_CONFIG's cluster, else the marker a running
evaluator keeps in model_dir (one left by a killed evaluator of this host does not count)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from easy_rec.distribute.cluster import (
    EVALUATOR_MARKER,
    announce_evaluator,
    separate_evaluator,
)
from easy_rec.distribute.tf_config import ClusterInfo

LAUNCHER_LAYOUT = ClusterInfo({"chief": ["h:1"], "worker": ["h:2"], "ps": ["h:3"]}, "chief", 0)


def test_an_evaluator_in_the_cluster_counts(tmp_path):
    listed = ClusterInfo({"chief": ["h:1"], "evaluator": ["h:9"]}, "chief", 0)
    assert separate_evaluator(listed, str(tmp_path))
    assert not separate_evaluator(LAUNCHER_LAYOUT, str(tmp_path))


def _mark(model_dir, pid: int) -> None:
    with open(os.path.join(model_dir, EVALUATOR_MARKER), "w") as f:
        f.write(f"{socket.gethostname()}-{pid}\n")


def test_a_running_evaluator_counts_a_dead_one_not(tmp_path):
    assert announce_evaluator(str(tmp_path)) == os.path.join(tmp_path, EVALUATOR_MARKER)
    evaluator = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _mark(tmp_path, evaluator.pid)
        assert separate_evaluator(LAUNCHER_LAYOUT, str(tmp_path))
    finally:
        os.kill(evaluator.pid, signal.SIGKILL)
        evaluator.wait()
    assert not separate_evaluator(LAUNCHER_LAYOUT, str(tmp_path))
