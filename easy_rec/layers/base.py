"""The layer protocol: a plain keyword-argument tf.Module that declares its own kernels.

L2 regularisation (`l2_regularization` of a model block) applies to the kernels that the
layers of a model declare. A layer lists only the variables it creates itself in
`kernel_attributes` (e.g. Dense's `kernel`); its child layers declare theirs, and
`declared_kernels` walks a module tree and collects them all. A layer that creates no weight
matrix of its own (an MLP, which owns Dense children; a normalisation; a position table)
declares nothing.

A layer registered under an EasyRec component name (easy_rec.layers.registry) can be a
backbone block: it then implements the classmethod `from_params(params, input_shape, name)`
(easy_rec.layers.component), and the backbone calls it through `call_block`.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import tensorflow as tf

if TYPE_CHECKING:
    from easy_rec.layers.component import BlockContext


class Layer(tf.Module):
    """Base of every layer in easy_rec.layers."""

    #: names of the attributes holding this layer's own kernels (None entries are skipped)
    kernel_attributes: ClassVar[tuple[str, ...]] = ()

    def own_kernels(self) -> list[tf.Variable]:
        """The kernels this layer creates itself (not those of its child layers)."""
        kernels = (getattr(self, name) for name in self.kernel_attributes)
        return [kernel for kernel in kernels if kernel is not None]

    def call_block(self, inputs: Any, training: bool, context: BlockContext) -> Any:  # noqa: ARG002
        """How a backbone block calls the layer: `self(inputs, training=training)`. Layers
        whose `__call__` takes other arguments, or that use the context (e.g. to add a
        loss), override it."""
        return self(inputs, training=training)


def declared_kernels(modules: Iterable[tf.Module]) -> list[tf.Variable]:
    """Own kernels of every Layer among `modules`, deduplicated, in order."""
    seen: dict[object, tf.Variable] = {}
    for module in modules:
        if isinstance(module, Layer):
            for kernel in module.own_kernels():
                seen.setdefault(kernel.ref(), kernel)
    return list(seen.values())
