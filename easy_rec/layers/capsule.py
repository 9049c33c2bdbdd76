"""MIND's multi-interest extractor: behaviour-to-interest (B2I) dynamic routing of a behaviour
sequence into K interest capsules, and label-aware attention over the interests.

Reference: Li et al., "Multi-Interest Network with Dynamic Routing for Recommendation at
Tmall", CIKM 2019, https://arxiv.org/abs/1904.08030.

Routing maps each behaviour e_i with one shared bilinear matrix S, h_i = S e_i, and for
num_iters iterations computes

    w_ik = softmax_k(b_ik),   u_k = squash(sum_i w_ik h_i),   b_ik += <h_i, u_k>

with squash(s) = |s|^2 / (1 + |s|^2) * s / |s|. Label-aware attention pools the interests
v_k with a = softmax(pow(<v_k, item>, p)).

Shapes: behaviours [batch, len, input_dim] and lengths [batch] -> capsules [batch, max_k,
high_dim] and an active mask [batch, max_k]; label_aware_attention maps interests [batch, k,
dim] and items [batch, dim] to [batch, dim].
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.core import Dense
from easy_rec.layers.registry import register_layer

_EPSILON = 1e-9
#: label_aware_attention's simi_pow from which the best interest takes all the weight
ARGMAX_SIMI_POW = 100.0


def squash(s: tf.Tensor, power: float = 1.0) -> tf.Tensor:
    """(|s|^2 / (1 + |s|^2))^power * s / |s| over the last axis (0 for s = 0)."""
    norm2 = tf.reduce_sum(tf.square(s), axis=-1, keepdims=True)
    scale = tf.pow(norm2 / (1.0 + norm2), power) * tf.math.rsqrt(norm2 + _EPSILON)
    return scale * s


def interest_count(length: tf.Tensor, max_k: int, constant: bool) -> tf.Tensor:
    """[batch] int32 number of interests: max_k, or (adaptive) max(1, min(max_k, floor(log2 n)))
    for a history of n behaviours."""
    if constant:
        return tf.fill(tf.shape(length), max_k)
    n = tf.maximum(tf.cast(length, tf.float32), 1.0)
    log2 = tf.floor(tf.math.log(n) / tf.math.log(2.0) + 1e-6)
    return tf.clip_by_value(tf.cast(log2, tf.int32), 1, max_k)


@register_layer("CapsuleRouting")
class CapsuleRouting(Layer):
    """B2I dynamic routing from behaviours e_i ([batch, len, input_dim], right-padded) to max_k
    capsules of width high_dim.

    With h_i = S e_i (one bilinear map S shared by all capsules) and fixed initial logits
    b_ik ~ N(0, routing_logits_stddev^2) (drawn once, not trained, so serving is deterministic),
    each of num_iters iterations computes w_ik = softmax over the active capsules k of b_ik,
    u_k = squash(sum_i w_ik h_i), and (except the last) b_ik += routing_logits_scale *
    cos(h_i, u_k) (the plain inner product when the scale is 0). Only the last iteration passes
    gradients to h; padded behaviours get w = 0. Only the most recent max_len behaviours are
    routed. The output is scale_ratio * u_k (EasyRec multiplies its final squash by it), so
    interests have norms below scale_ratio.
    """

    def __init__(self, input_dim: int, max_len: int, max_k: int = 5, max_seq_len: int = 0,
                 high_dim: int = 32, num_iters: int = 3, routing_logits_scale: float = 20.0,
                 routing_logits_stddev: float = 1.0, squash_pow: float = 1.0,
                 const_caps_num: bool = False, scale_ratio: float = 1.0,
                 name: str | None = None):
        """max_len: the history's padded length; max_seq_len (0: max_len) caps the routed
        behaviours; const_caps_num: always max_k interests (else adaptive); scale_ratio
        multiplies the capsules the last iteration outputs (EasyRec's squash scale ratio)."""
        super().__init__(name=name)
        self.max_k = max_k
        self.max_len = max_seq_len or max_len
        self.high_dim = high_dim
        self.num_iters = num_iters
        self.scale = routing_logits_scale
        self.squash_pow = squash_pow
        self.scale_ratio = scale_ratio
        self.constant_count = const_caps_num
        if min(self.max_k, self.max_len, self.high_dim, self.num_iters) < 1:
            raise ValueError("capsule_config: max_k, max_seq_len, high_dim and num_iters must "
                             "be >= 1")
        with self.name_scope:
            self.bilinear = Dense(input_dim, self.high_dim, use_bias=False, name="bilinear")
            self.initial_logits = tf.Variable(
                tf.random.normal([self.max_len, self.max_k],
                                 stddev=routing_logits_stddev),
                trainable=False, name="initial_logits")

    def __call__(self, behaviours: tf.Tensor, length: tf.Tensor
                 ) -> tuple[tf.Tensor, tf.Tensor]:
        """-> (capsules [batch, max_k, high_dim], zero where inactive; bool active [batch,
        max_k]: the first interest_count(length) capsules)."""
        recent = tf.reverse_sequence(behaviours, tf.cast(length, tf.int64), seq_axis=1,
                                     batch_axis=0)[:, :self.max_len]
        slots = tf.shape(recent)[1]
        behaviour_mask = tf.sequence_mask(tf.minimum(tf.cast(length, tf.int32), self.max_len),
                                          slots, dtype=tf.float32)[:, :, None]
        active = self.active(length)
        mapped = self.bilinear(recent)  # [batch, len, high_dim]
        fixed = tf.stop_gradient(mapped)
        logits = tf.tile(self.initial_logits[None, :slots], [tf.shape(recent)[0], 1, 1])
        for step in range(self.num_iters):
            masked = tf.where(active[:, None, :], logits, tf.float32.min)
            weights = tf.nn.softmax(masked, axis=-1) * behaviour_mask  # [batch, len, k]
            last = step == self.num_iters - 1
            capsules = squash(tf.einsum("blk,blh->bkh", weights, mapped if last else fixed),
                              self.squash_pow)
            if not last:
                logits += self._agreement(fixed, capsules)
        return capsules * self.scale_ratio * tf.cast(active, tf.float32)[:, :, None], active

    def active(self, length: tf.Tensor) -> tf.Tensor:
        """bool [batch, max_k]: True on the capsules a history of `length` behaviours gets."""
        routed = tf.minimum(tf.cast(length, tf.int32), self.max_len)
        return tf.sequence_mask(interest_count(routed, self.max_k, self.constant_count),
                                self.max_k)

    def _agreement(self, mapped: tf.Tensor, capsules: tf.Tensor) -> tf.Tensor:
        """[batch, len, k] routing logit updates."""
        if self.scale > 0:
            mapped = tf.math.l2_normalize(mapped, axis=-1)
            capsules = tf.math.l2_normalize(capsules, axis=-1)
            return self.scale * tf.einsum("blh,bkh->blk", mapped, capsules)
        return tf.einsum("blh,bkh->blk", mapped, capsules)


def label_aware_attention(interests: tf.Tensor, item: tf.Tensor, active: tf.Tensor,
                          simi_pow: float) -> tf.Tensor:
    """MIND's training-time user vector: sum_k a_k v_k with a = softmax over the active
    interests of simi_pow * s_k, s_k = v_k . item (EasyRec's current MIND scales the scores;
    the paper raises them to a power); simi_pow >= 100 (EasyRec's switch) puts all weight on
    the best active interest. interests [batch, k, dim], item [batch, dim] -> [batch, dim]."""
    scores = tf.einsum("bkd,bd->bk", interests, item)
    masked = tf.where(active, scores * simi_pow, tf.float32.min)
    if simi_pow >= ARGMAX_SIMI_POW:
        weights = tf.one_hot(tf.argmax(masked, axis=-1), tf.shape(masked)[-1])
    else:
        weights = tf.nn.softmax(masked, axis=-1)
    return tf.einsum("bk,bkd->bd", weights, interests)


def time_weights(time: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """EasyRec MIND's time attention over a behaviour sequence: weights softmax_i(t_i) over the
    real elements (mask True), 0 on padding, from a learned scalar per element t ([batch, len,
    1], e.g. a time-bucket embedding of width 1). -> [batch, len, 1], summing to 1 per row
    with any real element."""
    logits = tf.where(mask[:, :, None], time, tf.constant(-1e32, time.dtype))
    return tf.nn.softmax(logits, axis=1) * tf.cast(mask, time.dtype)[:, :, None]
