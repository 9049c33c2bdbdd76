"""SavedModel export: a `serving_default` signature over the raw named input columns, plus the
named signatures a model adds (RankModel.extra_signatures, e.g. a matching model's towers) and,
when export_config declares user features, `score_user_items` (one user × N items, user_items.py).

Every export carries the pipeline config it was made from as ``assets/pipeline.config`` (as
EasyRec's exports do), so batch prediction needs nothing but the export, plus the files
export_config.asset_files names, copied into ``assets/`` under their base names (as EasyRec
adds them to the graph's asset collection)."""
from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Sequence

import tensorflow as tf

from easy_rec.config.resources import asset_file_name, resolve_config_file
from easy_rec.export.info import write_export_info
from easy_rec.export.multi_value import multi_value_columns, to_ragged
from easy_rec.export.split import StoreRelease, save_split, store_settings
from easy_rec.export.user_items import (
    SIGNATURE,
    split_columns,
    user_features,
    user_items_function,
    user_items_specs,
)
from easy_rec.input.fields import column_dtypes
from easy_rec.models.base import RankModel
from easy_rec.protos import pipeline_pb2
from easy_rec.utils.pipeline_files import SAVED_MODEL_CONFIG, pipeline_config_text
from easy_rec.utils.writers import is_dead_writer, writer_tag

logger = logging.getLogger(__name__)

# `.tmp-<timestamp>-<writer tag>`: an export being written (writer tag: utils/writers.py)
_TEMP_NAME = re.compile(r"\.tmp-\d+-(?P<writer>.+)")


def serving_specs(model: RankModel, config: pipeline_pb2.EasyRecConfig) -> dict[str, tf.TensorSpec]:
    """One TensorSpec per raw input column the model reads: [batch] in its configured dtype, or
    [batch, None] for a multi-value column (multi_value.py)."""
    dtypes = column_dtypes(config.data_config)
    multi = multi_value_columns(config, model.serving_input_names)
    return {name: tf.TensorSpec([None, None], multi[name].dtype, name=name) if name in multi
            else tf.TensorSpec([None], dtypes[name], name=name)
            for name in model.serving_input_names}


