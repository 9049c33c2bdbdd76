"""Config checks shared by the model classes' validate_config hooks."""
from __future__ import annotations

from easy_rec.config.errors import ConfigError


def require_groups(model_config, names: list[str], locate) -> None:
    """Raises ConfigError unless every group in `names` is defined in model_config."""
    defined = {g.group_name for g in model_config.feature_groups}
    for name in names:
        if name not in defined:
            raise ConfigError(
                f"{model_config.model_class} needs a feature group named {name!r}; defined: "
                f"{', '.join(sorted(defined)) or 'none'}",
                line=locate("model_config.feature_groups") or locate("model_config"),
                field="model_config.feature_groups")
