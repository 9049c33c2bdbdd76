"""The launcher against a stand-in program (tests/distribute/launch_stub.py, no TensorFlow):
TF_CONFIG per task, prefixed logs, restarts, stops, signals, no process left behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO

from easy_rec.distribute import launch

from .launch_stub import running as alive

STUB_DIR = os.path.dirname(os.path.abspath(__file__))
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, STUB_DIR]))
LAUNCH = [sys.executable, "-m", "easy_rec.distribute.launch", "--program", "launch_stub",
          "--restart_delay_s", "0", "--stop_timeout_s", "5"]
NEVER = ["--chief_waits_for", "1000"]   # a chief that runs until it is stopped


def command(out_dir, launcher_args, stub_args):
    OUT_DIRS.add(str(out_dir))
    return [*LAUNCH, *launcher_args, "--", "--out", str(out_dir), *stub_args]


def run_launcher(out_dir, launcher_args, stub_args):
    return subprocess.run(command(out_dir, launcher_args, stub_args), env=ENV, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


OUT_DIRS: set[str] = set()   # every job's output folder, for the clean-up after a failure


def starts(out_dir) -> list[dict]:
    """Every start of a stand-in task, in order: {"name", "pid", "tf_config"[, "child_pid"]}."""
    OUT_DIRS.add(str(out_dir))
    path = os.path.join(out_dir, "starts.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def names(records) -> list[str]:
    return sorted(r["name"] for r in records)




def pids(records) -> list[int]:
    return [r[key] for r in records for key in ("pid", "child_pid") if key in r]


@pytest.fixture(scope="module", autouse=True)
def no_leftovers():
    """Kills what a failed test left running (a passing test has checked that nothing is)."""
    yield
    for out_dir in OUT_DIRS:
        for pid in pids(starts(out_dir)):
            if alive(pid) and stand_in(pid):
                os.kill(pid, signal.SIGKILL)


def stand_in(pid: int) -> bool:
    """Whether `pid` is still a stand-in task or its child (not a process that got the PID
    later)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command_line = f.read()
    except FileNotFoundError:
        return False
    return b"launch_stub" in command_line or b"import time; time.sleep" in command_line


def wait_for_starts(out_dir, count: int, launcher: subprocess.Popen) -> list[dict]:
    deadline = time.monotonic() + 60
    while len(starts(out_dir)) < count and time.monotonic() < deadline:
        assert launcher.poll() is None, launcher.communicate()
        time.sleep(0.05)
    return starts(out_dir)


def summary_rows(stderr: str) -> dict[str, str]:
    """Task name -> its summary row."""
    rows = stderr.split("easy_rec.distribute.launch ", 1)[1].splitlines()[2:]
    return {row.split()[0]: row for row in rows if row.startswith("  ")}


@pytest.fixture(scope="module")
def full_cluster(tmp_path_factory):
    """One job of 1 chief, 2 workers, 2 ps and an evaluator whose chief finishes once all six
    have started; worker:1 starts a child process of its own; the evaluator exits 0 once the
    chief has ended."""
    out = tmp_path_factory.mktemp("full")
    done = run_launcher(out, ["--num_workers", "2", "--num_ps", "2", "--evaluator",
                              "--evaluator_timeout_s", "100"],
                        ["--chief_waits_for", "6", "--spawn_child", "worker:1",
                         "--exit_after_chief", "evaluator:0"])
    return done, starts(out)


@pytest.mark.slow
def test_each_task_gets_its_tf_config_in_easyrec_layout(full_cluster):
    done, records = full_cluster
    assert done.returncode == 0, done.stderr[-3000:]
    assert names(records) == ["chief:0", "evaluator:0", "ps:0", "ps:1", "worker:0", "worker:1"]
    configs = {r["name"]: r["tf_config"] for r in records}
    cluster = configs["chief:0"]["cluster"]
    assert sorted(cluster) == ["chief", "ps", "worker"]          # no evaluator in the cluster
    assert [len(cluster[k]) for k in ("chief", "worker", "ps")] == [1, 2, 2]
    addresses = cluster["chief"] + cluster["worker"] + cluster["ps"]
    assert len(set(addresses)) == 5 and all(a.startswith("127.0.0.1:") for a in addresses)
    for name, config in configs.items():
        kind, index = name.split(":")
        assert config == {"cluster": cluster, "task": {"type": kind, "index": int(index)}}


@pytest.mark.slow
def test_every_line_is_prefixed_with_its_task(full_cluster):
    done, records = full_cluster
    for record in records:
        name = record["name"]
        assert f"[{name}] stdout line from {name}\n" in done.stdout
        assert f"[{name}] stderr line from {name}\n" in done.stderr
    assert "stderr line" not in done.stdout and "stdout line" not in done.stderr


@pytest.mark.slow
def test_chief_success_stops_every_task_and_what_they_started(full_cluster):
    done, records = full_cluster
    assert done.returncode == 0
    assert "easy_rec.distribute.launch succeeded: the chief finished (exit 0)" in done.stderr
    rows = summary_rows(done.stderr)
    assert sorted(rows) == names(records)
    [chief] = [r for r in records if r["name"] == "chief:0"]
    assert rows["chief:0"].split()[1:] == ["1", str(chief["pid"]), "exit", "0"]
    for name in ("worker:0", "worker:1", "ps:0", "ps:1"):
        assert rows[name].endswith("stopped (SIGTERM)"), rows[name]
    assert rows["evaluator:0"].endswith("exit 0")   # it was given the time to finish
    assert any("child_pid" in r for r in records)
    assert [pid for pid in pids(records) if alive(pid)] == []


