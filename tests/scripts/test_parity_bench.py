"""scripts/bench/parity_bench.py: EasyRec's thresholded AUC and the bench's config edits."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from conftest import REPO
from google.protobuf import text_format

from easy_rec.protos import pipeline_pb2

_spec = importlib.util.spec_from_file_location(
    "parity_bench", os.path.join(REPO, "scripts", "bench", "parity_bench.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

CONFIG = """
train_input_path: "examples/data/movielens_1m/movies_train_data"
eval_input_path: "examples/data/movielens_1m/movies_test_data"
model_dir: "examples/ckpt/x"
data_config { batch_size: 1024 num_epochs: 1 label_fields: "label" }
feature_config {
  features { input_names: "user_id" feature_type: IdFeature embedding_dim: 4 hash_bucket_size: 10 }
  features {
    input_names: "title" feature_type: SequenceFeature separator: " " embedding_dim: 4
    hash_bucket_size: 10 sequence_combiner { text_cnn { filter_sizes: [2] num_filters: [4] } }
  }
}
model_config {
  model_class: "RankModel"
  model_name: "multi tower"
  model_params { l2_regularization: 1e-4 }
  embedding_regularization: 1e-4
}
"""


def test_easyrec_auc_bins_scores_into_200_thresholds():
    labels = np.array([1, 0, 1, 0])
    assert bench.easyrec_auc(labels, np.array([0.9, 0.1, 0.6, 0.4])) == pytest.approx(1.0)
    # 0.502 and 0.501 fall between the thresholds 99/199 and 100/199: EasyRec cannot order
    # them (a tie, 0.5), the exact AUC can (1.0)
    assert bench.easyrec_auc(np.array([1, 0]), np.array([0.502, 0.501])) == pytest.approx(0.5)
    assert bench.easyrec_auc(np.array([1, 0]), np.array([0.51, 0.501])) == pytest.approx(1.0)


def test_edited_config(tmp_path):
    path = tmp_path / "multi_tower_on_movielens.config"
    path.write_text(CONFIG, encoding="utf-8")
    text, edits = bench.edited_config_text(str(path), "/data", "/tmp/m", 7)
    config = text_format.Parse(text, pipeline_pb2.EasyRecConfig())
    assert (config.train_input_path, config.eval_input_path, config.model_dir) == (
        "/data/movies_train_data", "/data/movies_test_data", "/tmp/m")
    assert (config.data_config.num_epochs, config.train_config.seed) == (10, 7)
    assert config.export_config.exporter_type == "none"
    title = config.feature_config.features[1]
    assert title.feature_type == title.TagFeature and not title.HasField("sequence_combiner")
    assert edits == ["title: SequenceFeature with sequence_combiner read as TagFeature"]
    assert config.model_config == text_format.Parse(CONFIG, pipeline_pb2.EasyRecConfig()).model_config
