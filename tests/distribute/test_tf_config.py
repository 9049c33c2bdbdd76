"""TF_CONFIG roles as EasyRec reads them, and the mode train_distribute picks with a cluster."""
from __future__ import annotations

import json
import os

import pytest
from conftest import SAMPLES

from easy_rec.config.errors import ConfigError
from easy_rec.distribute.mode import Mode, ModeError, choose_mode
from easy_rec.distribute.tf_config import ClusterInfo, TFConfigError, read_tf_config
from easy_rec.pipeline import load_pipeline_config
from easy_rec.protos import train_pb2

CLUSTER = {"chief": ["h:1"], "worker": ["h:2", "h:3"], "ps": ["h:4", "h:5"],
           "evaluator": ["h:6"]}


def _env(task_type: str, index: int, cluster: dict | None = None) -> dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": cluster or CLUSTER,
                                     "task": {"type": task_type, "index": index}})}


def test_without_tf_config_one_master() -> None:
    info = read_tf_config({})
    assert (info.task_type, info.is_chief, info.is_distributed, info.has_ps) == (
        "master", True, False, False)
    assert (info.trainer_index, info.num_trainers) == (0, 1)


@pytest.mark.parametrize("task, index, trainer_index, chief", [
    ("chief", 0, 0, True), ("worker", 0, 1, False), ("worker", 1, 2, False),
    ("ps", 1, 0, False), ("evaluator", 0, 0, False)])
def test_roles_number_trainers_chief_first(task: str, index: int, trainer_index: int,
                                           chief: bool) -> None:
    info = read_tf_config(_env(task, index))
    assert (info.trainer_index, info.num_trainers, info.is_chief) == (trainer_index, 3, chief)
    assert info.has_ps and info.has_evaluator and info.num_workers == 2


def test_master_is_the_chief_for_tensorflow() -> None:
    cluster = {"master": ["h:1"], "worker": ["h:2"], "ps": ["h:3"]}
    info = read_tf_config(_env("master", 0, cluster))
    assert info.is_chief and info.tf_task_type == "chief"
    assert info.tf_cluster() == {"chief": ["h:1"], "worker": ["h:2"], "ps": ["h:3"]}
    assert read_tf_config(_env("worker", 0, cluster)).trainer_index == 1


def test_workers_without_chief_number_from_zero() -> None:
    info = read_tf_config(_env("worker", 1, {"worker": ["h:1", "h:2"]}))
    assert (info.trainer_index, info.num_trainers, info.is_chief) == (1, 2, False)


def test_an_evaluator_outside_the_cluster_is_read() -> None:
    """The launcher's (and EasyRec's) layout: the evaluator is not in the cluster dict."""
    cluster = {"chief": ["h:1"], "worker": ["h:2"], "ps": ["h:3"]}
    info = read_tf_config(_env("evaluator", 0, cluster))
    assert info.is_evaluator and not info.is_chief and not info.has_evaluator
    with pytest.raises(TFConfigError, match="one evaluator"):
        read_tf_config(_env("evaluator", 1, cluster))


@pytest.mark.parametrize("raw, message", [
    ("{", "not JSON"), ('{"cluster": {"boss": ["h:1"]}, "task": {"type": "boss"}}', "unknown jobs"),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 3}}',
     "worker:3 is not in the cluster"),
    ('{"cluster": {"chief": ["h:1"], "master": ["h:2"]}, "task": {"type": "chief"}}',
     "one chief")])
def test_malformed_tf_config(raw: str, message: str) -> None:
    with pytest.raises(TFConfigError, match=message):
        read_tf_config({"TF_CONFIG": raw})


def _train_config(strategy: str) -> train_pb2.TrainConfig:
    config = train_pb2.TrainConfig()
    config.train_distribute = train_pb2.DistributionStrategy.Value(strategy)
    return config


@pytest.mark.parametrize("strategy, cluster, mode", [
    ("NoStrategy", {}, Mode.SINGLE),
    ("NoStrategy", {"chief": ["h:1"], "worker": ["h:2"], "ps": ["h:3"]}, Mode.PS),
    ("PSStrategy", {"chief": ["h:1"], "worker": ["h:2"], "ps": ["h:3"]}, Mode.PS),
    ("MultiWorkerMirroredStrategy", {"chief": ["h:1"], "worker": ["h:2"]}, Mode.MULTI_WORKER),
    ("CollectiveAllReduceStrategy", {"worker": ["h:1", "h:2"]}, Mode.MULTI_WORKER),
    ("MirroredStrategy", {}, Mode.MIRRORED)])