@pytest.mark.slow
def test_a_failed_worker_is_restarted_alone_with_the_same_tf_config(tmp_path):
    done = run_launcher(tmp_path, ["--num_workers", "2", "--num_ps", "1", "--evaluator",
                                   "--evaluator_timeout_s", "0.2"],
                        ["--chief_waits_for", "6", "--crash", "worker:1",
                         "--crash_after_starts", "5"])
    assert done.returncode == 0, done.stderr[-3000:]
    records = starts(tmp_path)
    assert names(records) == ["chief:0", "evaluator:0", "ps:0", "worker:0", "worker:1",
                              "worker:1"]
    first, second = [r for r in records if r["name"] == "worker:1"]
    assert first["tf_config"] == second["tf_config"] and first["pid"] != second["pid"]
    assert "1 of 3 restarts used (0 of the whole cluster)" in done.stderr
    rows = summary_rows(done.stderr)
    assert rows["worker:1"].split()[1] == "2"
    assert rows["evaluator:0"].endswith("stopped (SIGTERM)")   # its time after the chief is up
    assert [pid for pid in pids(records) if alive(pid)] == []


@pytest.mark.slow
@pytest.mark.parametrize("lost", ["ps:0", "chief:0"])
def test_a_lost_ps_or_chief_restarts_the_whole_cluster(tmp_path, lost):
    done = run_launcher(tmp_path, ["--num_workers", "1", "--num_ps", "1"],
                        ["--chief_waits_for", "6", "--crash", lost, "--crash_after_starts", "3"])
    assert done.returncode == 0, done.stderr[-3000:]
    records = starts(tmp_path)
    assert names(records) == ["chief:0", "chief:0", "ps:0", "ps:0", "worker:0", "worker:0"]
    first_cluster, second_cluster = records[:3], records[3:]
    assert names(first_cluster) == names(second_cluster)
    # the cluster was started again with the same TF_CONFIG values
    assert {r["name"]: r["tf_config"] for r in first_cluster} == \
        {r["name"]: r["tf_config"] for r in second_cluster}
    assert "1 of 3 restarts used (1 of the whole cluster)" in done.stderr
    assert f"{lost} ended (exit 3): the cluster is lost" in done.stderr
    assert [pid for pid in pids(records) if alive(pid)] == []


def test_a_ps_that_exits_0_is_done_not_lost(tmp_path):
    """A ps ends with exit 0 only when the chief has marked the job done; the chief's process
    may still be running then (writing its last lines, exiting): no restart, the job succeeds."""
    done = run_launcher(tmp_path, ["--num_workers", "1", "--num_ps", "1", "--max_restarts", "0"],
                        ["--crash", "ps:0", "--crash_code", "0", "--crash_after_starts", "3",
                         "--chief_after", "ps:0"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert names(starts(tmp_path)) == ["chief:0", "ps:0", "worker:0"]
    rows = summary_rows(done.stderr)
    assert rows["ps:0"].endswith("exit 0") and rows["chief:0"].endswith("exit 0")
    assert "the cluster is lost" not in done.stderr


@pytest.mark.slow
def test_when_restarts_are_used_up_every_task_is_stopped(tmp_path):
    done = run_launcher(tmp_path, ["--num_workers", "1", "--num_ps", "1", "--max_restarts", "2"],
                        [*NEVER, "--crash", "worker:0", "--crash_times", "100",
                         "--crash_after_starts", "3"])
    assert done.returncode == 1
    records = starts(tmp_path)
    assert names(records) == ["chief:0", "ps:0", "worker:0", "worker:0", "worker:0"]
    assert "easy_rec.distribute.launch failed: worker:0 ended (exit 3) and no restart is left" \
        in done.stderr
    rows = summary_rows(done.stderr)
    assert rows["worker:0"].split()[1] == "3" and rows["worker:0"].endswith("exit 3")
    assert rows["chief:0"].endswith("stopped (SIGTERM)")
    assert [pid for pid in pids(records) if alive(pid)] == []


@pytest.mark.slow
def test_sigterm_to_the_launcher_stops_every_task(tmp_path):
    launcher = subprocess.Popen(
        command(tmp_path, ["--num_workers", "1", "--num_ps", "1", "--evaluator"], NEVER),
        env=ENV, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    records = wait_for_starts(tmp_path, 4, launcher)
    launcher.send_signal(signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=60)
    assert launcher.returncode == 128 + signal.SIGTERM
    assert "easy_rec.distribute.launch interrupted: stopped by SIGTERM" in stderr
    assert len(starts(tmp_path)) == 4
    assert [pid for pid in pids(records) if alive(pid)] == []


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_tasks_die_with_a_killed_launcher(tmp_path):
    launcher = subprocess.Popen(command(tmp_path, ["--num_workers", "1", "--num_ps", "1"], NEVER),
                                env=ENV, cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    records = wait_for_starts(tmp_path, 3, launcher)
    launcher.kill()
    launcher.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids(records)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pids(records) if alive(pid)] == []


def test_training_arguments_are_required(capsys):
    with pytest.raises(SystemExit) as exit_:
        launch.main(["--num_workers", "1", "--num_ps", "1"])
    assert exit_.value.code == 2
    assert "give the training arguments after `--`" in capsys.readouterr().err
