"""Config blocks -> keyword arguments of easy_rec.layers: the one place where models turn
their protobuf messages into the plain arguments layers take."""
from __future__ import annotations

from typing import Any

from easy_rec.protos import dnn_pb2, mind_pb2, multi_task_pb2, transformer_pb2


def mlp_kwargs(config: dnn_pb2.DNN | dnn_pb2.MLP) -> dict[str, Any]:
    """MLP / EmbeddingTower arguments of a DNN block, or of the DNN fields of an MLP block (all
    but input_dim and name)."""
    return {"hidden_units": list(config.hidden_units), "activation": config.activation,
            "use_bn": config.use_bn, "dropout_ratio": list(config.dropout_ratio)}


def transformer_kwargs(config: transformer_pb2.TransformerEncoder) -> dict[str, Any]:
    """TransformerEncoder arguments of a TransformerEncoder block (all but dim and name)."""
    return {"num_layers": int(config.num_hidden_layers),
            "num_heads": int(config.num_attention_heads),
            "ffn_hidden_size": int(config.intermediate_size),
            "dropout_ratio": float(config.hidden_dropout_prob), "activation": config.hidden_act}


def capsule_kwargs(config: mind_pb2.Capsule) -> dict[str, Any]:
    """CapsuleRouting arguments of MIND's capsule_config (all but input_dim, max_len, name)."""
    return {"max_k": int(config.max_k), "max_seq_len": int(config.max_seq_len),
            "high_dim": int(config.high_dim), "num_iters": int(config.num_iters),
            "routing_logits_scale": float(config.routing_logits_scale),
            "routing_logits_stddev": float(config.routing_logits_stddev),
            "squash_pow": float(config.squash_pow), "const_caps_num": bool(config.const_caps_num),
            "scale_ratio": float(config.scale_ratio)}


def extraction_kwargs(config: multi_task_pb2.ExtractionNetwork) -> dict[str, Any]:
    """ExtractionLayer arguments of a PLE extraction_networks entry."""
    return {"expert_num_per_task": int(config.expert_num_per_task),
            "share_num": int(config.share_num),
            "task_expert_mlp": mlp_kwargs(config.task_expert_net),
            "share_expert_mlp": mlp_kwargs(config.share_expert_net)}
