"""TF_CONFIG values of a local cluster: EasyRec's layout, distinct free loopback ports."""
from __future__ import annotations

import json
import socket

from easy_rec.distribute.cluster_spec import (
    Task,
    cluster_tasks,
    free_ports,
    local_cluster,
    tf_config,
)


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(8)
    assert len(set(ports)) == 8
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_local_cluster_has_one_chief_then_workers_and_ps_on_loopback():
    cluster = local_cluster(num_workers=2, num_ps=3)
    assert list(cluster) == ["chief", "worker", "ps"]
    assert [len(cluster[k]) for k in cluster] == [1, 2, 3]
    addresses = [a for kind in cluster.values() for a in kind]
    assert len(set(addresses)) == 6
    assert all(a.startswith("127.0.0.1:") for a in addresses)


def test_a_task_type_without_tasks_is_left_out():
    assert list(local_cluster(num_workers=0, num_ps=0)) == ["chief"]
    assert list(local_cluster(num_workers=2, num_ps=0)) == ["chief", "worker"]


def test_tasks_come_chief_first_and_the_evaluator_stays_outside_the_cluster():
    cluster = local_cluster(num_workers=2, num_ps=1)
    tasks = cluster_tasks(cluster, evaluator=True)
    assert [t.name for t in tasks] == ["chief:0", "worker:0", "worker:1", "ps:0", "evaluator:0"]
    assert "evaluator" not in cluster
    value = json.loads(tf_config(cluster, Task("evaluator", 0)))
    assert value == {"cluster": cluster, "task": {"type": "evaluator", "index": 0}}
    assert json.loads(tf_config(cluster, Task("worker", 1)))["task"] == {"type": "worker",
                                                                           "index": 1}
