"""Streaming benchmark: DeepFM examples/s trained from Kafka vs from the same data as CSV.

In one process: writes samples/data/movielens_train.csv to a 2-partition topic of a local
Kafka-protocol broker (noida-db, started here unless --servers is given), then trains
samples/deepfm_on_movielens.config for one epoch from the CSV file, and
samples/deepfm_on_kafka.config for one pass over the topic (num_epochs: 1), without and with
the drift guard. Evaluation and export are off. Prints one JSON line.

Usage: python scripts/bench/stream_bench.py [--servers host:port] [--work_dir D]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))  # the broker launcher lives with the tests
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kafka_broker import KafkaBroker  # noqa: E402

from easy_rec.pipeline import load_pipeline_config  # noqa: E402
from easy_rec.tools.write_kafka import ensure_topic, file_messages, write_messages  # noqa: E402
from easy_rec.training.trainer import Trainer  # noqa: E402

TRAIN_CSV = os.path.join(REPO, "samples", "data", "movielens_train.csv")
TOPIC = "stream_bench"


def run(config) -> dict:
    """Trains `config` in process; its training-loop figures."""
    trainer = Trainer(config, base_dir=os.path.join(REPO, "samples"))
    trainer.train()
    stats = trainer.train_stats
    return {"examples": int(stats["examples"]), "steps": int(stats["steps"]),
            "train_seconds": round(stats["seconds"], 2),
            "examples_per_sec": round(stats["examples_per_sec"], 1)}


def csv_config(model_dir: str):
    return load_pipeline_config(os.path.join(REPO, "samples", "deepfm_on_movielens.config"), {
        "model_dir": model_dir, "train_input_path": TRAIN_CSV, "eval_input_path": "",
        "data_config.num_epochs": 1, "export_config.exporter_type": "none"}).config


def kafka_config(model_dir: str, servers: str, drift_guard: bool):
    config = load_pipeline_config(os.path.join(REPO, "samples", "deepfm_on_kafka.config"), {
        "model_dir": model_dir, "kafka_train_input.server": servers,
        "kafka_train_input.topic": TOPIC, "kafka_train_input.group": "",
        "export_config.exporter_type": "none", "export_config.export_every_n_steps": 0}).config
    config.ClearField("kafka_eval_input")
    if not drift_guard:
        config.ClearField("drift_guard")
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=None, help="use this broker instead of noida-db")
    parser.add_argument("--work_dir", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = args.work_dir or tempfile.mkdtemp(prefix="easy_rec_stream_bench_")
    broker = None
    servers = args.servers
    if servers is None:
        broker = KafkaBroker(os.path.join(work, "broker"))
        broker.start()
        servers = broker.servers
    try:
        ensure_topic(servers, TOPIC, 2)
        start = time.time()
        counts = write_messages(servers, TOPIC, file_messages([TRAIN_CSV], "\t", None, False))
        produce_seconds = time.time() - start
        csv = run(csv_config(os.path.join(work, "csv")))
        kafka = run(kafka_config(os.path.join(work, "kafka"), servers, drift_guard=False))
        guarded = run(kafka_config(os.path.join(work, "kafka_guard"), servers, drift_guard=True))
    finally:
        if broker is not None:
            broker.stop()
    messages = sum(counts.values())
    print(json.dumps({
        "bench": "stream", "model": "DeepFM (samples/deepfm_on_*.config), batch 1024, 1 epoch",
        "messages": messages, "produce_messages_per_sec": round(messages / produce_seconds, 1),
        "csv": csv, "kafka": kafka, "kafka_with_drift_guard": guarded,
        "kafka_vs_csv": round(kafka["examples_per_sec"] / csv["examples_per_sec"], 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
