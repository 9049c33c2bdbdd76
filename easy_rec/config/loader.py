"""Reading and editing pipeline configs (EasyRecConfig, text format), then running checks.

Every problem comes out as a ConfigError naming the file, the line and the field:
text-format errors (unknown field, wrong type, bad enum value, syntax), missing required
fields, bad ``--edit_config_json`` edits, and whatever the given checks find. This module only
knows the config language; the checks of each section live with the package that reads it,
and `easy_rec.pipeline` runs all of them.
"""
from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf import descriptor_pool, text_format

from easy_rec.config.context import Check, CheckContext
from easy_rec.config.edit import Edits, apply_edits
from easy_rec.config.errors import ConfigError
from easy_rec.config.expand import expand_config, original_path
from easy_rec.config.locator import FieldLocator
from easy_rec.config.required import check_required_fields, fill_required_defaults
from easy_rec.config.resources import config_base_dir
from easy_rec.protos import pipeline_pb2

logger = logging.getLogger(__name__)

EasyRecConfig = pipeline_pb2.EasyRecConfig

_LOCATION_PREFIX = re.compile(r"^\d+(?::\d+)? : ")
_UNKNOWN_FIELD = re.compile(r'Message type "([\w.]+)" has no field named "([^"]+)"')
_UNKNOWN_ENUM = re.compile(r'Enum type "([\w.]+)" has no value named (\S+?)\.?$')


@dataclass
class LoadedConfig:
    """A parsed (and edited) config with what is needed to point at its lines."""

    config: EasyRecConfig
    path: str
    locator: FieldLocator
    edited_paths: list[str] = field(default_factory=list)
    # repeated fields that expanded on load (name ranges, shared_names): for each entry, the
    # index of the one written in the file
    origins: dict[str, list[int]] = field(default_factory=dict)

    def locate(self, field_path: str) -> int | None:
        """1-based line of `field_path` in the file (or of its nearest written ancestor)."""
        return self.locator.locate(original_path(field_path, self.origins))

    def error(self, field_path: str, reason: str) -> ConfigError:
        """A ConfigError for `field_path` of this config, with file and line filled in."""
        return ConfigError(reason, path=self.path, line=self.locate(field_path), field=field_path)

    @property
    def base_dir(self) -> str:
        """Directory relative paths in the config are resolved against (the file's folder)."""
        return config_base_dir(self.path) or os.getcwd()


# Checks every load runs unless told otherwise: the config must at least be complete.
REQUIRED_ONLY: tuple[Check, ...] = (check_required_fields,)


def load_pipeline_config(path: str, edits: Edits = None,
                         checks: Sequence[Check] = REQUIRED_ONLY) -> LoadedConfig:
    """Reads the text-format config at `path`, applies `edits`, runs `checks`; see
    `parse_pipeline_config_text`."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as error:
        raise ConfigError(f"cannot read the pipeline config: {error.strerror or error}",
                          path=path) from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"the pipeline config is not UTF-8 text: {error}", path=path) from None
    return parse_pipeline_config_text(text, path, edits=edits, checks=checks)


def parse_pipeline_config_text(text: str, path: str = "<string>", edits: Edits = None,
                               checks: Sequence[Check] = REQUIRED_ONLY) -> LoadedConfig:
    """Parses config `text` (attributed to file `path` in errors) into a LoadedConfig.

    Steps: text-format parse (tolerant as EasyRec's: a singular field given twice keeps its
    last value; a missing required field with a default takes it, see
    easy_rec.config.required), name ranges and shared_names (easy_rec.config.expand), `edits`
    (``--edit_config_json`` semantics), then `checks` in
    order (the first problem is raised, noting when an edit set the field it names).
    """
    locator = FieldLocator(text, EasyRecConfig.DESCRIPTOR)
    config = EasyRecConfig()
    try:
        # Merge, as EasyRec loads configs: a singular field written twice keeps the last value.
        text_format.Merge(text, config)
    except text_format.ParseError as error:
        raise _parse_error_to_config_error(error, text, path, locator) from None
    fill_required_defaults(config)
    origins = expand_config(config)
    edited = apply_edits(config, edits) if edits else []
    loaded = LoadedConfig(config, path, locator, edited, origins)
    try:
        CheckContext(config, path, loaded.locate).run(checks)
    except ConfigError as error:
        _mention_edit(error, edited)
        raise
    logger.info("loaded pipeline config %s (model_class %s)", path,
                config.model_config.model_class or "?")
    return loaded


# -- parse errors ----------------------------------------------------------------------
def _parse_error_to_config_error(error: text_format.ParseError, text: str, path: str,
                                 locator: FieldLocator) -> ConfigError:
    line, column = error.GetLine(), error.GetColumn()
    reason = _strip_location(str(error), text, line)
    field_path = locator.field_at(line, column) if line else None
    if field_path is None:
        match = _UNKNOWN_FIELD.search(reason)
        field_path = match.group(2) if match else None
    return ConfigError(reason + _suggestion(reason), path=path, line=line, field=field_path)


def _strip_location(message: str, text: str, line: int | None) -> str:
    """The ParseError message without its ``line:col : 'source line': `` prefix."""
    message = _LOCATION_PREFIX.sub("", message, count=1)
    lines = text.split("\n")
    if line and 0 < line <= len(lines):
        quoted = f"'{lines[line - 1]}': "
        if message.startswith(quoted):
            return message[len(quoted):]
    match = re.match(r"^'.*?': (?=\S)", message)
    return message[match.end():] if match and message.startswith("'") else message


def _suggestion(reason: str) -> str:
    """' (did you mean ...?)' for an unknown field or enum value close to a known one."""
    pool = descriptor_pool.Default()
    candidates: list[str] = []
    wrong = ""
    try:
        match = _UNKNOWN_FIELD.search(reason)
        if match:
            wrong = match.group(2)
            candidates = [f.name for f in pool.FindMessageTypeByName(match.group(1)).fields]
        match = _UNKNOWN_ENUM.search(reason)
        if match:
            wrong = match.group(2)
            candidates = [v.name for v in pool.FindEnumTypeByName(match.group(1)).values]
            if not difflib.get_close_matches(wrong, candidates, n=1):
                return f" (expected one of {', '.join(candidates)})"
    except KeyError:
        return ""
    close = difflib.get_close_matches(wrong, candidates, n=2) if wrong else []
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def _mention_edit(error: ConfigError, edited: list[str]) -> None:
    """Notes in `error` when the field it names was set by --edit_config_json."""
    if not error.field or not edited:
        return
    for changed in edited:
        if error.field == changed or error.field.startswith((changed + ".", changed + "[")):
            error.reason += f" (value set by edit_config_json {changed})"
            error.args = (error.reason,)
            return
