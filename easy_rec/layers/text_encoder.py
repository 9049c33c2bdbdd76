"""EasyRec's TransformerEncoder and TextEncoder components: a transformer over token ids.

Reference: Vaswani et al., "Attention Is All You Need", NeurIPS 2017,
https://arxiv.org/abs/1706.03762 (sinusoidal positions, scaled token embeddings); BERT
(Devlin et al. 2019) for the [CLS] / [SEP] text layout.

TokenEncoder (component `TransformerEncoder`) embeds token ids t_1..t_L with a table E
[vocab_size, d] and adds the sinusoidal position code

    x_p = sqrt(d) E[t_p] + PE_p,   PE_p = [sin(p w_0) .. sin(p w_{d/2-1}), cos(p w_0) ..],
    w_i = 10000^(-i / (d/2))

then dropout and num_hidden_layers post-norm TransformerBlocks with the padding mask; the
output is every token's vector [batch, L, d], or (output_all_token_embeddings: false) the
first token's [batch, d].

TextEncoder joins its string inputs as "[CLS] s_1 [SEP] s_2 [SEP] ..." (tokens separated by
`separator`), splits the tokens, keeps the first max_position_embeddings, maps them to ids
(the line number in vocab_file, default_token_id for unknown tokens; else a hash into
transformer.vocab_size buckets) and encodes them; its output is the [CLS] vector [batch, d].
Padding (an empty token, or with a vocab_file the default_token_id) is masked.

Shapes: TransformerEncoder [ids [batch, L] int, mask [batch, L] bool] -> [batch, L, d] or
[batch, d]; TextEncoder one or more [batch] (or [batch, 1]) strings -> [batch, d].
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import BlockContext, Params, Shapes
from easy_rec.layers.registry import register_layer
from easy_rec.layers.transformer import TransformerBlock


def positional_encoding(length: int, depth: int) -> tf.Tensor:
    """[length, depth] sinusoidal codes: sines of p w_i in the first half, cosines in the
    second, w_i = 10000^(-i / (depth / 2)) (depth must be even)."""
    half = depth // 2
    rates = tf.pow(10000.0, -tf.range(half, dtype=tf.float32) / half)
    angles = tf.range(length, dtype=tf.float32)[:, None] * rates[None, :]
    return tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)


@register_layer("TransformerEncoder")
class TokenEncoder(Layer):
    """Token ids -> transformer encodings (EasyRec's TransformerEncoder component)."""

    def __init__(self, vocab_size: int, dim: int, num_heads: int, num_layers: int = 1,
                 intermediate_size: int = 0, dropout_ratio: float = 0.1,
                 activation: str = "relu", max_position: int = 512, output_all: bool = True,
                 name: str | None = None):
        super().__init__(name=name)
        if dim % 2 or vocab_size < 1 or num_layers < 1:
            raise ValueError(f"hidden_size must be even, vocab_size and num_hidden_layers >= 1; "
                             f"got {dim}, {vocab_size}, {num_layers}")
        self.vocab_size, self.dim, self.max_position = vocab_size, dim, max_position
        self.output_all, self._dropout = output_all, dropout_ratio
        self._positions = positional_encoding(max_position, dim)
        with self.name_scope:
            self.embeddings = tf.Variable(tf.random.uniform([vocab_size, dim], -0.05, 0.05),
                                          name="embeddings")
            self.blocks = [TransformerBlock(dim, num_heads, dim, intermediate_size or dim,
                                            dropout_ratio, activation, name=f"layer_{i}")
                           for i in range(num_layers)]

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str  # noqa: ARG003
                    ) -> TokenEncoder:
        """hidden_size, num_attention_heads, vocab_size (required); num_hidden_layers (1),
        intermediate_size (hidden_size), hidden_act (relu), hidden_dropout_prob (0.1),
        max_position_embeddings (512), output_all_token_embeddings (true)."""
        params.require("hidden_size", "num_attention_heads", "vocab_size")
        dim = params.get("hidden_size", 0, int)
        return cls(params.get("vocab_size", 0, int), dim,
                   params.get("num_attention_heads", 0, int),
                   params.get("num_hidden_layers", 1, int),
                   params.get("intermediate_size", dim, int),
                   params.get("hidden_dropout_prob", 0.1, float),
                   params.get("hidden_act", "relu", str),
                   params.get("max_position_embeddings", 512, int),
                   params.get("output_all_token_embeddings", True, bool), name=name)

    def __call__(self, ids: tf.Tensor, mask: tf.Tensor, training: bool = False) -> tf.Tensor:
        """ids [batch, L] (L <= max_position), mask [batch, L] bool."""
        length = tf.shape(ids)[1]
        x = tf.gather(self.embeddings, ids) * math.sqrt(self.dim) + self._positions[None, :length]
        if training and self._dropout > 0:
            x = tf.nn.dropout(x, rate=self._dropout)
        for block in self.blocks:
            x = block(x, mask, training)
        return x if self.output_all else x[:, 0, :]

    def call_block(self, inputs: Sequence[tf.Tensor], training: bool,
                   context: BlockContext) -> tf.Tensor:  # noqa: ARG002
        ids, mask = inputs
        return self(tf.cast(ids, tf.int64), tf.cast(mask, tf.bool), training)


