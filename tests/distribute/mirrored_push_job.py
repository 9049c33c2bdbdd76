"""A MirroredStrategy job over 2 logical CPUs of one process (the devices must be set up before
TensorFlow starts, hence its own process), of the small model (cluster_helpers), that pushes touched rows to the embedding store
every 4 steps. Prints one JSON line: the pushes committed into the current version, per
stored table whether Redis holds the trained rows of every id, and how many ids the first
delta push carried.

Usage: python tests/distribute/mirrored_push_job.py ROOT REDIS_URL MODEL_NAME
(ROOT holds train.csv and test.csv; the model goes to ROOT/model)."""
import json
import os
import sys

import numpy as np
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from cluster_helpers import small_model  # noqa: E402
from pipeline_helpers import sample_config  # noqa: E402

from easy_rec.distribute.mirrored import MirroredTrainer  # noqa: E402
from easy_rec.distribute.mode import Mode  # noqa: E402
from easy_rec.distribute.tf_config import ClusterInfo  # noqa: E402

BATCH, STEPS, PUSH_EVERY = 32, 8, 4


def main() -> None:
    root, url, model_name = sys.argv[1:4]
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    config = sample_config("deepfm", f"{root}/model", f"{root}/train.csv", f"{root}/test.csv", **{
        "data_config.batch_size": BATCH, "data_config.num_epochs": 0,
        "train_config.num_steps": STEPS, "train_config.train_distribute": "MirroredStrategy",
        "export_config.exporter_type": "none",
        "export_config.embedding_store.redis_url": url,
        "export_config.embedding_store.model_name": model_name,
        "export_config.embedding_store.min_rows_to_store": 1000,
        "export_config.embedding_store.push_every_n_steps": PUSH_EVERY})
    small_model(config)
    trainer = MirroredTrainer(config, ClusterInfo(), Mode.MIRRORED,
                              base_dir=os.path.join(os.path.dirname(HERE), "..", "samples"))
    trainer.train()
    store = trainer.pusher.store
    info = store.version_info(store.current_version())
    records, _ = store.pushes_after(info.version, None)
    out = {"replicas": trainer.strategy.num_replicas_in_sync,
           "pushes": [[r.push, r.full] for r in records], "equal": {}, "pushed": {}}
    for name, table in trainer.pusher.tables.items():
        rows, missing = store.read_rows(info, {name: np.arange(table.num_ids)})
        trained = tf.convert_to_tensor(table.weights).numpy()
        out["equal"][name] = bool(missing == 0 and np.array_equal(rows[name], trained))
        out["pushed"][name] = len(records[0].ids[name])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
