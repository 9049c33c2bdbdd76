"""The error raised for every problem found in a pipeline config or its edits."""
from __future__ import annotations


class ConfigError(ValueError):
    """A pipeline config problem, located by file, line and field.

    Attributes:
      path: the config file (``<string>`` for configs parsed from text,
        ``<edit_config_json>`` for bad edits), or None.
      line: 1-based line in `path`, or None when unknown.
      field: dotted field path such as ``model_config.feature_groups[1].feature_names[2]``,
        or None.
      reason: what is wrong, in words.

    ``str(error)`` reads ``"{path}:{line}: {field}: {reason}"`` with the parts that are None
    left out.
    """

    def __init__(self, reason: str, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.line = line
        self.field = field

    def location(self) -> str:
        """``path:line`` (either part may be missing), or '' when neither is known."""
        parts = [str(p) for p in (self.path, self.line) if p is not None]
        return ":".join(parts)

    def __str__(self) -> str:
        parts = [p for p in (self.location(), self.field) if p]
        parts.append(self.reason)
        return ": ".join(parts)

    def __reduce__(self):
        return (self.__class__, (self.reason, self.path, self.line, self.field))
