"""The error raised for a bad workbook: names the file, sheet, row and column."""
from __future__ import annotations

from easy_rec.config.errors import ConfigError


class ExcelConfigError(ConfigError):
    """A workbook problem, located by file, sheet, row (1-based, as Excel shows it) and column.

    ``str(error)`` reads ``"{path}: sheet '{sheet}' row {row} column '{column}': {reason}"``
    with the parts that are None left out. It is a ConfigError, so tools that report config
    problems (exit status 1) report it too.
    """

    def __init__(self, reason: str, path: str | None = None, sheet: str | None = None,
                 row: int | None = None, column: str | None = None) -> None:
        super().__init__(reason, path=path)
        self.sheet = sheet
        self.row = row
        self.column = column

    def where(self) -> str:
        """``sheet 'features' row 7 column 'type'`` (the known parts), or ''."""
        parts = []
        if self.sheet is not None:
            parts.append(f"sheet {self.sheet!r}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return " ".join(parts)

    def __str__(self) -> str:
        parts = [p for p in (self.path, self.where()) if p]
        parts.append(self.reason)
        return ": ".join(parts)

    def __reduce__(self):
        return (self.__class__, (self.reason, self.path, self.sheet, self.row, self.column))
