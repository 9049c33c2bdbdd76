"""Cross networks of DCN (vector weights) and DCN-V2 (full-rank or low-rank matrix weights)."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.core import Dense


class CrossNet(tf.Module):
    """DCN cross layers: x_{l+1} = x0 * (x_l . w_l) + b_l + x_l, with w_l, b_l of width dim.

    Each layer adds one degree of explicit feature crossing at 2 * dim parameters; the
    output has the input's width.
    """

    def __init__(self, dim: int, num_layers: int, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.projections = [Dense(dim, 1, use_bias=False, name=f"w_{i}")
                                for i in range(num_layers)]
            self.biases = [tf.Variable(tf.zeros([dim]), name=f"b_{i}") for i in range(num_layers)]
        self.output_dim = dim

    def __call__(self, x0: tf.Tensor) -> tf.Tensor:
        """[batch, dim] -> [batch, dim]."""
        x = x0
        for projection, bias in zip(self.projections, self.biases):
            x = x0 * projection(x) + bias + x
        return x

    def kernels(self) -> list[tf.Variable]:
        """Cross weight vectors ([dim, 1] each), for L2 regularisation."""
        return [p.kernel for p in self.projections]


class LowRankDense(tf.Module):
    """y = x V U^T + b: a dim -> dim linear map of rank at most `rank` (V, U of shape [dim, rank])."""

    def __init__(self, dim: int, rank: int, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.down = Dense(dim, rank, use_bias=False, name="v")
            self.up = Dense(rank, dim, name="u")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return self.up(self.down(x))

    def kernels(self) -> list[tf.Variable]:
        """The two factors, for L2 regularisation."""
        return [self.down.kernel, self.up.kernel]


class CrossNetV2(tf.Module):
    """DCN-V2 cross layers: x_{l+1} = x0 * (W_l x_l + b_l) + x_l.

    `low_rank` 0 gives a full-rank W_l ([dim, dim]); r > 0 factors it as U_l V_l^T with
    U_l, V_l of shape [dim, r].
    """

    def __init__(self, dim: int, num_layers: int, low_rank: int = 0, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.layers = [
                LowRankDense(dim, low_rank, name=f"cross_{i}") if low_rank > 0
                else Dense(dim, dim, name=f"cross_{i}")
                for i in range(num_layers)
            ]
        self.output_dim = dim

    def __call__(self, x0: tf.Tensor) -> tf.Tensor:
        """[batch, dim] -> [batch, dim]."""
        x = x0
        for layer in self.layers:
            x = x0 * layer(x) + x
        return x

    def kernels(self) -> list[tf.Variable]:
        """Weight matrices (or their low-rank factors), for L2 regularisation."""
        kernels: list[tf.Variable] = []
        for layer in self.layers:
            kernels += layer.kernels() if isinstance(layer, LowRankDense) else [layer.kernel]
        return kernels
