"""Losses of the models: one module per family, each registering the LossTypes it computes
(registry.register_loss); importing the package imports every family."""
from easy_rec.models.losses import (  # noqa: F401  (registration)
    jrc,
    listwise,
    pairwise,
    pointwise,
    reweighted,
    ziln,
)
