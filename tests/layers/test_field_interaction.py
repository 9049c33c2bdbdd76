"""SENet, Bilinear and FLEN's field-wise bi-interaction against numpy."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import BlockContext, ParamError, Params, struct_params
from easy_rec.layers.field_interaction import (
    Bilinear,
    FiBiNet,
    FieldWiseBiInteraction,
    SENet,
    pair_indices,
)
from easy_rec.protos import fibinet_pb2
from layers.layer_helpers import dense, layer_norm, normal, randomize, relu, tree_kernels


def test_pair_indices_are_the_upper_triangle():
    assert pair_indices(4) == ([0, 0, 0, 1, 1, 2], [1, 2, 3, 2, 3, 3])
    assert pair_indices(1) == ([], [])


# -- SENET -----------------------------------------------------------------------------------
@pytest.mark.parametrize("groups,skip,norm", [(1, False, False), (2, True, True), (4, True, False)])
def test_senet_matches_numpy(groups, skip, norm):
    batch, fields, dim = 3, 5, 8
    e = normal(batch, fields, dim)
    senet = SENet(fields, dim, reduction_ratio=3, num_squeeze_group=groups,
                  use_skip_connection=skip, use_output_layer_norm=norm)
    randomize(senet, scale=0.5)
    split = e.reshape(batch, fields, groups, dim // groups)
    z = np.concatenate([split.max(-1), split.mean(-1)], axis=-1).reshape(batch, -1)
    weights = dense(relu(dense(z, senet.reduce)), senet.excite)  # one per (field, group)
    out = split * weights.reshape(batch, fields, groups, 1) + (split if skip else 0.0)
    out = out.reshape(batch, fields * dim)
    if norm:
        out = layer_norm(out, senet.layer_norm)
    np.testing.assert_allclose(senet(tf.constant(e)).numpy(), out.reshape(e.shape), rtol=1e-4,
                               atol=1e-4)
    assert senet.reduce.kernel.shape == (fields * groups * 2, max(1, fields * groups * 2 // 3))
    assert len(tree_kernels(senet)) == 2


def test_senet_weights_whole_fields_with_one_group():
    e = normal(2, 4, 6)
    senet = SENet(4, 6, num_squeeze_group=1, use_skip_connection=False,
                  use_output_layer_norm=False)
    randomize(senet, scale=0.5)
    ratio = senet(tf.constant(e)).numpy() / e
    np.testing.assert_allclose(ratio, np.repeat(ratio[..., :1], 6, axis=-1), rtol=1e-4, atol=1e-4)


def test_senet_groups_must_divide_the_width():
    with pytest.raises(ValueError, match="not divisible by num_squeeze_group 3"):
        SENet(4, 16, num_squeeze_group=3)


# -- bilinear --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,plus", list(itertools.product(["all", "each", "interaction"],
                                                             [False, True])))
def test_bilinear_matches_numpy(kind, plus):
    batch, fields, dim = 3, 4, 5
    e = normal(batch, fields, dim)
    layer = Bilinear(fields, dim, num_output_units=7, bilinear_type=kind, use_plus=plus)
    randomize(layer, scale=0.5)
    kernel = layer.kernel.numpy()
    parts = []
    for p, (i, j) in enumerate(itertools.combinations(range(fields), 2)):
        w = kernel[{"all": 0, "each": i, "interaction": p}[kind]]
        product = (e[:, i] @ w) * e[:, j]
        parts.append(product.sum(axis=1, keepdims=True) if plus else product)
    expected = dense(np.concatenate(parts, axis=1), layer.output_layer)
    np.testing.assert_allclose(layer(tf.constant(e)).numpy(), expected, rtol=1e-4, atol=1e-4)
    assert kernel.shape[0] == {"all": 1, "each": fields - 1, "interaction": 6}[kind]
    assert layer.output_layer.kernel.shape == (6 if plus else 6 * dim, 7)


def test_bilinear_rejects_an_unknown_type():
    with pytest.raises(ValueError, match="bilinear type"):
        Bilinear(3, 4, 8, bilinear_type="pairs")


# -- FLEN's field-wise bi-interaction --------------------------------------------------------
def test_field_wise_bi_interaction_matches_numpy():
    sizes, dim = [3, 1, 2], 4
    fields = [normal(2, n, dim) for n in sizes]
    layer = FieldWiseBiInteraction(len(sizes))
    randomize(layer, scale=0.5)
    r, s = layer.pair_weights.numpy(), layer.field_weights.numpy()
    expected = np.zeros((2, dim), np.float32)
    for p, (m, n) in enumerate(itertools.combinations(range(len(sizes)), 2)):
        expected += r[p] * fields[m].sum(axis=1) * fields[n].sum(axis=1)  # MF between fields
    for m, field in enumerate(fields):
        for i, j in itertools.combinations(range(field.shape[1]), 2):
            expected += s[m] * field[:, i] * field[:, j]  # FM within a field
    out = layer([tf.constant(f) for f in fields]).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_senet_component_weighs_every_element_and_returns_the_concatenation():
    shapes = [tf.TensorShape([None, 4])] * 3
    params = struct_params({"use_output_layer_norm": False, "reduction_ratio": 2})
    senet = SENet.from_params(params, shapes, "senet")
    assert senet.excite.units == 3 * 4  # one weight per element (EasyRec's excitation)
    senet.excite.kernel.assign(tf.zeros_like(senet.excite.kernel))
    senet.excite.bias.assign(tf.fill([12], 2.0))
    fields = [tf.constant(normal(2, 4)) for _ in range(3)]
    # weights 2 everywhere, plus the skip connection: 3 x
    out = senet.call_block(fields, False, BlockContext())
    np.testing.assert_allclose(out.numpy(), 3.0 * tf.concat(fields, axis=1).numpy(), rtol=1e-6)


def test_fibinet_component_concatenates_senet_and_bilinear_then_mlp():
    config = fibinet_pb2.FiBiNet()
    config.senet.reduction_ratio = 2
    config.bilinear.num_output_units = 5
    shapes = [tf.TensorShape([None, 4])] * 3
    net = FiBiNet.from_params(Params(config, "fibinet"), shapes, "fibinet")
    assert net.mlp is None  # no mlp configured (fibinet.proto's mlp is unset)
    fields = [tf.constant(normal(2, 4)) for _ in range(3)]
    cube = tf.stack(fields, axis=1)
    expected = tf.concat([tf.reshape(net.senet(cube), [2, 12]), net.bilinear(cube)], axis=1)
    np.testing.assert_allclose(net(fields).numpy(), expected.numpy(), rtol=1e-6)
    config.mlp.hidden_units.append(3)
    assert FiBiNet.from_params(Params(config, "fibinet"), shapes, "f")(fields).shape == (2, 3)
    with pytest.raises(ParamError, match="type must be one of"):
        Bilinear.from_params(struct_params({"num_output_units": 2, "type": "full"}), shapes, "b")
