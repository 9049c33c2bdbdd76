"""Interactions between field embeddings: SENET re-weighting, bilinear pairs, field-wise FM.

References: Huang et al., "FiBiNET: Combining Feature Importance and Bilinear feature
Interaction for Click-Through Rate Prediction", RecSys 2019, https://arxiv.org/abs/1905.09433;
Zhang et al., "FiBiNet++", CIKM 2023, https://arxiv.org/abs/2209.05016; Chen et al., "FLEN:
Leveraging Field for Scalable CTR Prediction", 2019, https://arxiv.org/abs/1911.04690.

    SENET:    v_f = a_f * e_f,  a = W_2 relu(W_1 z + b_1) + b_2,  z = squeeze(e)
    Bilinear: p_ij = (v_i W) * v_j  (FiBiNet++: the scalar (v_i W) . v_j), then a dense layer
    FwBI:     sum_{m<n} r_mn (e_m * e_n) + sum_m s_m sum_{i<j in field m} v_i * v_j

Shapes: SENet [batch, fields, dim] -> [batch, fields, dim]; Bilinear [batch, fields, dim] ->
[batch, num_output_units]; FieldWiseBiInteraction one [batch, features, dim] tensor per field
-> [batch, dim]. As backbone components (EasyRec's SENet, BiLinear, FiBiNet) they take a list
of [batch, dim] field embeddings (or the [batch, fields, dim] tensor); SENet then weighs every
element (EasyRec's excitation) and returns the [batch, fields * dim] concatenation, FiBiNet
concatenates SENet's output and the bilinear interactions and applies an optional MLP.
"""
from __future__ import annotations

import itertools
from typing import Any

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import BlockContext, Params, Shapes, field_count, stack_fields
from easy_rec.layers.core import MLP, Dense, mlp_params
from easy_rec.layers.norm import LayerNorm
from easy_rec.layers.registry import register_layer

BILINEAR_TYPES = ("all", "each", "interaction")


def pair_indices(num_fields: int) -> tuple[list[int], list[int]]:
    """Indices (i, j) of every field pair i < j, as two lists in lexicographic order."""
    pairs = list(itertools.combinations(range(num_fields), 2))
    return [i for i, _ in pairs], [j for _, j in pairs]


def glorot_uniform(shape: list[int]) -> tf.Tensor:
    """Glorot-uniform values for a stack of [fan_in, fan_out] matrices (the last two axes)."""
    limit = (6.0 / (shape[-2] + shape[-1])) ** 0.5
    return tf.random.uniform(shape, -limit, limit)


def bi_interaction(embeddings: tf.Tensor) -> tf.Tensor:
    """Sum over pairs i < j of v_i * v_j (elementwise): [batch, n, dim] -> [batch, dim]."""
    square_of_sum = tf.square(tf.reduce_sum(embeddings, axis=1))
    sum_of_square = tf.reduce_sum(tf.square(embeddings), axis=1)
    return 0.5 * (square_of_sum - sum_of_square)


