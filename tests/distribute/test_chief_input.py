"""The chief's reader of Python-made inputs, in one process against a real broker: it reads
every partition whatever the chief's place in TF_CONFIG, and the saved position moves past
the batches handed out only when they are reported trained."""
from __future__ import annotations

import json

import pytest
from kafka_helpers import fill, kafka_config, movielens_lines, new_topic

from easy_rec.distribute.chief_input import ChiefInput, reads_in_python
from easy_rec.input.column_plan import build_column_plan
from easy_rec.input.kafka_input import OFFSETS_KEY

pytestmark = pytest.mark.slow  # reads from a Kafka broker


def test_position_moves_past_batches_only_once_trained(kafka_broker, tmp_path, monkeypatch):
    servers = kafka_broker.servers
    topic = new_topic(servers, "chief_input")
    fill(servers, topic, movielens_lines(40))
    config = kafka_config(str(tmp_path / "model"), servers, topic, **{
        "data_config.batch_size": 8, "data_config.num_epochs": 1})
    assert reads_in_python(config)
    # as the chief of chief + worker: a worker's reader would get only partition 0 of 2
    monkeypatch.setenv("TF_CONFIG", json.dumps({
        "cluster": {"chief": ["h:1"], "worker": ["h:2"], "ps": ["h:3"]},
        "task": {"type": "chief", "index": 0}}))
    reader = ChiefInput(config, build_column_plan(config))
    items = reader.checkpoint_items()
    assert items["kafka_partitions"].numpy().tolist() == [0, 1]
    reader.start(resumed=False)
    try:
        batches = [reader.step_args()[0] for _ in range(2)]
        assert items["kafka_offsets"].numpy().tolist() == [0, 0]  # handed out, not trained
        reader.trained()
        assert (items["kafka_offsets"].numpy().tolist()
                == batches[-1][OFFSETS_KEY].numpy().tolist())
        while reader.step_args() is not None:
            pass
        reader.trained()
        assert int(sum(items["kafka_offsets"].numpy())) == 40
    finally:
        reader.close()
