"""The trainer's output folders: checked writable before any work starts, cleared of what killed
writers left behind, and marked with the live writer.

A checkpoint save writes `ckpt-<N>_temp/` and `checkpoint.tmp<hex>` under names TensorFlow
chooses, so the trainer marks model_dir with an empty file `.writer-<host>-<pid>` (a writer tag,
utils/writers.py) while it trains. At start, these temporaries are removed unless another live
writer's marker is there; markers of dead writers go with them. Exports name their temp dirs
with the writer tag themselves (export/exporter.py).
"""
from __future__ import annotations

import logging
import os
import re
import shutil

from easy_rec.export.exporter import remove_dead_temps
from easy_rec.export.policy import EXPORTER_TYPES, export_root, exports_enabled
from easy_rec.protos import pipeline_pb2
from easy_rec.utils.pipeline_files import PIPELINE_CONFIG_NAME, save_pipeline_config
from easy_rec.utils.writable import require_writable_dir
from easy_rec.utils.writers import is_dead_writer, writer_tag

logger = logging.getLogger(__name__)

MARKER_PREFIX = ".writer-"
_CHECKPOINT_TEMP = re.compile(r"ckpt-\d+_temp|checkpoint\.tmp[0-9a-f]+")


def prepare_output_dirs(config: pipeline_pb2.EasyRecConfig) -> None:
    """Fails with NotWritableError unless model_dir (and the export folder, when the job may
    export) can be written; removes killed writers' leftovers; writes the config as run
    (edits applied) to model_dir/pipeline.config, as EasyRec does; marks model_dir as written
    by this process until release_model_dir."""
    require_writable_dir(config.model_dir, "model_dir")
    if exports_enabled(config.export_config):
        role = "export_config.export_dir" if config.export_config.export_dir else "model_dir/export"
        root = export_root(config.export_config, config.model_dir)
        require_writable_dir(root, role)
        for kind in EXPORTER_TYPES:
            remove_dead_temps(os.path.join(root, kind))
    _remove_checkpoint_leftovers(config.model_dir)
    save_pipeline_config(config, os.path.join(config.model_dir, PIPELINE_CONFIG_NAME))
    with open(_marker(config.model_dir), "w", encoding="utf-8"):
        pass


def release_model_dir(model_dir: str) -> None:
    """Removes this process's writer marker from model_dir."""
    if os.path.exists(_marker(model_dir)):
        os.remove(_marker(model_dir))


def _marker(model_dir: str) -> str:
    return os.path.join(model_dir, MARKER_PREFIX + writer_tag())


def _remove_checkpoint_leftovers(model_dir: str) -> None:
    names = os.listdir(model_dir)
    live = []
    for name in names:
        if name.startswith(MARKER_PREFIX):
            if is_dead_writer(name[len(MARKER_PREFIX):]):
                os.remove(os.path.join(model_dir, name))
            else:
                live.append(name[len(MARKER_PREFIX):])
    temps = [os.path.join(model_dir, n) for n in names if _CHECKPOINT_TEMP.fullmatch(n)]
    if live:
        logger.warning("model_dir %s is also written by %s (host-pid); its temporary checkpoint "
                       "files are left alone, and two trainers in one model_dir overwrite each "
                       "other's checkpoints", model_dir, ", ".join(live))
        return
    for path in temps:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)
        logger.warning("removed %s, left by a checkpoint save that was killed", path)
