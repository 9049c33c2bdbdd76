"""The backbone samples of the components in docs/components.md use those components (they
are trained, evaluated, exported and served with every backbone sample in
tests/models/backbone/test_samples.py)."""
from __future__ import annotations

import os

import pytest
from conftest import SAMPLES

from easy_rec.pipeline import load_pipeline_config

COMPONENT_SAMPLES = {
    "components": ["PeriodicEmbedding", "AutoDisEmbedding", "NaryDisEmbedding", "Highway",
                   "PPNet", "Attention"],
    "aitm": ["AITMTower"],
    "cl4srec": ["SeqAugment", "BST", "AuxiliaryLoss"],
}


@pytest.mark.parametrize("sample", sorted(COMPONENT_SAMPLES))
def test_sample_config_uses_its_components(sample):
    path = os.path.join(SAMPLES, "backbone", f"{sample}_backbone_on_movielens.config")
    backbone = load_pipeline_config(path).config.model_config.backbone
    blocks = list(backbone.blocks) + [b for package in backbone.packages for b in package.blocks]
    used = {block.keras_layer.class_name for block in blocks if block.HasField("keras_layer")}
    assert set(COMPONENT_SAMPLES[sample]) <= used
