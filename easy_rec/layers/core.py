"""Dense building blocks: a fully connected layer, batch normalisation, Dice and the MLP.

Dense computes y = act(x W + b) with a Glorot-uniform W [input_dim, units] by default
(Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
networks", AISTATS 2010); `initializer` takes the Keras initializer names EasyRec configs use.

BatchNorm normalises each unit over the batch, y = gamma (x - mu_B) / sqrt(var_B + eps) + beta
(Ioffe & Szegedy, "Batch Normalization", ICML 2015, https://arxiv.org/abs/1502.03167), and at
inference uses moving averages of mu_B and var_B started at 0 and 1 (as TF's batch norm).

Dice is DIN's data-adaptive activation (Zhou et al., "Deep Interest Network for Click-Through
Rate Prediction", KDD 2018, https://arxiv.org/abs/1706.06978):
f(x) = p(x) x + (1 - p(x)) alpha x with p(x) = sigmoid(BN(x)) (BN without gamma / beta).

MLP is EasyRec's DNN / MLP block: for each hidden layer, h = dropout(act(BN(h W_i))) (with BN
the Dense layers have no bias, BN's beta shifts instead). Without BN: h = dropout(act(h W_i +
b_i)). The last layer may differ (use_final_bn, final_activation, use_final_bias), and BN may
follow the activation (use_bn_after_activation), as in EasyRec's MLP component.
With input_bn the input is batch-normalised first, h_0 = BN(x) (EasyRec's MultiTower towers).

Shapes: Dense and MLP map [..., input_dim] -> [..., units] (the last hidden_units entry for
MLP); BatchNorm and Dice map [batch, dim] (or [batch, len, dim]) to the same shape.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from easy_rec.layers import shared_rows
from easy_rec.layers.base import Layer
from easy_rec.layers.component import BlockContext, Params, Shapes
from easy_rec.layers.registry import register_layer

_ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "relu": tf.nn.relu,
    "relu6": tf.nn.relu6,
    "leaky_relu": tf.nn.leaky_relu,
    "elu": tf.nn.elu,
    "selu": tf.nn.selu,
    "gelu": tf.nn.gelu,
    "swish": tf.nn.swish,
    "silu": tf.nn.silu,
    "sigmoid": tf.sigmoid,
    "tanh": tf.tanh,
    "softmax": tf.nn.softmax,
    "softplus": tf.nn.softplus,
    "linear": tf.identity,
    "none": tf.identity,
}
# a truncated normal of stddev s has standard deviation 0.8796 s (Keras divides by it)
_TRUNCATION = 0.87962566103423978


def get_activation(name: str | None) -> Callable[[tf.Tensor], tf.Tensor]:
    """Activation by name; accepts EasyRec spellings such as 'tf.nn.relu' (None, '': linear)."""
    key = (name or "linear").strip().lower()
    for prefix in ("tf.nn.", "tf.math.", "tf.keras.activations.", "tf."):
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    if key not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(sorted(_ACTIVATIONS))}"
                         " (and 'dice' in MLP layers)")
    return _ACTIVATIONS[key]


def initial_kernel(name: str, shape: Sequence[int]) -> tf.Tensor:
    """Initial values of a kernel [..., fan_in, fan_out] by Keras initializer name:
    glorot_uniform / glorot_normal, he_uniform / he_normal, lecun_uniform / lecun_normal,
    zeros, ones, random_normal, random_uniform, truncated_normal (stddev / limit 0.05)."""
    shape = [int(d) for d in shape]
    fan_in, fan_out = (shape[-2], shape[-1]) if len(shape) > 1 else (shape[0], shape[0])
    scales = {"glorot": 2.0 / (fan_in + fan_out), "he": 2.0 / fan_in, "lecun": 1.0 / fan_in}
    key = name.strip().lower()
    family, _, kind = key.partition("_")
    if family in scales and kind == "uniform":
        limit = (3.0 * scales[family]) ** 0.5
        return tf.random.uniform(shape, -limit, limit)
    if family in scales and kind == "normal":
        return tf.random.truncated_normal(shape, 0.0, scales[family] ** 0.5 / _TRUNCATION)
    fixed = {"zeros": lambda: tf.zeros(shape), "ones": lambda: tf.ones(shape),
             "random_normal": lambda: tf.random.normal(shape, 0.0, 0.05),
             "random_uniform": lambda: tf.random.uniform(shape, -0.05, 0.05),
             "truncated_normal": lambda: tf.random.truncated_normal(shape, 0.0, 0.05)}
    if key not in fixed:
        raise ValueError(f"unknown initializer {name!r}; known: glorot_uniform, glorot_normal, "
                         "he_uniform, he_normal, lecun_uniform, lecun_normal, "
                         f"{', '.join(fixed)}")
    return fixed[key]()


def _last_dim(input_shape: Shapes, what: str) -> int:
    if not isinstance(input_shape, tf.TensorShape) or input_shape.rank is None \
            or input_shape[-1] is None:
        raise ValueError(f"{what} takes one tensor with a known last dimension, got "
                         f"{input_shape}")
    return int(input_shape[-1])


@register_layer("Dense")
class Dense(Layer):
    """y = act(x @ kernel + bias) (Keras' Dense); declares `kernel` for L2.

    Component parameters (Keras names): units, activation (linear), use_bias (true),
    kernel_initializer (glorot_uniform).
    """

    kernel_attributes = ("kernel",)

    def __init__(self, input_dim: int, units: int, use_bias: bool = True,
                 activation: str | None = None, initializer: str = "glorot_uniform",
                 name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.kernel = tf.Variable(initial_kernel(initializer, [input_dim, units]),
                                      name="kernel")
            self.bias = tf.Variable(tf.zeros([units]), name="bias") if use_bias else None
        self.units = units
        self._activation = get_activation(activation)

    def __call__(self, x: tf.Tensor | shared_rows.LinearInput) -> tf.Tensor:
        """act(x kernel + bias); x may be a LinearInput, and a one user × N items call
        multiplies the user's columns once (easy_rec.layers.shared_rows)."""
        return self._activation(shared_rows.dense(x, self.kernel, self.bias))

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> Dense:
        params.check_keys(("units", "activation", "use_bias", "kernel_initializer"))
        params.require("units")
        return cls(_last_dim(input_shape, "Dense"), params.get("units", 0),
                   use_bias=params.get("use_bias", True),
                   activation=params.get("activation", None, str),
                   initializer=params.get("kernel_initializer", "glorot_uniform"), name=name)

    def call_block(self, inputs: tf.Tensor, training: bool, context: BlockContext) -> tf.Tensor:  # noqa: ARG002
        return self(inputs)


@register_layer("BatchNormalization")
class BatchNorm(Layer):
    """Batch normalisation over every axis but the last, with moving statistics for inference.

    As TF's (and so EasyRec's) batch normalisation: the moving mean starts at 0 and the moving
    variance at 1, each step moves them by (1 - momentum) towards the batch's statistics, and
    inference uses them as they are (no debiasing). After n steps the moving variance still
    holds momentum^n of its start value 1, which matters where the batch variance is small:
    after 641 steps at momentum 0.99 that is 0.0016, several times the variance of a first
    layer over EasyRec's small initial embeddings.
    Without `center` / `scale` there is no beta / gamma (Keras' options).
    """

    def __init__(self, dim: int, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.gamma = tf.Variable(tf.ones([dim]), name="gamma") if scale else None
            self.beta = tf.Variable(tf.zeros([dim]), name="beta") if center else None
            self.moving_mean = tf.Variable(tf.zeros([dim]), trainable=False, name="moving_mean")
            self.moving_variance = tf.Variable(
                tf.ones([dim]), trainable=False, name="moving_variance")
        self._momentum = momentum
        self._epsilon = epsilon

    def __call__(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        if training:
            mean, variance = tf.nn.moments(x, axes=list(range(x.shape.rank - 1)))
            decay = 1.0 - self._momentum
            self.moving_mean.assign_sub((self.moving_mean - mean) * decay)
            self.moving_variance.assign_sub((self.moving_variance - variance) * decay)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return tf.nn.batch_normalization(x, mean, variance, self.beta, self.gamma, self._epsilon)

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> BatchNorm:
        """Keras parameters momentum (0.99), epsilon (0.001), center, scale (true)."""
        params.check_keys(("axis", "momentum", "epsilon", "center", "scale"))
        if params.get("axis", -1, int) != -1:
            raise params.error("only axis -1 (the last) is supported", "axis")
        return cls(_last_dim(input_shape, "BatchNormalization"),
                   momentum=params.get("momentum", 0.99), epsilon=params.get("epsilon", 1e-3),
                   center=params.get("center", True), scale=params.get("scale", True),
                   name=name)


@register_layer("Dice")
class Dice(Layer):
    """DIN's Dice activation: p(x) x + (1 - p(x)) alpha x, p = sigmoid(BN(x)), alpha per unit
    (initialised to 0); the BN has no gamma / beta."""

    def __init__(self, dim: int, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.norm = BatchNorm(dim, epsilon=1e-9, center=False, scale=False, name="bn")
            self.alpha = tf.Variable(tf.zeros([dim]), name="alpha")

    def __call__(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        p = tf.sigmoid(self.norm(x, training))
        return p * x + (1.0 - p) * self.alpha * x


@register_layer("MLP")
class MLP(Layer):
    """Stack of Dense -> [BatchNorm] -> activation -> [Dropout] layers (EasyRec's DNN / MLP).

    dropout_ratio: one rate for every layer, one per layer, or none. The last layer takes
    use_final_bn / final_activation / use_final_bias (default: as the others); use_bias None
    means a bias exactly where there is no batch normalisation. With use_bn_after_activation
    the order is Dense -> activation -> BatchNorm. The activation 'dice' is a Dice layer.
    input_bn: batch-normalise the input before the first layer.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_units: Sequence[int],
        activation: str = "relu",
        use_bn: bool = True,
        dropout_ratio: Sequence[float] = (),
        use_final_bn: bool | None = None,
        final_activation: str | None = None,
        use_bias: bool | None = None,
        use_final_bias: bool | None = None,
        initializer: str = "glorot_uniform",
        use_bn_after_activation: bool = False,
        input_bn: bool = False,
        name: str | None = None,
    ):
        super().__init__(name=name)
        count = len(hidden_units)
        if dropout_ratio and len(dropout_ratio) not in (1, count):
            raise ValueError(f"dropout_ratio has {len(dropout_ratio)} values for {count} layers")
        self._dropout = [
            float(dropout_ratio[0] if len(dropout_ratio) == 1 else dropout_ratio[i])
            if dropout_ratio else 0.0
            for i in range(count)
        ]
        last = count - 1
        final_bn = use_bn if use_final_bn is None else use_final_bn
        bn = [final_bn if i == last else use_bn for i in range(count)]
        bias = [(not bn[i] if use_bias is None else use_bias) for i in range(count)]
        if use_final_bias is not None and count:
            bias[last] = use_final_bias
        names = [activation] * count
        if final_activation is not None and count:
            names[last] = final_activation
        self._bn_after_activation = use_bn_after_activation
        self.dense_layers, self.bn_layers, self.dice_layers = [], [], []
        self._activations: list[Callable[[tf.Tensor], tf.Tensor] | None] = []
        dim = input_dim
        with self.name_scope:
            self.input_bn = BatchNorm(input_dim, name="input_bn") if input_bn else None
            for i, units in enumerate(hidden_units):
                self.dense_layers.append(
                    Dense(dim, units, use_bias=bias[i], initializer=initializer, name=f"dense_{i}"))
                self.bn_layers.append(BatchNorm(units, name=f"bn_{i}") if bn[i] else None)
                dice = names[i].strip().lower() == "dice"
                self.dice_layers.append(Dice(units, name=f"dice_{i}") if dice else None)
                self._activations.append(None if dice else get_activation(names[i]))
                dim = units
        self.output_dim = dim

    def __call__(self, x: tf.Tensor | shared_rows.LinearInput, training: bool) -> tf.Tensor:
        """x may be a LinearInput (the first Dense layer computes with it)."""
        if self.input_bn is not None:
            x = self.input_bn(x.tensor() if isinstance(x, shared_rows.LinearInput) else x,
                              training)
        for i, dense in enumerate(self.dense_layers):
            x = dense(x)
            bn = self.bn_layers[i]
            if bn is not None and not self._bn_after_activation:
                x = bn(x, training)
            dice = self.dice_layers[i]
            x = dice(x, training) if dice is not None else self._activations[i](x)
            if bn is not None and self._bn_after_activation:
                x = bn(x, training)
            if training and self._dropout[i] > 0:
                x = tf.nn.dropout(x, rate=self._dropout[i])
        return x

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> MLP:
        """EasyRec's MLP component: hidden_units (required), dropout_ratio (per layer,
        missing ones 0), activation (relu), use_bn (true), use_final_bn (true),
        final_activation (relu), use_bias / use_final_bias (false), initializer (he_uniform),
        use_bn_after_activation (false)."""
        return cls(_last_dim(input_shape, "MLP"), **mlp_params(params), name=name)


def mlp_params(params: Params) -> dict[str, Any]:
    """MLP keyword arguments (all but input_dim and name) of EasyRec MLP parameters."""
    params.require("hidden_units")
    units = params.get("hidden_units", [], int)
    dropout = params.get("dropout_ratio", [], float)
    if len(dropout) > len(units):
        raise params.error(f"{len(dropout)} dropout ratios for {len(units)} layers",
                           "dropout_ratio")
    return {"hidden_units": units,
            "dropout_ratio": dropout + [0.0] * (len(units) - len(dropout)) if dropout else [],
            "activation": params.get("activation", "relu", str),
            "use_bn": params.get("use_bn", True),
            "use_final_bn": params.get("use_final_bn", True),
            "final_activation": params.get("final_activation", "relu", str),
            "use_bias": params.get("use_bias", False),
            "use_final_bias": params.get("use_final_bias", False),
            "initializer": params.get("initializer", "he_uniform", str),
            "use_bn_after_activation": params.get("use_bn_after_activation", False)}
