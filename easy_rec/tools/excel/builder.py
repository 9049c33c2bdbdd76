"""Building the pipeline config (EasyRecConfig) from a checked workbook and its groups.

Type mapping (features sheet ``type`` column):

- ``label``: an input field named in ``data_config.label_fields``.
- ``category``: IdFeature with hash_bucket_size and embedding_dim.
- ``dense``: RawFeature; with boundaries it is bucketized into an embedding_dim embedding.
- ``tags``: TagFeature split by --incol_separator, hashed into hash_bucket_size; a
  ``weights`` cell adds that column as the second input (the per-tag weights).
- ``indexes``: TagFeature of integer ids split by --incol_separator, ``num_buckets`` =
  hash_bucket_size.
- ``weights`` and ``notneed``: input fields only.

Features with a ``global`` entry get ``embedding_name`` = that entry (a shared table).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

from google.protobuf import text_format

from easy_rec.protos import easy_rec_model_pb2, feature_config_pb2, pipeline_pb2
from easy_rec.tools.excel import layout
from easy_rec.tools.excel.groups import Group
from easy_rec.tools.excel.spec import FeatureSpec, WorkbookSpec

EasyRecConfig = pipeline_pb2.EasyRecConfig
FeatureConfig = feature_config_pb2.FeatureConfig

MODEL_CLASSES = {"deepfm": "DeepFM", "wide_and_deep": "WideAndDeep",
                 "multi_tower": "MultiTower", "dssm": "DSSM"}
DEFAULT_MODEL_DIR = "experiments/demo"

# hyper-parameters of the generated configs (edit the config or use --edit_config_json)
BATCH_SIZE = 1024
NUM_STEPS = 2000
DNN_UNITS = [128, 64, 32]
TOWER_UNITS = [256, 128]
FINAL_UNITS = [128, 64]
DSSM_TOWER_UNITS = [256, 128, 64, 32]
L2_REGULARIZATION = 1e-5
EMBEDDING_REGULARIZATION = 1e-5
DSSM_SIMILARITY = "COSINE"
DSSM_TEMPERATURE = 0.05


@dataclass
class ConvertOptions:
    """Command-line settings of the conversion."""

    model_type: str
    train_input_path: str = ""
    eval_input_path: str = ""
    model_dir: str = DEFAULT_MODEL_DIR
    column_separator: str = ","
    incol_separator: str = "|"


@dataclass
class GeneratedConfig:
    """The config built from a workbook.

    `config` holds everything but the model block, which is `model_block` (text-format
    ``deepfm { ... }`` etc.); `supported` tells whether this framework's proto has that block.
    """

    config: EasyRecConfig
    model_block: str
    block_field: str
    supported: bool

    def message(self) -> EasyRecConfig:
        """The whole config as one message (only when the model block is supported)."""
        if not self.supported:
            raise ValueError(f"this framework has no {self.block_field!r} model block")
        full = EasyRecConfig()
        full.CopyFrom(self.config)
        text_format.Merge(self.model_block, full.model_config)
        return full

    def text(self) -> str:
        """The whole config in text format."""
        if self.supported:
            return text_format.MessageToString(self.message())
        rest = EasyRecConfig()
        rest.CopyFrom(self.config)
        rest.ClearField("model_config")
        model = text_format.MessageToString(self.config.model_config, indent=2)
        block = textwrap.indent(self.model_block, "  ")
        return f"{text_format.MessageToString(rest)}model_config {{\n{model}{block}}}\n"

    def text_without_model_block(self) -> str:
        """The config without its model block (parses with any proto; for checking)."""
        return text_format.MessageToString(self.config)


def supports_model_block(block_field: str) -> bool:
    """True when EasyRecModel has the model block field `block_field` (e.g. 'dssm')."""
    return block_field in easy_rec_model_pb2.EasyRecModel.DESCRIPTOR.fields_by_name


def build_config(spec: WorkbookSpec, groups: list[Group], options: ConvertOptions
                 ) -> GeneratedConfig:
    """The pipeline config of `options.model_type` for the workbook `spec`."""
    config = EasyRecConfig()
    if options.train_input_path:
        config.train_input_path = options.train_input_path
    if options.eval_input_path:
        config.eval_input_path = options.eval_input_path
    config.model_dir = options.model_dir or DEFAULT_MODEL_DIR
    _fill_train_config(config.train_config)
    config.eval_config.metrics_set.add().auc.SetInParent()
    _fill_data_config(config.data_config, spec, options.column_separator)
    for feature in spec.features:
        if feature.is_model_feature:
            _fill_feature(config.feature_config.features.add(), feature, options.incol_separator)
    model = config.model_config
    model.model_class = MODEL_CLASSES[options.model_type]
    for group in groups:
        model.feature_groups.add(group_name=group.name, feature_names=group.feature_names,
                                 wide_deep=group.wide_deep)
    model.embedding_regularization = EMBEDDING_REGULARIZATION
    block_field = _block_field(options.model_type)
    block = model_block_text(options.model_type, groups)
    return GeneratedConfig(config, block, block_field, supports_model_block(block_field))


def _block_field(model_type: str) -> str:
    """The model_config field of the model block; named like the model type."""
    return model_type


def _fill_train_config(train) -> None:
    train.log_step_count_steps = 200
    train.num_steps = NUM_STEPS
    train.save_checkpoints_steps = 1000
    decay = train.optimizer_config.add().adam_optimizer.learning_rate \
        .exponential_decay_learning_rate
    decay.initial_learning_rate = 0.001
    decay.decay_steps = 1000
    decay.decay_factor = 0.5
    decay.min_learning_rate = 1e-5


def _fill_data_config(data, spec: WorkbookSpec, separator: str) -> None:
    """Input fields in sheet order (they must match the data columns one to one)."""
    data.input_type = data.CSVInput
    data.separator = separator
    data.batch_size = BATCH_SIZE
    data.prefetch_size = 32
    for feature in spec.features:
        field = data.input_fields.add(input_name=feature.name)
        field.input_type = data.FieldType.Value(feature.field_type)
        default = input_default(feature)
        if default is not None:
            field.default_val = default
    data.label_fields.append(spec.label.name)


def input_default(feature: FeatureSpec) -> str | None:
    """default_val of the input field: the cell (or global) value; numeric weights default to
    1 as in EasyRec; None leaves the framework's default (0, 0.0, '' or false)."""
    if feature.default_value is not None:
        return feature.default_value
    if feature.type == layout.WEIGHTS and feature.data_type in layout.NUMERIC_BASIC_TYPES:
        return "1"
    return None


