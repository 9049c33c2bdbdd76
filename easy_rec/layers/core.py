"""Dense building blocks: a fully connected layer, batch normalisation and the MLP.

Dense computes y = x W + b with a Glorot-uniform W [input_dim, units] (Glorot & Bengio,
"Understanding the difficulty of training deep feedforward neural networks", AISTATS 2010).

BatchNorm normalises each unit over the batch, y = gamma (x - mu_B) / sqrt(var_B + eps) + beta
(Ioffe & Szegedy, "Batch Normalization", ICML 2015, https://arxiv.org/abs/1502.03167), and at
inference uses zero-debiased moving averages of mu_B and var_B.

MLP is EasyRec's DNN block: for each hidden layer, h = dropout(act(BN(h W_i))) (with BN the
Dense layers have no bias, BN's beta shifts instead). Without BN: h = dropout(act(h W_i + b_i)).
With input_bn the input is batch-normalised first, h_0 = BN(x) (EasyRec's MultiTower towers).

Shapes: Dense and MLP map [..., input_dim] -> [..., units] (the last hidden_units entry for
MLP); BatchNorm maps [batch, dim] -> [batch, dim].
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
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
    "linear": tf.identity,
    "none": tf.identity,
}


def get_activation(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """Activation by name; accepts EasyRec spellings such as 'tf.nn.relu'."""
    key = name.strip().lower()
    for prefix in ("tf.nn.", "tf.math.", "tf.keras.activations.", "tf."):
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    if key not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(sorted(_ACTIVATIONS))}")
    return _ACTIVATIONS[key]


@register_layer("Dense")
class Dense(Layer):
    """y = x @ kernel + bias, Glorot-uniform kernel; declares `kernel` for L2."""

    kernel_attributes = ("kernel",)

    def __init__(self, input_dim: int, units: int, use_bias: bool = True, name: str | None = None):
        super().__init__(name=name)
        limit = (6.0 / (input_dim + units)) ** 0.5
        with self.name_scope:
            self.kernel = tf.Variable(
                tf.random.uniform([input_dim, units], -limit, limit), name="kernel")
            self.bias = tf.Variable(tf.zeros([units]), name="bias") if use_bias else None
        self.units = units

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        y = tf.matmul(x, self.kernel)
        return y + self.bias if self.bias is not None else y


@register_layer("BatchNormalization")
class BatchNorm(Layer):
    """Batch normalisation over the batch axis with moving statistics for inference.

    The moving averages are zero-debiased (as Adam's moments): inference divides them by
    1 - momentum^updates, so they match the data from the first steps on instead of being
    pulled towards an arbitrary initial mean 0 / variance 1 for thousands of steps.
    """

    def __init__(self, dim: int, momentum: float = 0.99, epsilon: float = 1e-3,
                 name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.gamma = tf.Variable(tf.ones([dim]), name="gamma")
            self.beta = tf.Variable(tf.zeros([dim]), name="beta")
            self.moving_mean = tf.Variable(tf.zeros([dim]), trainable=False, name="moving_mean")
            self.moving_variance = tf.Variable(
                tf.zeros([dim]), trainable=False, name="moving_variance")
            self.updates = tf.Variable(0.0, trainable=False, name="updates")
        self._momentum = momentum
        self._epsilon = epsilon

    def __call__(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        if training:
            mean, variance = tf.nn.moments(x, axes=[0])
            decay = 1.0 - self._momentum
            self.moving_mean.assign_sub((self.moving_mean - mean) * decay)
            self.moving_variance.assign_sub((self.moving_variance - variance) * decay)
            self.updates.assign_add(1.0)
        else:
            mean, variance = self.inference_statistics()
        return tf.nn.batch_normalization(x, mean, variance, self.beta, self.gamma, self._epsilon)

    def inference_statistics(self) -> tuple[tf.Tensor, tf.Tensor]:
        """Debiased moving (mean, variance); (0, 1) before any training step."""
        correction = 1.0 - tf.pow(self._momentum, self.updates)
        trained = self.updates > 0
        mean = tf.where(trained, tf.math.divide_no_nan(self.moving_mean, correction), 0.0)
        variance = tf.where(trained, tf.math.divide_no_nan(self.moving_variance, correction), 1.0)
        return mean, variance


@register_layer("MLP")
class MLP(Layer):
    """Stack of Dense -> [BatchNorm] -> activation -> [Dropout] layers (EasyRec's DNN block).

    dropout_ratio: one rate for every layer, one per layer, or none. input_bn: batch-normalise
    the input before the first layer.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_units: Sequence[int],
        activation: str = "relu",
        use_bn: bool = True,
        dropout_ratio: Sequence[float] = (),
        input_bn: bool = False,
        name: str | None = None,
    ):
        super().__init__(name=name)
        if dropout_ratio and len(dropout_ratio) not in (1, len(hidden_units)):
            raise ValueError(
                f"dropout_ratio has {len(dropout_ratio)} values for {len(hidden_units)} layers")
        self._activation = get_activation(activation)
        self._dropout = [
            float(dropout_ratio[0] if len(dropout_ratio) == 1 else dropout_ratio[i])
            if dropout_ratio else 0.0
            for i in range(len(hidden_units))
        ]
        self.dense_layers = []
        self.bn_layers = []
        dim = input_dim
        with self.name_scope:
            self.input_bn = BatchNorm(input_dim, name="input_bn") if input_bn else None
            for i, units in enumerate(hidden_units):
                self.dense_layers.append(Dense(dim, units, use_bias=not use_bn, name=f"dense_{i}"))
                if use_bn:
                    self.bn_layers.append(BatchNorm(units, name=f"bn_{i}"))
                dim = units
        self.output_dim = dim

    def __call__(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        if self.input_bn is not None:
            x = self.input_bn(x, training)
        for i, dense in enumerate(self.dense_layers):
            x = dense(x)
            if self.bn_layers:
                x = self.bn_layers[i](x, training)
            x = self._activation(x)
            if training and self._dropout[i] > 0:
                x = tf.nn.dropout(x, rate=self._dropout[i])
        return x
