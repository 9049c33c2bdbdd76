"""EasyRec's TransformerEncoder (token ids) and TextEncoder components, by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import BlockContext, struct_params
from easy_rec.layers.registry import component_class
from easy_rec.layers.text_encoder import TextEncoder, TokenEncoder, positional_encoding


def test_positional_encoding_by_hand():
    codes = positional_encoding(3, 4).numpy()
    # rates 10000^0 = 1 and 10000^(-1/2) = 0.01; position p: sin(p), sin(0.01 p), cos(p), ...
    for p in range(3):
        np.testing.assert_allclose(codes[p], [math.sin(p), math.sin(0.01 * p), math.cos(p),
                                              math.cos(0.01 * p)], rtol=1e-5, atol=1e-7)


def test_token_encoder_scales_embeddings_and_masks_padding():
    encoder = component_class("TransformerEncoder").from_params(struct_params(
        {"hidden_size": 4, "num_attention_heads": 2, "vocab_size": 6,
         "output_all_token_embeddings": False}), None, "enc")
    assert isinstance(encoder, TokenEncoder) and encoder.embeddings.shape == [6, 4]
    # the input of the blocks: sqrt(4) * E[t] + PE_p
    ids = tf.constant([[3, 1, 0]], tf.int64)
    x = tf.gather(encoder.embeddings, ids) * 2.0 + positional_encoding(3, 4)[None]
    block = encoder.blocks[0]
    mask = tf.constant([[True, True, False]])
    np.testing.assert_allclose(encoder(ids, mask).numpy(), block(x, mask).numpy()[:, 0],
                               rtol=1e-5)
    # what a padded position holds does not matter
    other = tf.constant([[3, 1, 5]], tf.int64)
    context = BlockContext()
    np.testing.assert_allclose(encoder.call_block([other, mask], False, context).numpy(),
                               encoder(ids, mask).numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="vocab_size"):
        TokenEncoder.from_params(struct_params({"hidden_size": 4, "num_attention_heads": 2}),
                                 None, "e")


def test_text_encoder_tokens_ids_and_output(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[CLS]\n[SEP]\nred\nshoe\n", encoding="utf-8")
    encoder = TextEncoder.from_params(struct_params(
        {"vocab_file": str(vocab), "transformer": {"hidden_size": 4, "num_attention_heads": 1,
                                                   "max_position_embeddings": 6}}), None, "t")
    assert encoder.encoder.vocab_size == 5
    ids, mask = encoder.tokenize([tf.constant(["red shoe", "blue"]), tf.constant(["shoe", "x"])])
    # [CLS] red shoe [SEP] shoe [SEP] | [CLS] blue(unknown -> 0) [SEP] x(0) [SEP], padded;
    # cut to max_position_embeddings = 6
    assert ids.numpy().tolist() == [[1, 3, 4, 2, 4, 2], [1, 0, 2, 0, 2, 0]]
    assert mask.numpy().tolist() == [[1, 1, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0]]
    out = encoder([tf.constant(["red shoe", "blue"]), tf.constant(["shoe", "x"])])
    np.testing.assert_allclose(out.numpy(), encoder.encoder(ids, mask).numpy(), rtol=1e-6)
    assert out.shape == [2, 4]
    hashed = TextEncoder({"vocab_size": 50, "dim": 4, "num_heads": 2}, separator="|")
    ids, mask = hashed.tokenize([tf.constant([["a|b"]])])
    # "[CLS]|a|b|[SEP]|": the empty token after the last separator is padding
    assert ids.shape == [1, 5] and mask.numpy().tolist() == [[True, True, True, True, False]]