def test_modes(strategy: str, cluster: dict, mode: Mode) -> None:
    info = ClusterInfo(cluster, "chief" if "chief" in cluster else "worker") if cluster \
        else ClusterInfo()
    assert choose_mode(_train_config(strategy), info) == mode


@pytest.mark.parametrize("strategy, cluster, message", [
    ("PSStrategy", {"chief": ["h:1"], "worker": ["h:2"]}, "needs ps tasks"),
    ("NoStrategy", {"chief": ["h:1"], "worker": ["h:2"]}, "workers but no ps"),
    ("MultiWorkerMirroredStrategy", {"chief": ["h:1"], "ps": ["h:2"]}, "without ps tasks"),
    ("MirroredStrategy", {"chief": ["h:1"], "worker": ["h:2"]}, "one process")])
def test_mismatched_modes(strategy: str, cluster: dict, message: str) -> None:
    with pytest.raises(ModeError, match=message):
        choose_mode(_train_config(strategy), ClusterInfo(cluster, "chief"))


def _load(tmp_path, text: str, task: str = "chief", cluster: dict | None = None,
          monkeypatch=None) -> None:
    monkeypatch.setenv("TF_CONFIG", _env(task, 0, cluster or CLUSTER)["TF_CONFIG"])
    base = open(os.path.join(SAMPLES, "deepfm_on_movielens.config"), encoding="utf-8").read()
    path = tmp_path / "c.config"
    path.write_text(base + text, encoding="utf-8")
    load_pipeline_config(str(path), {"train_input_path": os.path.join(
        SAMPLES, "data", "movielens_train.csv")})


@pytest.mark.parametrize("text, cluster, message", [
    ("train_config { sync_replicas: true }", None, r"c.config:\d+: train_config.sync_replicas: "
     "sync_replicas: true asks for synchronous"),
    ("train_config { train_distribute: MultiWorkerMirroredStrategy }",
     {"chief": ["h:1"], "worker": ["h:2"]}, "MultiWorkerMirroredStrategy needs num_steps"),
    ("train_config { train_distribute: MultiWorkerMirroredStrategy num_steps: 5 } "
     "data_config { chief_redundant: true }", {"chief": ["h:1"], "worker": ["h:2"]},
     "chief_redundant"),
    ("train_config { train_distribute: MultiWorkerMirroredStrategy num_steps: 5 } "
     "data_config { chief_reads_input: true }", {"chief": ["h:1"], "worker": ["h:2"]},
     r"c.config:\d+: data_config.chief_reads_input: .* belongs to parameter-server"),
    ("train_config { train_distribute: HorovodStrategy }", None, "Horovod is not part")])
def test_distribution_config_errors(tmp_path, monkeypatch, text: str, cluster, message: str):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text, cluster=cluster, monkeypatch=monkeypatch)


def test_drift_guard_refused_with_parameter_servers(monkeypatch) -> None:
    """The Kafka sample's drift guard cannot watch steps that run on the workers."""
    monkeypatch.setenv("TF_CONFIG", _env("chief", 0)["TF_CONFIG"])
    with pytest.raises(ConfigError, match=r"drift_guard: .*with parameter servers"):
        load_pipeline_config(os.path.join(SAMPLES, "deepfm_on_kafka.config"))


def test_chief_redundant_in_one_process_is_accepted(tmp_path, monkeypatch) -> None:
    """As in EasyRec, where it leaves the single process reading everything."""
    _load(tmp_path, "data_config { chief_redundant: true }", cluster={"chief": ["h:1"]},
          monkeypatch=monkeypatch)


def test_ps_job_config_accepted(tmp_path, monkeypatch) -> None:
    """EasyRec's PS configs: sync_replicas left at its default, chief_redundant set (and
    easy_rec's chief_reads_input)."""
    _load(tmp_path, "train_config { train_distribute: PSStrategy } "
          "data_config { chief_redundant: true chief_reads_input: true }", monkeypatch=monkeypatch)
