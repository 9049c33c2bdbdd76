"""Semantic checks of a parsed pipeline config, reported as ConfigError with file and line.

The first problem found is raised; checks run in the order data_config, features,
model_config, train_config, eval_config, export_config.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import NoReturn

from google.protobuf.message import Message

from easy_rec.config.errors import ConfigError
from easy_rec.config.features import feature_list_field, feature_name
from easy_rec.config.stream_checks import KAFKA_FIELDS, check_drift_guard, check_kafka_inputs
from easy_rec.input.cell_patterns import is_valid_cell
from easy_rec.metrics.evaluator import METRIC_KEYS, is_result_key, metric_result_keys
from easy_rec.metrics.retrieval import RETRIEVAL_METRICS
from easy_rec.protos import dataset_pb2, feature_config_pb2

logger = logging.getLogger(__name__)

Locate = Callable[[str], int | None]

# RawFeature.normalizer_fn spellings -> canonical name ('' means no normalizer).
RAW_NORMALIZERS: dict[str, str] = {
    "": "",
    "log1p": "log1p", "tf.math.log1p": "log1p", "tf.log1p": "log1p",
    "sqrt": "sqrt", "tf.math.sqrt": "sqrt", "tf.sqrt": "sqrt",
    "log10": "log10", "tf.math.log10": "log10",
    "log": "log", "tf.math.log": "log", "tf.log": "log",
}

# EvalMetrics oneof name -> key of the metric in evaluation results.
METRIC_RESULT_KEYS = METRIC_KEYS

COMBINERS = ("sum", "mean", "sqrtn")
EXPORTER_TYPES = ("final", "latest", "best", "none")
GAUC_REDUCTIONS = ("mean", "mean_by_sample_num", "mean_by_positive_num")
SUPPORTED_INPUT_TYPES = ("CSVInput", "ParquetInput", "KafkaInput")
# Path fields that only a given input_type reads (EasyRec's parquet_train_input etc.).
TYPED_PATH_FIELDS = {"parquet_train_input": "ParquetInput", "parquet_eval_input": "ParquetInput",
                     "kafka_train_input": "KafkaInput", "kafka_eval_input": "KafkaInput"}
# Feature types the feature layer implements (easy_rec.features registers these).
SUPPORTED_FEATURE_TYPES = ("IdFeature", "TagFeature", "RawFeature", "ComboFeature",
                           "SequenceFeature")
MAX_OPTIMIZERS = 2

_FeatureConfig = feature_config_pb2.FeatureConfig
_CATEGORICAL_TYPES = ("IdFeature", "TagFeature", "SequenceFeature")
_BUCKET_FIELDS = ("hash_bucket_size", "num_buckets", "vocab_list", "vocab_file")


def validate_pipeline_config(config: Message, locate: Locate, path: str) -> None:
    """Raises ConfigError (file `path`, line from `locate`, field path) for the first problem."""
    _Checker(config, locate, path).run()
    logger.debug("config %s passed validation", path)


def check_model_block(config: Message, locate: Locate, path: str) -> None:
    """Only the model_class check: registered, and its model_config block is the one set."""
    _Checker(config, locate, path).check_model_class(config.model_config)


def resolve_config_file(name: str, config_path: str | None) -> str | None:
    """Existing file for `name` (a vocab file etc.), else None.

    Absolute names are taken as they are; relative ones are looked up next to the config
    file first, then in the current directory.
    """
    for candidate in config_file_candidates(name, config_path):
        if os.path.isfile(candidate):
            return candidate
    return None


def config_file_candidates(name: str, config_path: str | None) -> list[str]:
    """Where `resolve_config_file` looks for `name`, in order."""
    if os.path.isabs(name):
        return [name]
    candidates = []
    if config_path and os.path.isfile(config_path):
        candidates.append(os.path.join(os.path.dirname(os.path.abspath(config_path)), name))
    cwd_candidate = os.path.abspath(name)
    if cwd_candidate not in candidates:
        candidates.append(cwd_candidate)
    return candidates


def _type_name(feature: Message) -> str:
    return _FeatureConfig.FeatureType.Name(feature.feature_type)


def _bucket_spec(feature: Message, config_path: str | None) -> tuple | None:
    """What decides the size of a feature's embedding table, for comparing shared tables."""
    if feature.hash_bucket_size:
        return ("hash_bucket_size", feature.hash_bucket_size)
    if feature.num_buckets:
        return ("num_buckets", feature.num_buckets)
    if feature.vocab_list:
        return ("vocab_list size", len(feature.vocab_list) + feature.num_oov_buckets)
    if feature.vocab_file:
        resolved = resolve_config_file(feature.vocab_file, config_path) or feature.vocab_file
        return ("vocab_file", os.path.abspath(resolved), feature.num_oov_buckets)
    if _type_name(feature) == "RawFeature" and feature.boundaries:
        return ("boundaries", len(feature.boundaries) + 1)
    return None


