"""The layer protocol: own kernels, and their collection over a module tree."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.base import Layer, declared_kernels
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.field_interaction import Bilinear


class Pair(Layer):
    """A layer with one own kernel, an optional one and a Dense child."""

    kernel_attributes = ("w", "optional")

    def __init__(self):
        super().__init__()
        self.w = tf.Variable(tf.ones([2, 2]))
        self.optional = None
        self.bias = tf.Variable(tf.zeros([2]))
        self.child = Dense(2, 3)


def test_own_kernels_skip_unset_attributes_and_children():
    pair = Pair()
    assert pair.own_kernels() == [pair.w]


def test_declared_kernels_walk_the_tree_once_each():
    pair = Pair()
    kernels = declared_kernels([pair, *pair.submodules, pair.child])  # child listed twice
    assert [k.ref() for k in kernels] == [pair.w.ref(), pair.child.kernel.ref()]
    plain = tf.Module()
    plain.mlp = MLP(2, [3, 1], use_bn=False)
    assert len(declared_kernels(plain.submodules)) == 2  # non-layer modules declare nothing


def test_bilinear_declares_its_matrices_and_its_output_layer_its_own():
    layer = Bilinear(3, 2, 4, "all")
    assert layer.own_kernels() == [layer.kernel]
    assert len(declared_kernels([layer, *layer.submodules])) == 2
