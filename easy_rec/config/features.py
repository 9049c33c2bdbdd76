"""Where a config lists its features: ``feature_configs`` (old layout) or ``feature_config``."""
from __future__ import annotations

from google.protobuf.message import Message

from easy_rec.config.errors import ConfigError

OLD_FEATURES_FIELD = "feature_configs"
NEW_FEATURES_FIELD = "feature_config.features"


def feature_list_field(config: Message) -> str:
    """Path of the repeated field holding the features: ``feature_configs`` or
    ``feature_config.features`` (the latter when neither is used).

    Raises ConfigError when both layouts are used.
    """
    old = len(config.feature_configs) > 0
    new = config.HasField("feature_config") and len(config.feature_config.features) > 0
    if old and new:
        raise ConfigError("features are listed both in feature_configs and in "
                          "feature_config.features; use one of them", field=OLD_FEATURES_FIELD)
    return OLD_FEATURES_FIELD if old else NEW_FEATURES_FIELD


def feature_configs(config: Message) -> list:
    """The FeatureConfig messages of `config`, from whichever layout it uses."""
    if feature_list_field(config) == OLD_FEATURES_FIELD:
        return list(config.feature_configs)
    return list(config.feature_config.features)


def feature_name(feature_config: Message) -> str:
    """A feature's name: feature_name, else its first input name ('' when it has neither)."""
    if feature_config.feature_name:
        return feature_config.feature_name
    return feature_config.input_names[0] if feature_config.input_names else ""