@register_layer("TextEncoder")
class TextEncoder(Layer):
    """Strings -> "[CLS] ... [SEP]" tokens -> ids -> the [CLS] encoding (module docstring)."""

    def __init__(self, transformer: dict, separator: str = " ", vocab_file: str | None = None,
                 default_token_id: int = 0, name: str | None = None):
        """transformer: TokenEncoder arguments (vocab_size is the vocab_file's line count
        when one is given)."""
        super().__init__(name=name)
        self.separator, self.default_token_id = separator, default_token_id
        self.vocab = None
        if vocab_file:
            with open(vocab_file, encoding="utf-8") as f:
                tokens = [line.rstrip("\n") for line in f]
            self.vocab = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant(tokens), tf.range(len(tokens), dtype=tf.int64)), default_token_id)
            transformer = {**transformer, "vocab_size": len(tokens)}
        with self.name_scope:
            self.encoder = TokenEncoder(**transformer, output_all=False, name="transformer")

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str  # noqa: ARG003
                    ) -> TextEncoder:
        """separator (' '), vocab_file, default_token_id (0), transformer {...} (the
        TransformerEncoder parameters; vocab_size may be left out with a vocab_file)."""
        nested = params.child("transformer")
        vocab_file = params.get("vocab_file", None, str)
        nested.require("hidden_size", "num_attention_heads")
        if not vocab_file:
            nested.require("vocab_size")
        dim = nested.get("hidden_size", 0, int)
        transformer = {
            "vocab_size": nested.get("vocab_size", 1, int), "dim": dim,
            "num_heads": nested.get("num_attention_heads", 0, int),
            "num_layers": nested.get("num_hidden_layers", 1, int),
            "intermediate_size": nested.get("intermediate_size", dim, int),
            "dropout_ratio": nested.get("hidden_dropout_prob", 0.1, float),
            "activation": nested.get("hidden_act", "relu", str),
            "max_position": nested.get("max_position_embeddings", 512, int)}
        return cls(transformer, params.get("separator", " ", str), vocab_file,
                   params.get("default_token_id", 0, int), name=name)

    def tokenize(self, texts: Sequence[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        """(ids [batch, L] int64, mask [batch, L] bool) of the joined texts, L <= max_position."""
        texts = [tf.reshape(t, [-1]) for t in texts]
        cls = tf.fill(tf.shape(texts[0]), "[CLS]" + self.separator)
        sep = tf.fill(tf.shape(texts[0]), self.separator + "[SEP]" + self.separator)
        parts = [cls]
        for text in texts:
            parts += [text, sep]
        tokens = tf.strings.split(tf.strings.join(parts), self.separator).to_tensor("")
        tokens = tokens[:, :self.encoder.max_position]
        if self.vocab is not None:
            ids = self.vocab.lookup(tokens)
            ids = tf.where(tokens == "", tf.cast(self.default_token_id, tf.int64), ids)
            return ids, ids != self.default_token_id
        return tf.strings.to_hash_bucket_fast(tokens, self.encoder.vocab_size), tokens != ""

    def __call__(self, inputs: tf.Tensor | Sequence[tf.Tensor], training: bool = False
                 ) -> tf.Tensor:
        texts = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        ids, mask = self.tokenize(texts)
        return self.encoder(ids, mask, training)
