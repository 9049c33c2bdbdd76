"""What the store records about each version of a feature table (the ``{ns:t}:versions``
hash of keys.py): its key field, field types, bucket count, row count and times."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass


class TableNotFoundError(LookupError):
    """The feature table has no current version (no load committed, or wrong namespace)."""


class LoadError(RuntimeError):
    """A load cannot start or commit; the previous version stays current."""


@dataclass
class VersionInfo:
    """One version of a table: its number, key field, field -> FieldType name (the row
    schema, in column order), number of row buckets, rows written, and epoch seconds when the
    load started and committed (0 while loading)."""

    version: str
    key_field: str
    fields: dict[str, str]
    num_buckets: int
    rows: int = 0
    started_at: float = 0.0
    committed_at: float = 0.0

    def to_json(self) -> str:
        """The JSON stored in the versions hash (without the version number: it is the
        hash field)."""
        data = asdict(self)
        del data["version"]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, version: str, text: bytes | str) -> VersionInfo:
        """The info of `version` from its stored JSON."""
        return cls(version=version, **json.loads(text))


def as_text(value: bytes | str | None) -> str | None:
    """A Redis reply as text (clients may or may not decode responses)."""
    return value.decode("utf-8") if isinstance(value, bytes) else value
