"""Warm-up of a newly loaded model version before it takes traffic.

TensorFlow Serving replays `assets.extra/tf_serving_warmup_requests`: a TFRecord file of
`tensorflow.serving.PredictionLog` protos. The predict requests among them are replayed here
too (the other log types are skipped). The few messages of TF Serving's apis needed to read
them are declared below with TF Serving's field numbers (tensorflow_serving/apis/
prediction_log.proto, predict.proto, model.proto), so no tensorflow-serving-api package is
needed. An export without that file is warmed up by one generated request per signature: the
columns' default values (config default_val, else zero), batch 1 (N = 2 for item inputs of a
1 x N signature)."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from tensorflow.core.framework import tensor_pb2

from easy_rec.serving.rest_codec import column_default, to_array
from easy_rec.serving.signature import ServingSignature

logger = logging.getLogger(__name__)

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # TF Serving's bound on the records it replays
GENERATED_ITEMS = 2


def _file_with_dependencies(pool: descriptor_pool.DescriptorPool, file) -> None:
    for dependency in file.dependencies:
        _file_with_dependencies(pool, dependency)
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    try:
        pool.Add(proto)
    except TypeError:  # already added
        pass


def _warmup_classes():
    """(PredictionLog class, TensorProto class) of a private descriptor pool."""
    pool = descriptor_pool.DescriptorPool()
    _file_with_dependencies(pool, tensor_pb2.DESCRIPTOR)
    file = descriptor_pb2.FileDescriptorProto(
        name="easy_rec/serving/prediction_log_subset.proto", package="tensorflow.serving",
        syntax="proto3", dependency=[tensor_pb2.DESCRIPTOR.name])
    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    repeated = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    message, string = (descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                       descriptor_pb2.FieldDescriptorProto.TYPE_STRING)

    def add(name: str, fields: list[tuple]):
        described = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            described.field.add(name=field_name, number=number, type=kind, label=label,
                                **({"type_name": type_name} if type_name else {}))
        return described

    add("ModelSpec", [("name", 1, string, optional, None),
                      ("signature_name", 3, string, optional, None)])
    request = add("PredictRequest", [
        ("model_spec", 1, message, optional, ".tensorflow.serving.ModelSpec"),
        ("inputs", 2, message, repeated, ".tensorflow.serving.PredictRequest.InputsEntry")])
    entry = request.nested_type.add(name="InputsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=string, label=optional)
    entry.field.add(name="value", number=2, type=message, label=optional,
                    type_name=".tensorflow.TensorProto")
    add("PredictLog", [("request", 1, message, optional, ".tensorflow.serving.PredictRequest")])
    add("PredictionLog", [("predict_log", 6, message, optional,
                           ".tensorflow.serving.PredictLog")])
    pool.Add(file)
    return (message_factory.GetMessageClass(pool.FindMessageTypeByName(
        "tensorflow.serving.PredictionLog")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.TensorProto")))


PredictionLog, _TensorProto = _warmup_classes()


def warmup_record(signature_name: str, inputs: dict[str, np.ndarray]) -> bytes:
    """One serialized PredictionLog holding a predict request (what TF Serving's warm-up file
    holds; used to write such files)."""
    log = PredictionLog()
    log.predict_log.request.model_spec.signature_name = signature_name
    for name, values in inputs.items():
        log.predict_log.request.inputs[name].ParseFromString(
            tf.make_tensor_proto(values).SerializeToString())
    return log.SerializeToString()


def recorded_requests(saved_model_dir: str) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """(signature name, inputs) of each predict request in the export's warm-up file."""
    path = os.path.join(saved_model_dir, WARMUP_FILE)
    for record in tf.data.TFRecordDataset(path).take(MAX_WARMUP_RECORDS):
        log = PredictionLog.FromString(record.numpy())
        if not log.HasField("predict_log"):
            continue
        request = log.predict_log.request
        inputs = {name: tf.make_ndarray(tensor_pb2.TensorProto.FromString(
            tensor.SerializeToString())) for name, tensor in request.inputs.items()}
        yield request.model_spec.signature_name or "serving_default", inputs


def generated_inputs(signature: ServingSignature, defaults: dict[str, str]) -> dict[str, np.ndarray]:
    """A small batch of default values for every input of `signature`."""
    return {name: to_array([None] * (signature.input_batch[name] or GENERATED_ITEMS), dtype,
                           column_default(signature, name, defaults),
                           signature.list_separators.get(name), lambda _, n=name: n)
            for name, dtype in signature.input_dtypes.items()}


def warm_up(saved_model_dir: str, signatures: dict[str, ServingSignature],
            defaults: dict[str, str]) -> int:
    """Runs the export's warm-up requests (else generated ones); returns how many ran.
    A request that fails raises: a version that cannot answer it must not take traffic."""
    count = 0
    if os.path.isfile(os.path.join(saved_model_dir, WARMUP_FILE)):
        for name, inputs in recorded_requests(saved_model_dir):
            if name not in signatures:
                raise ValueError(f"{WARMUP_FILE}: request for unknown signature {name!r}")
            signatures[name](inputs, signatures[name].output_names)
            count += 1
        return count
    for signature in signatures.values():
        signature(generated_inputs(signature, defaults), signature.output_names)
        count += 1
    return count
