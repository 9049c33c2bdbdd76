"""The backbone samples (samples/backbone/*.config): every one builds and learns on a batch;
every one trains 20 steps, evaluates and exports, and its export serves what the model
computes (one shared training fixture)."""
from __future__ import annotations

import glob
import os
from collections.abc import Callable

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, SAMPLES, sample_rows

from easy_rec.input.reader import build_reader
from easy_rec.models.backbone.network import LOSS_PREFIX
from easy_rec.models.backbone.spec import BackboneError
from easy_rec.models.builder import build_model, model_column_plan
from easy_rec.pipeline import load_pipeline_config
from easy_rec.training.trainer import Trainer

SAMPLE_FILES = {os.path.basename(p).removesuffix("_backbone_on_movielens.config"): p
                for p in sorted(glob.glob(os.path.join(SAMPLES, "backbone", "*.config")))}
STEPS = 20


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[str, str]:
    """(train, test) slices of the MovieLens sequence tables: 1,500 / 200 rows."""
    folder = tmp_path_factory.mktemp("backbone_data")
    paths = []
    for name, rows in (("movielens_seq_train.csv", 1500), ("movielens_seq_test.csv", 200)):
        (folder / name).write_text("".join(sample_rows(name, rows)), encoding="utf-8")
        paths.append(str(folder / name))
    return paths[0], paths[1]


def sample_config(sample: str, model_dir: str, data: tuple[str, str]):
    return load_pipeline_config(SAMPLE_FILES[sample], {
        "model_dir": model_dir, "train_input_path": data[0], "eval_input_path": data[1],
        "data_config.batch_size": 64, "data_config.num_epochs": 0,
        "train_config.num_steps": STEPS, "train_config.save_checkpoints_steps": 1000,
        "export_config.exporter_type": "final"}).config


def batch_of(config, model, size: int = 64) -> dict[str, tf.Tensor]:
    reader = build_reader(config.data_config, config.eval_input_path,
                          model_column_plan(config, model))
    return next(iter(reader.make_dataset(size, num_epochs=1, shuffle=False)))


def test_the_required_samples_exist():
    assert {"deepfm", "dcn", "dlrm", "wide_and_deep", "masknet", "fibinet", "dbmtl",
            "dssm"} <= set(SAMPLE_FILES)


@pytest.mark.parametrize("sample", sorted(SAMPLE_FILES))
def test_sample_builds_and_every_weight_gets_a_gradient(sample, data, tmp_path):
    config = sample_config(sample, str(tmp_path), data)
    tf.random.set_seed(3)
    model = build_model(config, REPO)
    batch = batch_of(config, model)
    with tf.GradientTape() as tape:
        outputs = model(batch, training=True)
        loss = model.loss(outputs, batch)
    assert np.isfinite(float(loss))
    backbone_vars = model.backbone.trainable_variables
    grads = tape.gradient(loss, backbone_vars)
    missing = [v.name for v, g in zip(backbone_vars, grads) if g is None]
    assert not missing, f"{sample}: no gradient for {missing}"
    auxiliary = [k for k in outputs if k.startswith(LOSS_PREFIX)]
    assert bool(auxiliary) == ("AuxiliaryLoss" in str(config.model_config.backbone)), auxiliary


def test_match_towers_read_only_their_own_columns(data, tmp_path):
    config = sample_config("dssm", str(tmp_path), data)
    model = build_model(config, REPO)
    assert model.user_groups == ("user",) and model.item_groups == ("item",)
    assert set(model.user_input_names) == {"user_id", "gender", "age", "job_id", "zip_id"}
    assert set(model.item_input_names) == {"movie_id", "genres", "title", "year"}
    batch = batch_of(config, model, 8)
    users, _ = model.embed_users({k: batch[k] for k in model.user_input_names})
    outputs = model(batch, training=False)
    np.testing.assert_allclose(users.numpy(), outputs["user_emb"].numpy(), rtol=1e-5)
    assert set(model.extra_signatures()) == {"user_embedding", "item_embedding"}


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Callable[[str], tuple[Trainer, dict]]:
    """Trains a sample STEPS steps (evaluated, exported) on first request and keeps the
    (trainer, results) for the module's other tests."""
    runs: dict[str, tuple[Trainer, dict]] = {}

    def get(sample: str) -> tuple[Trainer, dict]:
        if sample not in runs:
            config = sample_config(sample, str(tmp_path_factory.mktemp(sample)), data)
            tf.random.set_seed(7)
            trainer = Trainer(config, base_dir=REPO)
            runs[sample] = (trainer, trainer.train())
        return runs[sample]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("sample", sorted(SAMPLE_FILES))
def test_sample_trains_evaluates_exports_and_serves(sample, trained):
    trainer, results = trained(sample)
    assert int(trainer.global_step) == STEPS
    assert results and all(np.isfinite(v) for v in results.values() if isinstance(v, float))
    exports = glob.glob(os.path.join(trainer.config.model_dir, "export", "final", "[0-9]*"))
    assert len(exports) == 1
    model = trainer.model
    batch = batch_of(trainer.config, model, 16)
    inputs = {name: batch[name] for name in model.serving_input_names}
    expected = model.serving_outputs(model(inputs, training=False))
    served = tf.saved_model.load(exports[0]).signatures["serving_default"](**inputs)
    for key, value in expected.items():
        np.testing.assert_allclose(served[key].numpy(), value.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=f"{sample}: {key}")


def test_model_params_outputs_export_named_blocks(data, tmp_path):
    config = sample_config("components", str(tmp_path), data)
    assert list(config.model_config.model_params.outputs) == ["attention_pooled"]
    model = build_model(config, REPO)
    batch = batch_of(config, model, 8)
    served = model.serving_outputs(model(batch, training=False))
    assert {"probs", "logits", "attention_pooled"} <= set(served)
    assert served["attention_pooled"].shape == [8, 16]


def test_model_params_outputs_name_blocks_or_model_outputs(data, tmp_path):
    config = sample_config("components", str(tmp_path), data)
    config.model_config.model_params.outputs[:] = ["logits", "nowhere"]
    model = build_model(config, REPO)
    outputs = model(batch_of(config, model, 4), training=False)
    with pytest.raises(BackboneError, match=r"outputs\[1\]: 'nowhere' is neither a block"):
        model.serving_outputs(outputs)
    config.model_config.model_params.outputs[:] = ["fields"]  # a [batch, 5, 16] tensor: fine
    assert build_model(config, REPO).extra_outputs.blocks == ("fields",)


def test_match_scale_simi_scales_the_logits(data, tmp_path):
    config = sample_config("dssm", str(tmp_path), data)
    config.model_config.model_params.scale_simi = True
    model = build_model(config, REPO)
    batch = batch_of(config, model, 8)
    before = model(batch, training=False)["logits"].numpy()
    model.similarity_scale.weight.assign(-2.0)
    model.similarity_scale.bias.assign(0.5)
    np.testing.assert_allclose(model(batch, training=False)["logits"].numpy(),
                               before * 2.0 + 0.5, rtol=1e-5)