class _Checker:
    """Runs the checks; each check method raises on the first problem it sees."""

    def __init__(self, config: Message, locate: Locate, path: str) -> None:
        self.config = config
        self.locate = locate
        self.path = path
        self.input_fields: set[str] = set()
        self.feature_paths: dict[str, str] = {}  # feature name -> its config path
        self.feature_messages: dict[str, Message] = {}  # feature name -> its FeatureConfig

    def fail(self, field: str, reason: str, line_field: str | None = None) -> NoReturn:
        """Raises ConfigError for `field`, at the line of `line_field` (default: `field`)."""
        raise ConfigError(reason, path=self.path, line=self.locate(line_field or field), field=field)

    def run(self) -> None:
        self.check_data_config()
        self.check_features()
        self.check_model_config()
        self.check_matching_settings()
        self.check_train_config()
        self.check_eval_config()
        self.check_export_config()
        check_drift_guard(self)

    # -- data_config -------------------------------------------------------------------
    def check_data_config(self) -> None:
        config = self.config
        if not config.HasField("data_config"):
            self.fail("data_config", "missing: the config needs a data_config block with the "
                      "input fields")
        data = config.data_config
        input_type = dataset_pb2.DatasetConfig.InputType.Name(data.input_type)
        if input_type not in SUPPORTED_INPUT_TYPES:
            self.fail("data_config.input_type", f"input_type {input_type} is not supported yet; "
                      f"supported: {', '.join(SUPPORTED_INPUT_TYPES)}")
        self.check_input_paths(input_type)
        check_kafka_inputs(self)
        if input_type in ("CSVInput", "KafkaInput") and not data.separator:
            self.fail("data_config.separator", "separator must not be empty")
        if data.batch_size <= 0:
            self.fail("data_config.batch_size", f"batch_size must be > 0, got {data.batch_size}")
        self.check_input_fields(data)
        for i, label in enumerate(data.label_fields):
            self.require_input(label, f"data_config.label_fields[{i}]", "label field")
        if data.HasField("sample_weight") and data.sample_weight:
            self.require_input(data.sample_weight, "data_config.sample_weight", "sample_weight")

    def check_input_paths(self, input_type: str) -> None:
        """parquet_train_input / parquet_eval_input need input_type: ParquetInput."""
        for oneof in ("train_path", "eval_path"):
            which = self.config.WhichOneof(oneof)
            needed = TYPED_PATH_FIELDS.get(which or "")
            if needed and input_type != needed:
                self.fail(which, f"{which} is read with data_config.input_type: {needed}, but "
                          f"input_type is {input_type}; use {needed} or the plain "
                          f"{oneof.replace('_path', '_input_path')}")
            if input_type == "KafkaInput" and which and needed != "KafkaInput":
                self.fail(which, f"data_config.input_type KafkaInput reads kafka_* inputs, "
                          f"but {which} is set; use {KAFKA_FIELDS[oneof]} {{ ... }}")

    def check_input_fields(self, data: Message) -> None:
        seen: dict[str, int] = {}
        for i, field in enumerate(data.input_fields):
            where = f"data_config.input_fields[{i}].input_name"
            if not field.input_name:
                self.fail(where, "input_name must not be empty")
            if field.input_name in seen:
                self.fail(where, f"input field {field.input_name!r} is defined twice (first at "
                          f"data_config.input_fields[{seen[field.input_name]}], line "
                          f"{self.locate(f'data_config.input_fields[{seen[field.input_name]}]')})")
            seen[field.input_name] = i
            self.check_default_val(data, field, i)
        self.input_fields = set(seen)

    def check_default_val(self, data: Message, field: Message, index: int) -> None:
        """A text reader fills empty cells with default_val, so it must parse as the type
        (Parquet list columns use it as tag text and are checked by the reader)."""
        if not field.HasField("default_val") or data.input_type == data.ParquetInput:
            return
        if not is_valid_cell(field.default_val, field.input_type):
            self.fail(f"data_config.input_fields[{index}].default_val",
                      f"default_val {field.default_val!r} of input field {field.input_name!r} "
                      f"is not a valid {dataset_pb2.DatasetConfig.FieldType.Name(field.input_type)}")

    def require_input(self, name: str, where: str, what: str) -> None:
        if name not in self.input_fields:
            known = ", ".join(sorted(self.input_fields)) or "none"
            self.fail(where, f"{what} {name!r} is not in data_config.input_fields "
                      f"(input fields: {known})")

    # -- features ----------------------------------------------------------------------
    def check_features(self) -> None:
        try:
            prefix = feature_list_field(self.config)
        except ConfigError as error:
            self.fail("feature_config", error.reason)
        features = (self.config.feature_configs if prefix == "feature_configs"
                    else self.config.feature_config.features)
        if not features:
            self.fail("feature_config", "no features: list them in feature_config { features "
                      "{...} } (or the older feature_configs {...})", line_field="model_config")
        for i, feature in enumerate(features):
            self.check_feature(feature, f"{prefix}[{i}]")
        self.check_shared_embeddings(features, prefix)

    def check_feature(self, feature: Message, where: str) -> None:
        if not feature.input_names:
            self.fail(f"{where}.input_names", "a feature needs at least one input_names entry")
        for k, name in enumerate(feature.input_names):
            self.require_input(name, f"{where}.input_names[{k}]", "input name")
        self.register_feature_name(feature, where)
        type_name = _type_name(feature)
        if type_name not in SUPPORTED_FEATURE_TYPES:
            self.fail(f"{where}.feature_type", f"feature type {type_name} is not supported yet; "
                      f"supported: {', '.join(SUPPORTED_FEATURE_TYPES)}")
        if feature.combiner not in COMBINERS:
            self.fail(f"{where}.combiner", f"combiner {feature.combiner!r} is not one of "
                      f"{', '.join(COMBINERS)}")
        if type_name in _CATEGORICAL_TYPES:
            self.check_categorical(feature, where, type_name)
        elif type_name == "RawFeature":
            self.check_raw(feature, where)
        elif type_name == "ComboFeature":
            self.check_combo(feature, where)

    def register_feature_name(self, feature: Message, where: str) -> None:
        name = feature_name(feature)
        name_field = f"{where}.feature_name" if feature.feature_name else f"{where}.input_names[0]"
        if name in self.feature_paths:
            first = self.feature_paths[name]
            self.fail(name_field, f"feature name {name!r} is used twice (first by {first}, line "
                      f"{self.locate(first)}); give one of them a distinct feature_name")
        self.feature_paths[name] = where
        self.feature_messages[name] = feature

    def require_embedding_dim(self, feature: Message, where: str, why: str) -> None:
        if feature.embedding_dim <= 0:
            self.fail(f"{where}.embedding_dim", f"{why} needs embedding_dim > 0, got "
                      f"{feature.embedding_dim}")

    def check_categorical(self, feature: Message, where: str, type_name: str) -> None:
        used = [f for f in _BUCKET_FIELDS if _is_set(feature, f)]
        if len(used) != 1:
            found = f"found {', '.join(used)}" if used else "none is set"
            self.fail(where if not used else f"{where}.{used[-1]}",
                      f"{type_name} {feature_name(feature)!r} needs exactly one of "
                      f"{', '.join(_BUCKET_FIELDS)}; {found}")
        self.require_embedding_dim(feature, where, f"{type_name} {feature_name(feature)!r}")
        if feature.vocab_file:
            self.check_vocab_file(feature, where)

    def check_vocab_file(self, feature: Message, where: str) -> None:
        if resolve_config_file(feature.vocab_file, self.path) is None:
            tried = ", ".join(config_file_candidates(feature.vocab_file, self.path))
            self.fail(f"{where}.vocab_file", f"vocab_file {feature.vocab_file!r} not found "
                      f"(looked at: {tried})")

    def check_raw(self, feature: Message, where: str) -> None:
        if feature.normalizer_fn not in RAW_NORMALIZERS:
            known = ", ".join(repr(k) for k in RAW_NORMALIZERS if k)
            self.fail(f"{where}.normalizer_fn", f"unknown normalizer_fn "
                      f"{feature.normalizer_fn!r}; supported: {known}")
        if feature.max_val < feature.min_val:
            self.fail(f"{where}.max_val", f"max_val {feature.max_val} is below min_val "
                      f"{feature.min_val}")
        if not feature.boundaries:
            return
        self.require_embedding_dim(feature, where, f"RawFeature {feature_name(feature)!r} "
                                   "with boundaries")
        bounds = list(feature.boundaries)
        for k in range(1, len(bounds)):
            if bounds[k] <= bounds[k - 1]:
                self.fail(f"{where}.boundaries[{k}]", f"boundaries must be strictly increasing; "
                          f"{bounds[k]} follows {bounds[k - 1]}")

    def check_combo(self, feature: Message, where: str) -> None:
        name = feature_name(feature)
        if len(feature.input_names) < 2:
            self.fail(f"{where}.input_names", f"ComboFeature {name!r} needs at least 2 "
                      f"input_names, got {len(feature.input_names)}")
        if feature.hash_bucket_size <= 0:
            self.fail(f"{where}.hash_bucket_size", f"ComboFeature {name!r} needs "
                      "hash_bucket_size > 0")
        self.require_embedding_dim(feature, where, f"ComboFeature {name!r}")

    def check_shared_embeddings(self, features, prefix: str) -> None:
        """Features with one embedding_name share a table: same dim and bucket size."""
        first: dict[str, int] = {}
        for i, feature in enumerate(features):
            if not feature.embedding_name:
                continue
            if feature.embedding_name not in first:
                first[feature.embedding_name] = i
                continue
            j = first[feature.embedding_name]
            self.compare_shared(features[j], f"{prefix}[{j}]", feature, f"{prefix}[{i}]")

    def compare_shared(self, a: Message, a_where: str, b: Message, b_where: str) -> None:
        table = b.embedding_name
        head = (f"features {feature_name(a)!r} ({a_where}, line {self.locate(a_where)}) and "
                f"{feature_name(b)!r} share embedding_name {table!r} but")
        if a.embedding_dim != b.embedding_dim:
            self.fail(f"{b_where}.embedding_dim", f"{head} have embedding_dim "
                      f"{a.embedding_dim} and {b.embedding_dim}")
        spec_a, spec_b = _bucket_spec(a, self.path), _bucket_spec(b, self.path)
        if spec_a != spec_b:
            self.fail(b_where, f"{head} differ in table size: {_describe(spec_a)} vs "
                      f"{_describe(spec_b)}")

    # -- model_config ------------------------------------------------------------------
    def check_model_config(self) -> None:
        model = self.config.model_config
        cls = self.check_model_class(model)
        self.check_feature_groups(model)
        self.check_seq_att_groups(model)
        if model.num_class < 1:
            self.fail("model_config.num_class", f"num_class must be >= 1, got {model.num_class}")
        self.run_model_hook(cls, "validate_config", model)
        self.run_model_hook(cls, "validate_pipeline", self.config)

    def run_model_hook(self, cls: type, name: str, config: Message) -> None:
        """Calls the model class's check `name(config, locate)` if it has one; a ConfigError
        it raises without a file gets this config's path."""
        hook = getattr(cls, name, None)
        if callable(hook):
            try:
                hook(config, self.locate)
            except ConfigError as error:
                if error.path is None:
                    error.path = self.path
                raise

    def check_model_class(self, model: Message) -> type:
        from easy_rec.models import registry  # imports the model zoo (and TensorFlow) lazily

        name = model.model_class
        known = registry.registered_models()
        if name not in known:
            self.fail("model_config.model_class", f"unknown model_class {name!r}; registered "
                      f"models: {', '.join(known) or 'none'}")
        expected = registry.model_config_field(name)
        found = model.WhichOneof("model")
        if found != expected:
            where = f"model_config.{found}" if found else "model_config.model_class"
            found_text = f"found a {found!r} block" if found else "no model block is set"
            self.fail(where, f"model_class {name} expects a {expected!r} block in model_config; "
                      f"{found_text}")
        return registry.get_model_class(name)

    def check_feature_groups(self, model: Message) -> None:
        if not model.feature_groups:
            self.fail("model_config.feature_groups", "model_config needs at least one "
                      "feature_groups block")
        seen: dict[str, int] = {}
        for i, group in enumerate(model.feature_groups):
            where = f"model_config.feature_groups[{i}]"
            if not group.group_name:
                self.fail(f"{where}.group_name", "group_name must not be empty")
            if group.group_name in seen:
                self.fail(f"{where}.group_name", f"group_name {group.group_name!r} is used twice "
                          f"(first by model_config.feature_groups[{seen[group.group_name]}])")
            seen[group.group_name] = i
            if not group.feature_names:
                self.fail(f"{where}.feature_names", f"feature group {group.group_name!r} has no "
                          "feature_names")
            for j, name in enumerate(group.feature_names):
                if name not in self.feature_paths:
                    self.fail(f"{where}.feature_names[{j}]", f"feature group "
                              f"{group.group_name!r} names feature {name!r}, which is not "
                              f"defined; features: {', '.join(self.feature_paths)}")

    def check_seq_att_groups(self, model: Message) -> None:
        """Each sequence group pairs existing key features with SequenceFeature histories of
        one length; group names are unique among all feature and sequence groups."""
        names = {g.group_name for g in model.feature_groups}
        for i, group in enumerate(model.seq_att_groups):
            where = f"model_config.seq_att_groups[{i}]"
            if not group.group_name or group.group_name in names:
                self.fail(f"{where}.group_name", f"sequence group name {group.group_name!r} "
                          "must be non-empty and differ from every other group name")
            names.add(group.group_name)
            lengths: dict[int, str] = {}
            for j, att_map in enumerate(group.seq_att_map):
                for k, key in enumerate(att_map.key):
                    self.require_feature(key, f"{where}.seq_att_map[{j}].key[{k}]",
                                         sequence=False)
                for k, hist in enumerate(att_map.hist_seq):
                    field = f"{where}.seq_att_map[{j}].hist_seq[{k}]"
                    self.require_feature(hist, field, sequence=True)
                    lengths.setdefault(self.sequence_length(hist), field)
            if not lengths:
                self.fail(where, f"sequence group {group.group_name!r} needs at least one "
                          "seq_att_map with a hist_seq")
            if len(lengths) > 1:
                found = ", ".join(f"{n} ({f})" for n, f in lengths.items())
                self.fail(where, f"the histories of sequence group {group.group_name!r} must "
                          f"have one max_seq_len; found {found}")

    def require_feature(self, name: str, field: str, sequence: bool) -> None:
        """The feature `name` exists and is (sequence=True) or is not a SequenceFeature."""
        if name not in self.feature_paths:
            self.fail(field, f"feature {name!r} is not defined; features: "
                      f"{', '.join(self.feature_paths)}")
        is_sequence = _type_name(self.feature_messages[name]) == "SequenceFeature"
        if is_sequence != sequence:
            self.fail(field, f"{name!r} must {'' if sequence else 'not '}be a SequenceFeature "
                      f"here ({'hist_seq' if sequence else 'key'})")

    def sequence_length(self, name: str) -> int:
        from easy_rec.features.sequence_feature import sequence_max_len

        return sequence_max_len(self.feature_messages[name])

    # -- train_config ------------------------------------------------------------------
    def check_train_config(self) -> None:
        train = self.config.train_config
        optimizers = train.optimizer_config
        if not optimizers:
            self.fail("train_config.optimizer_config", "train_config needs an optimizer_config",
                      line_field="train_config")
        if len(optimizers) > MAX_OPTIMIZERS:
            self.fail(f"train_config.optimizer_config[{MAX_OPTIMIZERS}]", f"at most "
                      f"{MAX_OPTIMIZERS} optimizer_config blocks are supported (dense, then "
                      f"embedding); found {len(optimizers)}")
        for i, optimizer in enumerate(optimizers):
            self.check_optimizer(optimizer, f"train_config.optimizer_config[{i}]")
        if train.gradient_clipping_by_norm < 0:
            self.fail("train_config.gradient_clipping_by_norm", "gradient_clipping_by_norm must "
                      f"be >= 0, got {train.gradient_clipping_by_norm}")

    def check_optimizer(self, optimizer: Message, where: str) -> None:
        kind = optimizer.WhichOneof("optimizer")
        if kind is None:
            names = ", ".join(f.name for f in optimizer.DESCRIPTOR.oneofs_by_name["optimizer"].fields)
            self.fail(where, f"no optimizer is set; use one of {names}")
        params = getattr(optimizer, kind)
        if not params.HasField("learning_rate") or params.learning_rate.WhichOneof(
                "learning_rate") is None:
            self.fail(f"{where}.{kind}.learning_rate", f"{kind} needs a learning_rate "
                      "(e.g. learning_rate { constant_learning_rate { learning_rate: 0.001 } })")

    # -- eval_config -------------------------------------------------------------------
    def check_eval_config(self) -> None:
        for i, metric in enumerate(self.config.eval_config.metrics_set):
            where = f"eval_config.metrics_set[{i}]"
            kind = metric.WhichOneof("metric")
            if kind is None:
                self.fail(where, f"empty metrics_set; use one of {', '.join(METRIC_RESULT_KEYS)}")
            if kind == "gauc":
                self.check_gauc(metric.gauc, f"{where}.gauc")
            if kind in RETRIEVAL_METRICS:
                self.check_top_k(getattr(metric, kind).top_k, f"{where}.{kind}.top_k")

    def check_top_k(self, top_k, where: str) -> None:
        if not top_k:
            self.fail(where, "a retrieval metric needs top_k (e.g. top_k: [10, 50])")
        for k, value in enumerate(top_k):
            if value <= 0:
                self.fail(f"{where}[{k}]", f"top_k must be > 0, got {value}")

    def check_matching_settings(self) -> None:
        """Retrieval metrics and data_config.negative_sampler need a matching model."""
        from easy_rec.models.match_base import MatchModel
        from easy_rec.models.registry import get_model_class

        model_class = self.config.model_config.model_class
        if issubclass(get_model_class(model_class), MatchModel):
            return
        if self.config.data_config.HasField("negative_sampler"):
            self.fail("data_config.negative_sampler", f"model_class {model_class} does not use "
                      "a negative sampler (matching models such as DSSM do)")
        for i, metric in enumerate(self.config.eval_config.metrics_set):
            if metric.WhichOneof("metric") in RETRIEVAL_METRICS:
                self.fail(f"eval_config.metrics_set[{i}]", f"{metric.WhichOneof('metric')} ranks "
                          f"items by user and item embeddings; model_class {model_class} is not "
                          "a matching model (such as DSSM)")

    def check_gauc(self, gauc: Message, where: str) -> None:
        self.require_input(gauc.uid_field, f"{where}.uid_field", "gauc uid_field")
        if gauc.reduction not in GAUC_REDUCTIONS:
            self.fail(f"{where}.reduction", f"gauc reduction {gauc.reduction!r} is not one of "
                      f"{', '.join(GAUC_REDUCTIONS)}")

    # -- export_config -----------------------------------------------------------------
    def check_export_config(self) -> None:
        export = self.config.export_config
        if export.exporter_type not in EXPORTER_TYPES:
            self.fail("export_config.exporter_type", f"exporter_type {export.exporter_type!r} "
                      f"is not one of {', '.join(EXPORTER_TYPES)}")
        if export.exporter_type != "best":
            return
        keys = [k for m in self.config.eval_config.metrics_set for k in metric_result_keys(m)]
        metric = export.best_exporter_metric
        if not is_result_key(metric, keys):
            configured = ", ".join(keys) or "none (eval_config.metrics_set is empty)"
            self.fail("export_config.best_exporter_metric", f"best_exporter_metric "
                      f"{export.best_exporter_metric!r} is not a configured eval metric; "
                      f"configured: {configured}")


def _is_set(feature: Message, field: str) -> bool:
    value = getattr(feature, field)
    return len(value) > 0 if field == "vocab_list" else bool(value)


def _describe(spec: tuple | None) -> str:
    if spec is None:
        return "no bucket size"
    if spec[0] == "vocab_file":
        return f"vocab_file {spec[1]} (+{spec[2]} oov buckets)"
    return f"{spec[0]} {spec[1]}"
