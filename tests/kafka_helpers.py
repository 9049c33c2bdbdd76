"""Helpers of the Kafka tests: topics filled with sample rows, configs that train from them."""
from __future__ import annotations

import os
import uuid

from conftest import SAMPLES, sample_rows

from easy_rec.pipeline import load_pipeline_config
from easy_rec.tools.write_kafka import ensure_topic, write_messages

KAFKA_SAMPLE = os.path.join(SAMPLES, "deepfm_on_kafka.config")


def new_topic(servers: str, name: str, partitions: int = 2) -> str:
    """A fresh topic `<name>_<random>` with `partitions` partitions."""
    topic = f"{name}_{uuid.uuid4().hex[:8]}"
    ensure_topic(servers, topic, partitions)
    return topic


def fill(servers: str, topic: str, lines: list[str], first_key: int = 0,
         timestamp_ms: int | None = None) -> list[str]:
    """Writes `lines` keyed first_key, first_key + 1, ...; returns the keys."""
    keys = [str(first_key + i) for i in range(len(lines))]
    write_messages(servers, topic, ((k.encode(), line.rstrip("\n").encode())
                                    for k, line in zip(keys, lines)), timestamp_ms)
    return keys


def movielens_lines(count: int) -> list[str]:
    """The first `count` rows of the MovieLens training sample."""
    return sample_rows("movielens_train.csv", count)


def kafka_config(model_dir: str, servers: str, topic: str, guard: bool = False, **edits):
    """samples/deepfm_on_kafka.config reading `topic`, small batches, no eval; drift_guard
    cleared unless `guard`."""
    all_edits = {
        "model_dir": model_dir, "kafka_train_input.server": servers,
        "kafka_train_input.topic": topic, "kafka_train_input.group": "tests",
        "data_config.batch_size": 64, "data_config.prefetch_size": 2,
        "train_config.save_checkpoints_steps": 1000, "train_config.log_step_count_steps": 1000,
        "export_config.exporter_type": "none", "export_config.export_every_n_steps": 0,
    }
    all_edits.update(edits)
    config = load_pipeline_config(KAFKA_SAMPLE, all_edits).config
    config.ClearField("kafka_eval_input")
    if not guard:
        config.ClearField("drift_guard")
    return config
