"""A signature of an exported SavedModel (default `serving_default`): its inputs, outputs and
calls."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from easy_rec.export.info import multi_value_separators
from easy_rec.export.multi_value import ListColumn, split_joined
from easy_rec.tables.errors import PredictError

logger = logging.getLogger(__name__)

SIGNATURE_KEY = "serving_default"
PREFERRED_OUTPUT_ORDER = ("probs", "logits", "y")


@dataclass(frozen=True)
class OutputSpec:
    """One output of the signature: its dtype and the shape of one example (() for scalars)."""

    name: str
    dtype: tf.DType
    example_shape: tuple[int | None, ...]


def load_saved_model(saved_model_dir: str) -> object:
    """The SavedModel in `saved_model_dir` (tf.saved_model.load); PredictError when the folder
    holds none."""
    if not os.path.exists(os.path.join(saved_model_dir, "saved_model.pb")):
        raise PredictError(f"{saved_model_dir}: no saved_model.pb (not a SavedModel folder)")
    return tf.saved_model.load(saved_model_dir)


def flat_call(fn: object) -> Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]:
    """`fn` (a loaded signature) called flat on a dict of its input tensors: the keyword call
    binds and converts every argument again, a cost per request as large as a small model's
    run. The argument order is the signature's parameters (one tensor each)."""
    names = [p.name for p in fn.function_type.parameters.values()]

    def call(tensors: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return fn._call_flat([tensors[name] for name in names], fn.captured_inputs)

    return call


class ServingSignature:
    """Loads a signature (default `serving_default`) from a SavedModel and calls it on numpy
    inputs."""

    def __init__(self, saved_model_dir: str, signature_key: str = SIGNATURE_KEY,
                 loaded: object | None = None):
        """`loaded`: the SavedModel already loaded from `saved_model_dir` (to share one load
        among its signatures); else it is loaded here."""
        self._loaded = load_saved_model(saved_model_dir) if loaded is None else loaded
        if signature_key not in self._loaded.signatures:
            raise PredictError(f"{saved_model_dir}: the SavedModel has no {signature_key!r} "
                               f"signature (has {sorted(self._loaded.signatures)})")
        self._fn = self._loaded.signatures[signature_key]
        specs = self._fn.structured_input_signature[1]
        # multi-value inputs (export_config.multi_value_fields) are read from files as the
        # separator-joined strings and split here
        self._lists = {name: ListColumn(specs[name].dtype, separator) for name, separator
                       in multi_value_separators(saved_model_dir).items() if name in specs}
        self.input_dtypes: dict[str, tf.DType] = {
            name: tf.string if name in self._lists else specs[name].dtype for name in specs}
        # the batch size an input requires (1 for the user side of a 1 x N signature), or None
        self.input_batch: dict[str, int | None] = {
            name: specs[name].shape.as_list()[0] if specs[name].shape.rank else None
            for name in specs}
        self.list_separators: dict[str, str] = {
            name: column.separator for name, column in self._lists.items()}
        self._call = flat_call(self._fn)
        self.outputs: dict[str, OutputSpec] = {
            name: OutputSpec(name, spec.dtype, tuple(spec.shape.as_list()[1:]))
            for name, spec in self._fn.structured_outputs.items()
        }
        logger.info("loaded %s: inputs %s, outputs %s", saved_model_dir,
                    ", ".join(f"{k}:{v.name}" for k, v in self.input_dtypes.items()),
                    ", ".join(self.output_names))

    @property
    def input_names(self) -> list[str]:
        """Input column names, in the signature's order."""
        return list(self.input_dtypes)

    @property
    def output_names(self) -> list[str]:
        """Output names: probs, logits, y first (those present), then the rest by name."""
        preferred = [n for n in PREFERRED_OUTPUT_ORDER if n in self.outputs]
        return preferred + sorted(n for n in self.outputs if n not in preferred)

    def __call__(self, inputs: dict[str, np.ndarray], output_names: list[str]) -> dict[str, np.ndarray]:
        """Runs the signature on one batch of numpy columns; returns the named outputs."""
        tensors = {name: tf.constant(inputs[name], dtype=dtype)
                   for name, dtype in self.input_dtypes.items()}
        for name, column in self._lists.items():
            tensors[name] = split_joined(tensors[name], column)
        result = self._run(tensors)
        return {name: result[name].numpy() for name in output_names}

    def _run(self, tensors: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The signature's outputs for input tensors (of the signature's dtypes and batch
        sizes)."""
        return self._call(tensors)