def _fill_feature(config: FeatureConfig, feature: FeatureSpec, incol_separator: str) -> None:
    config.input_names.append(feature.name)
    if feature.type == layout.CATEGORY:
        config.feature_type = FeatureConfig.IdFeature
        config.hash_bucket_size = feature.hash_bucket_size
        config.embedding_dim = feature.embedding_dim
    elif feature.type == layout.DENSE:
        config.feature_type = FeatureConfig.RawFeature
        if feature.boundaries:
            config.boundaries.extend(feature.boundaries)
            config.embedding_dim = feature.embedding_dim
    elif feature.type in (layout.TAGS, layout.INDEXES):
        config.feature_type = FeatureConfig.TagFeature
        if feature.type == layout.TAGS:
            if feature.weights:
                config.input_names.append(feature.weights)
            config.hash_bucket_size = feature.hash_bucket_size
        else:
            config.num_buckets = feature.hash_bucket_size
        config.embedding_dim = feature.embedding_dim
        config.separator = incol_separator
    else:
        raise ValueError(f"{feature.type} column {feature.name!r} is not a model feature")
    if feature.global_name and feature.type in layout.EMBEDDING_TYPES:
        config.embedding_name = feature.global_name


# -- model blocks --------------------------------------------------------------------------
def _dnn(units: list[int]) -> str:
    return f"dnn {{\n  hidden_units: [{', '.join(str(u) for u in units)}]\n}}\n"


def _block(name: str, body: str) -> str:
    return f"{name} {{\n{textwrap.indent(body, '  ')}}}\n"


def model_block_text(model_type: str, groups: list[Group]) -> str:
    """The text-format model block (``deepfm { ... }`` etc.) of `model_type`."""
    l2 = f"l2_regularization: {L2_REGULARIZATION:g}\n"
    if model_type == "deepfm":
        return _block("deepfm", _dnn(DNN_UNITS) + l2)
    if model_type == "wide_and_deep":
        return _block("wide_and_deep", "wide_output_dim: 1\n" + _dnn(DNN_UNITS) + l2)
    if model_type == "multi_tower":
        towers = "".join(_block("towers", f'input: "{g.name}"\n' + _dnn(TOWER_UNITS))
                         for g in groups)
        final = _dnn(FINAL_UNITS).replace("dnn {", "final_dnn {", 1)
        return _block("multi_tower", towers + final + l2)
    if model_type == "dssm":
        return _block("dssm", _dssm_body(groups))
    raise ValueError(f"unknown model_type {model_type!r}")


def _dssm_body(groups: list[Group]) -> str:
    """EasyRec's DSSM block: one tower per group, identified by its id feature."""
    by_name = {g.name: g for g in groups}
    towers = ""
    for name in layout.DSSM_GROUPS:
        towers += _block(f"{name}_tower", f'id: "{tower_id(by_name[name])}"\n'
                         + _dnn(DSSM_TOWER_UNITS))
    return (towers + f"simi_func: {DSSM_SIMILARITY}\n"
            f"temperature: {DSSM_TEMPERATURE:g}\n"
            f"l2_regularization: {L2_REGULARIZATION:g}\n")


def tower_id(group: Group) -> str:
    """The id feature of a DSSM tower: its first category feature (else its first feature)."""
    for feature in group.features:
        if feature.type == layout.CATEGORY:
            return feature.name
    return group.features[0].name
