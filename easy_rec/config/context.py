"""What a config check sees: the parsed config, its file, and how to point at a line.

Every package that reads part of the pipeline config checks that part with functions of the
form ``check(ctx: CheckContext) -> None`` (see `Check`); they raise ConfigError through
`CheckContext.fail`, so each error names the file, the line and the field.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NoReturn

from google.protobuf.message import Message

from easy_rec.config.errors import ConfigError
from easy_rec.config.features import feature_list_field, feature_name
from easy_rec.config.resources import config_base_dir

Locate = Callable[[str], int | None]


@dataclass
class CheckContext:
    """A config under check: `locate` maps a field path to its 1-based line in `path`."""

    config: Message
    path: str
    locate: Locate

    def fail(self, field: str, reason: str, line_field: str | None = None) -> NoReturn:
        """Raises ConfigError for `field`, at the line of `line_field` (default: `field`)."""
        raise ConfigError(reason, path=self.path, line=self.locate(line_field or field),
                          field=field)

    @property
    def base_dir(self) -> str | None:
        """Folder of the config file (relative file names may be found there)."""
        return config_base_dir(self.path)

    @cached_property
    def input_fields(self) -> set[str]:
        """Names of data_config.input_fields."""
        return {f.input_name for f in self.config.data_config.input_fields}

    def require_input(self, name: str, where: str, what: str) -> None:
        """Fails at `where` unless `name` is an input field."""
        if name not in self.input_fields:
            known = ", ".join(sorted(self.input_fields)) or "none"
            self.fail(where, f"{what} {name!r} is not in data_config.input_fields "
                      f"(input fields: {known})")

    @cached_property
    def feature_list_path(self) -> str:
        """``feature_configs`` or ``feature_config.features`` (ConfigError if both are used)."""
        try:
            return feature_list_field(self.config)
        except ConfigError as error:
            self.fail("feature_config", error.reason)

    @cached_property
    def features(self) -> list[tuple[str, Message]]:
        """(field path, FeatureConfig) of every feature, in config order."""
        prefix = self.feature_list_path
        listed = (self.config.feature_configs if prefix == "feature_configs"
                  else self.config.feature_config.features)
        return [(f"{prefix}[{i}]", feature) for i, feature in enumerate(listed)]

    @cached_property
    def features_by_name(self) -> dict[str, tuple[str, Message]]:
        """Feature name -> (field path, FeatureConfig); the first one where names repeat."""
        named: dict[str, tuple[str, Message]] = {}
        for where, feature in self.features:
            named.setdefault(feature_name(feature), (where, feature))
        return named

    def run(self, checks: Sequence[Check]) -> None:
        """Runs `checks` in order; the first problem is raised. A ConfigError raised without
        a file (e.g. by a model's hook) gets this config's path."""
        for check in checks:
            try:
                check(self)
            except ConfigError as error:
                if error.path is None:
                    error.path = self.path
                raise


Check = Callable[[CheckContext], None]
