"""samples/k8s/tfjob_deepfm.yaml: a TFJob whose replicas all run the same valid easy_rec.train
command on a shared volume."""
from __future__ import annotations

import os

import pytest
from conftest import REPO, SAMPLES

from easy_rec import train

yaml = pytest.importorskip("yaml")


@pytest.fixture(scope="module")
def manifest():
    with open(os.path.join(SAMPLES, "k8s", "tfjob_deepfm.yaml"), encoding="utf-8") as f:
        return {doc["kind"]: doc for doc in yaml.safe_load_all(f)}


def test_every_replica_runs_the_same_training_command(manifest):
    replicas = manifest["TFJob"]["spec"]["tfReplicaSpecs"]
    assert sorted(replicas) == ["Chief", "PS", "Worker"]
    assert replicas["Chief"]["replicas"] == 1
    templates = [spec["template"] for spec in replicas.values()]
    assert all(template == templates[0] for template in templates)
    [container] = templates[0]["spec"]["containers"]
    assert container["name"] == "tensorflow"     # where the operator puts TF_CONFIG
    assert container["command"] == ["python", "-m", "easy_rec.train"]
    args = train.build_parser().parse_args(container["args"])
    # the config and data paths name files of samples/ copied to /shared/samples/
    for path in (args.pipeline_config, args.train_input_path, args.eval_input_path):
        assert path.startswith("/shared/samples/")
        assert os.path.exists(os.path.join(REPO, path.removeprefix("/shared/"))), path


def test_model_dir_is_on_a_volume_every_pod_shares(manifest):
    pod = manifest["TFJob"]["spec"]["tfReplicaSpecs"]["Chief"]["template"]["spec"]
    [container] = pod["containers"]
    args = train.build_parser().parse_args(container["args"])
    [mount] = container["volumeMounts"]
    assert args.model_dir.startswith(mount["mountPath"] + "/")
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    claim = manifest["PersistentVolumeClaim"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