@register_layer("SENet")
class SENet(Layer):
    """Squeeze-and-excitation re-weighting of field embeddings (FiBiNET, FiBiNet++'s grouped squeeze).

    Each field's embedding is split into g = num_squeeze_group equal groups. Squeeze: the max
    and the mean of every group give z [batch, fields * g * 2]. Excitation:
    a = W2 relu(W1 z + b1) + b2, one weight per (field, group) (per element with
    `per_element`, as EasyRec's SENet component), with W1 reducing to
    max(1, fields * g * 2 // reduction_ratio) units. Re-weight: v = a * e per group, plus e
    with the skip connection, then layer normalisation over all fields' values if enabled.
    Input and output: [batch, fields, dim].
    """

    def __init__(self, num_fields: int, dim: int, reduction_ratio: int = 3,
                 num_squeeze_group: int = 2, use_skip_connection: bool = True,
                 use_output_layer_norm: bool = True, per_element: bool = False,
                 name: str | None = None):
        super().__init__(name=name)
        if num_squeeze_group < 1 or dim % num_squeeze_group:
            raise ValueError(f"embedding dim {dim} is not divisible by num_squeeze_group "
                             f"{num_squeeze_group}")
        if reduction_ratio < 1:
            raise ValueError(f"reduction_ratio must be >= 1, got {reduction_ratio}")
        self._fields = num_fields
        self._dim = dim
        self._groups = num_squeeze_group
        self._skip = use_skip_connection
        squeezed = num_fields * num_squeeze_group * 2
        with self.name_scope:
            self.reduce = Dense(squeezed, max(1, squeezed // reduction_ratio), name="reduce")
            weights = dim // num_squeeze_group if per_element else 1
            self.excite = Dense(self.reduce.units, num_fields * num_squeeze_group * weights,
                                name="excite")
            self.layer_norm = (LayerNorm(num_fields * dim, name="output_ln")
                               if use_output_layer_norm else None)

    def __call__(self, fields: tf.Tensor) -> tf.Tensor:
        groups = tf.reshape(fields, [-1, self._fields, self._groups, self._dim // self._groups])
        squeezed = tf.concat([tf.reduce_max(groups, axis=-1), tf.reduce_mean(groups, axis=-1)],
                             axis=-1)
        z = tf.reshape(squeezed, [-1, self._fields * self._groups * 2])
        weights = self.excite(tf.nn.relu(self.reduce(z)))
        output = groups * tf.reshape(weights, [-1, self._fields, self._groups,
                                               self.excite.units // (self._fields * self._groups)])
        if self._skip:
            output += groups
        if self.layer_norm is not None:
            output = self.layer_norm(tf.reshape(output, [-1, self._fields * self._dim]))
        return tf.reshape(output, [-1, self._fields, self._dim])

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> SENet:
        """EasyRec's SENet component: reduction_ratio (4), num_squeeze_group (2),
        use_skip_connection (true), use_output_layer_norm (true); one weight per element."""
        fields, dim = field_count(input_shape, "SENet")
        return cls(fields, dim, params.get("reduction_ratio", 4, int),
                   params.get("num_squeeze_group", 2, int),
                   params.get("use_skip_connection", True),
                   params.get("use_output_layer_norm", True), per_element=True, name=name)

    def call_block(self, inputs: Any, training: bool, context: BlockContext) -> tf.Tensor:  # noqa: ARG002
        """[batch, fields * dim]: the re-weighted fields concatenated (EasyRec's output)."""
        output = self(stack_fields(inputs))
        return tf.reshape(output, [-1, self._fields * self._dim])


@register_layer("BiLinear")
class Bilinear(Layer):
    """FiBiNET's bilinear interaction of every field pair i < j, projected to num_output_units.

    p_ij = (v_i W) * v_j (elementwise), or with use_plus (FiBiNet++) the scalar (v_i W) . v_j.
    W is one shared matrix ('all'), one per left field i ('each') or one per pair
    ('interaction'). The p_ij are concatenated and passed through a dense layer.
    Input [batch, fields, dim] -> [batch, num_output_units]. Declares its bilinear `kernel`.
    """

    kernel_attributes = ("kernel",)

    def __init__(self, num_fields: int, dim: int, num_output_units: int,
                 bilinear_type: str = "interaction", use_plus: bool = True,
                 name: str | None = None):
        super().__init__(name=name)
        if bilinear_type not in BILINEAR_TYPES:
            raise ValueError(f"bilinear type must be one of {BILINEAR_TYPES}, got {bilinear_type!r}")
        self._type = bilinear_type
        self._use_plus = use_plus
        self._left, self._right = pair_indices(num_fields)
        num_pairs = len(self._left)
        matrices = {"all": 1, "each": num_fields - 1, "interaction": num_pairs}[bilinear_type]
        width = num_pairs if use_plus else num_pairs * dim
        with self.name_scope:
            self.kernel = tf.Variable(glorot_uniform([matrices, dim, dim]), name="kernel")
            self.output_layer = Dense(width, num_output_units, name="output")

    def __call__(self, fields: tf.Tensor) -> tf.Tensor:
        left = tf.gather(fields, self._left, axis=1)  # [batch, pairs, dim]
        right = tf.gather(fields, self._right, axis=1)
        if self._type == "all":
            projected = tf.einsum("bpk,kl->bpl", left, self.kernel[0])
        elif self._type == "each":
            per_field = tf.einsum("bfk,fkl->bfl", fields[:, :-1], self.kernel)
            projected = tf.gather(per_field, self._left, axis=1)
        else:
            projected = tf.einsum("bpk,pkl->bpl", left, self.kernel)
        products = projected * right
        if self._use_plus:
            flat = tf.reduce_sum(products, axis=-1)
        else:
            flat = tf.reshape(products, [-1, products.shape[1] * products.shape[2]])
        return self.output_layer(flat)

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> Bilinear:
        """EasyRec's BiLinear component: num_output_units (required), type (interaction),
        use_plus (true); field embeddings of one width."""
        params.require("num_output_units")
        fields, dim = field_count(input_shape, "BiLinear")
        kind = params.get("type", "interaction", str).lower()
        if kind not in BILINEAR_TYPES:
            raise params.error(f"type must be one of {', '.join(BILINEAR_TYPES)}, got {kind!r}",
                               "type")
        return cls(fields, dim, params.get("num_output_units", 0, int), kind,
                   params.get("use_plus", True), name=name)

    def call_block(self, inputs: Any, training: bool, context: BlockContext) -> tf.Tensor:  # noqa: ARG002
        return self(stack_fields(inputs))


@register_layer("FieldWiseBiInteraction")
class FieldWiseBiInteraction(Layer):
    """FLEN's field-wise bi-interaction: MF between fields plus FM within fields.

    With e_m the sum of field m's embeddings, the output [batch, dim] is
    sum_{m < n} r_mn (e_m * e_n) + sum_m s_m sum_{i < j in m} (v_i * v_j),
    where the field-pair weights r and the field weights s are learned (initialised to 1).
    They are scalars, not kernels: no L2 applies to them.
    """

    def __init__(self, num_fields: int, name: str | None = None):
        super().__init__(name=name)
        self._left, self._right = pair_indices(num_fields)
        with self.name_scope:
            self.pair_weights = tf.Variable(tf.ones([len(self._left)]), name="pair_weights")
            self.field_weights = tf.Variable(tf.ones([num_fields]), name="field_weights")

    def __call__(self, fields: list[tf.Tensor]) -> tf.Tensor:
        """fields: one [batch, features of the field, dim] tensor per field."""
        pooled = tf.stack([tf.reduce_sum(f, axis=1) for f in fields], axis=1)
        between = tf.gather(pooled, self._left, axis=1) * tf.gather(pooled, self._right, axis=1)
        within = tf.stack([bi_interaction(f) for f in fields], axis=1)
        return (tf.einsum("bpk,p->bk", between, self.pair_weights)
                + tf.einsum("bmk,m->bk", within, self.field_weights))


@register_layer("FiBiNet")
class FiBiNet(Layer):
    """EasyRec's FiBiNet component: [SENet(fields) flattened, BiLinear(fields)] -> MLP.

    The bilinear part and the MLP are optional; fields are [batch, dim] embeddings of one
    width (or a [batch, fields, dim] tensor)."""

    def __init__(self, senet: SENet, bilinear: Bilinear | None, mlp: MLP | None,
                 name: str | None = None):
        super().__init__(name=name)
        self.senet, self.bilinear, self.mlp = senet, bilinear, mlp

    def __call__(self, inputs: Any, training: bool = False) -> tf.Tensor:
        fields = stack_fields(inputs)
        parts = [tf.reshape(self.senet(fields), [-1, fields.shape[1] * fields.shape[2]])]
        if self.bilinear is not None:
            parts.append(self.bilinear(fields))
        hidden = tf.concat(parts, axis=-1)
        return self.mlp(hidden, training) if self.mlp is not None else hidden

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> FiBiNet:
        """senet (SENet parameters), bilinear (optional), mlp (optional)."""
        fields, dim = field_count(input_shape, "FiBiNet")
        senet = SENet.from_params(params.child("senet"), input_shape, f"{name}_senet")
        bilinear = (Bilinear.from_params(params.child("bilinear"), input_shape, f"{name}_bilinear")
                    if params.has("bilinear") else None)
        width = fields * dim + (bilinear.output_layer.units if bilinear else 0)
        mlp = (MLP(width, **mlp_params(params.child("mlp")), name=f"{name}_mlp")
               if params.has("mlp") else None)
        return cls(senet, bilinear, mlp, name=name)