def feature_outputs(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """export_config.export_features, as EasyRec's feature outputs: each input column echoed
    as ``feature_<column>``, a [batch] string tensor (numbers through tf.as_string; the values
    of a [batch, None] multi-value column joined by ",")."""
    outputs = {}
    for name, value in features.items():
        text = value if value.dtype == tf.string else tf.as_string(value)
        if text.shape.rank == 2:
            text = tf.strings.reduce_join(text, axis=-1, separator=",")
        outputs[f"feature_{name}"] = text
    return outputs


class ServingModule(tf.Module):
    """Wraps a model with its serving function; only stock TF ops end up in the graph."""

    def __init__(self, model: RankModel, specs: dict[str, tf.TensorSpec],
                 export_features: bool = False, user_features: Sequence[str] = ()):
        """user_features: the user-side features (export.user_items.user_features); when
        given, `extra` also holds the score_user_items signature."""
        super().__init__(name="serving")
        self.model = model
        self._export_features = export_features
        self._multi_value = [name for name, spec in specs.items() if spec.shape.rank == 2]
        self.serve = tf.function(self._serve, input_signature=[specs], autograph=False)
        self.extra = {
            name: tf.function(self._with_lists(function),
                              input_signature=[{c: specs[c] for c in columns}], autograph=False)
            for name, (columns, function) in model.extra_signatures().items()}
        if user_features:
            user, item = split_columns(model, list(user_features))
            score = user_items_function(model, list(user_features), item[0], self._scores)
            self.extra[SIGNATURE] = tf.function(
                score, input_signature=[user_items_specs(specs, user)], autograph=False)

    def _with_lists(self, function):
        """`function` taking the multi-value columns as RaggedTensors."""
        return lambda features: function(
            to_ragged(features, [name for name in self._multi_value if name in features]))

    def _scores(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The model's serving outputs for the input columns."""
        return self.model.serving_outputs(
            self.model(to_ragged(features, self._multi_value), training=False))

    def _serve(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = self._scores(features)
        if self._export_features:
            outputs.update(feature_outputs(features))
        return outputs


def copy_asset_files(export_config: pipeline_pb2.ExportConfig, saved_model_dir: str,
                     base_dir: str | None) -> None:
    """Copies each asset_files entry into `saved_model_dir`/assets/ under its base name
    (resolved as config files are: as written, then beside the config in `base_dir`)."""
    for entry in export_config.asset_files:
        name = asset_file_name(entry)
        source = resolve_config_file(name, base_dir)
        if source is None:
            raise FileNotFoundError(f"export_config.asset_files: {name} does not exist")
        shutil.copyfile(source, os.path.join(saved_model_dir, "assets", os.path.basename(name)))


def export_saved_model(model: RankModel, config: pipeline_pb2.EasyRecConfig, export_root: str,
                       global_step: int, keep: int = 0, base_dir: str | None = None,
                       release: StoreRelease | None = None) -> str:
    """Writes `<export_root>/<timestamp>/` atomically (temp dir, then rename); returns its path.

    With export_config.embedding_store the export is split (split.py): the big tables go to
    Redis as `release` says (default: a new version), the rest to the SavedModel.

    The export records `global_step` and its multi-value inputs (info.py), `config` (SAVED_MODEL_CONFIG) and the
    asset_files of its export_config (relative ones also looked up in `base_dir`). Temp dirs
    that killed exports left in export_root are removed first. keep > 0 deletes the oldest
    exports beyond that many.
    """
    os.makedirs(export_root, exist_ok=True)
    remove_dead_temps(export_root)
    specs = serving_specs(model, config)
    stamp = int(time.time())
    while os.path.exists(os.path.join(export_root, str(stamp))):
        stamp += 1
    final = os.path.join(export_root, str(stamp))
    tmp = os.path.join(export_root, f".tmp-{stamp}-{writer_tag()}")
    try:
        split = store_settings(config) is not None
        if not (split and save_split(model, config, tmp, specs, release or StoreRelease(),
                                     user_features(config))):
            module = ServingModule(model, specs, config.export_config.export_features,
                                   user_features(config))
            tf.saved_model.save(module, tmp,
                                signatures={"serving_default": module.serve, **module.extra})
        multi_value = multi_value_columns(config, model.serving_input_names)
        write_export_info(tmp, global_step, {name: column.separator
                                             for name, column in multi_value.items()})
        os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
        with open(os.path.join(tmp, SAVED_MODEL_CONFIG), "w", encoding="utf-8") as f:
            f.write(pipeline_config_text(config))
        copy_asset_files(config.export_config, tmp, base_dir)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("exported SavedModel of global step %d to %s", global_step, final)
    if keep > 0:
        _prune(export_root, keep)
    return final


def remove_dead_temps(export_root: str) -> None:
    """Removes the temp dirs of exports whose writer was killed; a live writer's stay."""
    if not os.path.isdir(export_root):
        return
    for name in os.listdir(export_root):
        match = _TEMP_NAME.fullmatch(name)
        if match and is_dead_writer(match["writer"]):
            shutil.rmtree(os.path.join(export_root, name), ignore_errors=True)
            logger.warning("removed %s, left by an export that was killed",
                           os.path.join(export_root, name))


def list_exports(export_root: str) -> list[str]:
    """Timestamped export folders under export_root, oldest first."""
    if not os.path.isdir(export_root):
        return []
    return sorted((d for d in os.listdir(export_root) if d.isdigit()), key=int)


def _prune(export_root: str, keep: int) -> None:
    for old in list_exports(export_root)[:-keep]:
        shutil.rmtree(os.path.join(export_root, old), ignore_errors=True)
