"""Embedding pushes under all-reduce training: MirroredStrategy with 2 replicas in one process
(tests/distribute/mirrored_push_job.py). Every replica's touched rows reach the push, and Redis
ends equal to the trained tables."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, sample_rows

pytestmark = pytest.mark.slow

JOB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mirrored_push_job.py")


def test_pushes_carry_the_rows_every_replica_touched(redis_server, tmp_path):
    (tmp_path / "train.csv").write_text("".join(sample_rows("movielens_train.csv", 400)))
    (tmp_path / "test.csv").write_text("".join(sample_rows("movielens_test.csv", 64)))
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, JOB, str(tmp_path), redis_server.url,
                           f"mirrored_push_{os.getpid()}"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["pushes"] == [[1, False]]   # the version at step 4, a delta at step 8
    assert result["equal"] and all(result["equal"].values()), result["equal"]
    # the delta's 4 steps saw 4 x 2 replicas x 32 rows; one replica's rows hold at most 128
    # users: more means both replicas' marks reached the chief's push
    users = result["pushed"]["user_id_embedding"]
    assert 128 < users <= 256, users
