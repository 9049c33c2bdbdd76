"""Checking a workbook's sheets and turning them into feature and shared-table specs.

Every problem is an ExcelConfigError naming the sheet, the row and the column.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from easy_rec.tools.excel import layout
from easy_rec.tools.excel.reader import SheetRow, SheetTable, find_sheet, open_workbook, read_table

logger = logging.getLogger(__name__)

_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|inf(inity)?|nan)", re.IGNORECASE)
_BOOL = re.compile(r"([01]|true|false)", re.IGNORECASE)
_FINITE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass
class GlobalSpec:
    """A row of the global sheet: a shared embedding table and its settings."""

    row: SheetRow
    name: str
    type: str
    hash_bucket_size: int | None
    embedding_dim: int | None
    default_value: str | None


@dataclass
class FeatureSpec:
    """A row of the features sheet: an input column and, for model types, its feature."""

    row: SheetRow
    name: str
    data_type: str
    type: str
    group: str
    global_name: str | None = None
    hash_bucket_size: int | None = None
    embedding_dim: int | None = None
    default_value: str | None = None
    weights: str | None = None
    boundaries: list[float] = field(default_factory=list)
    # where hash_bucket_size / embedding_dim / default_value came from (for messages)
    sources: dict[str, SheetRow] = field(default_factory=dict)

    @property
    def field_type(self) -> str:
        """DatasetConfig.FieldType name of the input column."""
        return layout.BASIC_TYPES_TO_FIELD[self.data_type]

    @property
    def is_model_feature(self) -> bool:
        """True for the types that become a feature config."""
        return self.type in layout.MODEL_FEATURE_TYPES

    @property
    def is_categorical(self) -> bool:
        """True when the feature is an embedding lookup (dense only with boundaries)."""
        return self.type in layout.EMBEDDING_TYPES or (self.type == layout.DENSE
                                                      and bool(self.boundaries))

    def source(self, key: str) -> SheetRow:
        """The row (features or global sheet) that gave the value of column `key`."""
        return self.sources.get(key, self.row)


@dataclass
class WorkbookSpec:
    """Everything read from a workbook, checked."""

    path: str
    features: list[FeatureSpec]
    globals: dict[str, GlobalSpec]
    # the values listed by the optional list sheets (None: the sheet is missing)
    groups: list[str] | None
    types: list[str] | None
    basic_types: list[str] | None
    table: SheetTable  # the features sheet, for errors about the sheet as a whole

    @property
    def label(self) -> FeatureSpec:
        return next(f for f in self.features if f.type == layout.LABEL)

    def feature(self, name: str) -> FeatureSpec | None:
        return next((f for f in self.features if f.name == name), None)


# -- reading -------------------------------------------------------------------------------
def read_workbook(path: str) -> WorkbookSpec:
    """Reads and checks the five sheets of the workbook at `path`."""
    workbook = open_workbook(path)
    tables = {name: find_sheet(workbook, path, name, optional=name in layout.OPTIONAL_SHEETS)
              for name in layout.SHEETS}
    lists = {name: _read_list(read_table(tables[name], path, name), layout.LIST_COLUMNS[name])
             if tables[name] is not None else None
             for name in (layout.GROUP, layout.TYPES, layout.BASIC_TYPES)}
    globals_ = _read_globals(read_table(tables[layout.GLOBAL], path, layout.GLOBAL))
    features_table = read_table(tables[layout.FEATURES], path, layout.FEATURES,
                                aliases=layout.COLUMN_ALIASES)
    spec = WorkbookSpec(path=path, features=[], globals=globals_, groups=lists[layout.GROUP],
                        types=lists[layout.TYPES], basic_types=lists[layout.BASIC_TYPES],
                        table=features_table)
    spec.features = _read_features(features_table, spec)
    _check_features(spec)
    logger.info("%s: %d columns, %d features, %d shared tables", path, len(spec.features),
                sum(f.is_model_feature for f in spec.features), len(globals_))
    return spec


def _read_list(table: SheetTable, key: str) -> list[str]:
    """The values of a one-column list sheet (group, types, basic_types), lower-cased."""
    table.require_columns([key])
    values = []
    for row in table:
        text = row.text(key).lower()
        if text and text not in values:
            values.append(text)
    return values


def _read_globals(table: SheetTable) -> dict[str, GlobalSpec]:
    table.require_columns(layout.GLOBAL_COLUMNS)
    entries: dict[str, GlobalSpec] = {}
    for row in table:
        name = row.text("name")
        if not name:
            raise row.error("name", "a global entry needs a name")
        if name in entries:
            raise row.error("name", f"global {name!r} is defined twice (first in row "
                            f"{entries[name].row.number})")
        kind = _type_of(row.text("type"))
        if kind and kind not in layout.EMBEDDING_TYPES:
            # EasyRec's converter never reads this cell; templates hold data types here too
            logger.warning("%s: sheet 'global' row %d: type %r of %r is ignored (a shared table "
                           "serves %s features)", table.path, row.number, row.text("type"), name,
                           ", ".join(layout.EMBEDDING_TYPES))
            kind = ""
        entries[name] = GlobalSpec(
            row=row, name=name, type=kind,
            hash_bucket_size=positive_int(row, "hash_bucket_size"),
            embedding_dim=positive_int(row, "embedding_dim"),
            default_value=row.text("default_value") or None)
    return entries


def _read_features(table: SheetTable, spec: WorkbookSpec) -> list[FeatureSpec]:
    required = [c for c in layout.FEATURE_COLUMNS if c not in layout.OPTIONAL_FEATURE_COLUMNS]
    table.require_columns(required)
    unknown = [h for k, h in table.headers.items() if k not in layout.FEATURE_COLUMNS]
    if unknown:
        logger.warning("%s: sheet 'features': ignoring columns %s", spec.path, ", ".join(unknown))
    features: list[FeatureSpec] = []
    seen: dict[str, int] = {}
    for row in table:
        feature = _read_feature(row, spec)
        if feature.name in seen:
            raise row.error("name", f"column {feature.name!r} is listed twice (first in row "
                            f"{seen[feature.name]})")
        seen[feature.name] = row.number
        features.append(feature)
    if not features:
        raise table.error("no rows: list the columns of the input table, one per row", row=2)
    return features


def _read_feature(row: SheetRow, spec: WorkbookSpec) -> FeatureSpec:
    name = row.text("name")
    if not name:
        raise row.error("name", "the column name is empty")
    feature = FeatureSpec(
        row=row, name=name,
        data_type=_listed(row, "data_type", layout.BASIC_TYPES_TO_FIELD, spec.basic_types,
                          layout.BASIC_TYPES, "data type"),
        type=_listed(row, "type", layout.FEATURE_TYPES, spec.types, layout.TYPES,
                     "feature type", aliases=layout.TYPE_ALIASES),
        group=row.text("user_item_other").lower(),
        global_name=row.text("global") or None,
        hash_bucket_size=positive_int(row, "hash_bucket_size"),
        embedding_dim=positive_int(row, "embedding_dim"),
        default_value=row.text("default_value") or None,
        weights=row.text("weights") or None,
        boundaries=parse_boundaries(row),
    )
    if feature.group and spec.groups is not None and feature.group not in spec.groups:
        raise row.error("user_item_other", f"group {feature.group!r} is not listed in sheet "
                        f"'group' (listed: {', '.join(spec.groups) or 'none'})")
    _apply_global(feature, spec)
    return feature


def _listed(row: SheetRow, key: str, known, listed: list[str] | None, sheet: str, what: str,
            aliases: dict[str, str] | None = None) -> str:
    """The cell's value, which must be a known value and listed in sheet `sheet` (when the
    workbook has that sheet)."""
    text = row.text(key)
    value = (aliases or {}).get(text.lower(), text.lower())
    if not text:
        raise row.error(key, f"the {what} is empty; use one of {', '.join(known)}")
    if value not in known:
        raise row.error(key, f"unknown {what} {text!r} (known: {', '.join(known)})")
    if listed is not None and value not in listed and text.lower() not in listed:
        raise row.error(key, f"{what} {text!r} is not listed in sheet {sheet!r} "
                        f"(listed: {', '.join(listed) or 'none'})")
    return value


def _type_of(text: str) -> str:
    lowered = text.lower()
    return layout.TYPE_ALIASES.get(lowered, lowered)


# -- cell values ---------------------------------------------------------------------------
def positive_int(row: SheetRow, key: str) -> int | None:
    """The cell as a positive integer, None when empty; anything else is an error."""
    value, text = row.raw(key), row.text(key)
    if not text:
        return None
    number: int | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = int(value) if float(value).is_integer() else None
    elif _INT.fullmatch(text):
        number = int(text)
    if number is None or number <= 0:
        raise row.error(key, f"{key} must be a positive integer, got {text!r}")
    return number


def parse_boundaries(row: SheetRow) -> list[float]:
    """``10,20,30`` (or a single number) as a strictly increasing list of floats."""
    value, text = row.raw("boundaries"), row.text("boundaries")
    if not text:
        return []
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [float(value)]
    tokens = [t.strip() for t in text.strip().strip("[]").split(",")]
    bounds: list[float] = []
    for token in tokens:
        if not _FINITE.fullmatch(token):
            raise row.error("boundaries", f"boundaries must be numbers separated by ',', got "
                            f"{token!r} in {text!r}")
        bound = float(token)
        if bounds and bound <= bounds[-1]:
            raise row.error("boundaries", f"boundaries must be strictly increasing; {token} "
                            f"follows {bounds[-1]:g}")
        bounds.append(bound)
    return bounds


def check_default(row: SheetRow, key: str, text: str, data_type: str) -> None:
    """Raises unless `text` reads as a value of `data_type`."""
    pattern = {"bigint": _INT, "int": _INT, "double": _FLOAT, "float": _FLOAT,
               "bool": _BOOL}.get(data_type)
    if pattern is not None and not pattern.fullmatch(text.strip()):
        raise row.error(key, f"default_value {text!r} is not a {data_type} value")


# -- global entries ------------------------------------------------------------------------
def _apply_global(feature: FeatureSpec, spec: WorkbookSpec) -> None:
    """Fills hash_bucket_size, embedding_dim and default_value from the feature's global entry.

    The entry is the one named in the `global` cell, or, for embedding types with an empty cell,
    the one named like the feature. Its non-empty values take precedence over the row's.
    """
    name = feature.global_name
    if name is None and feature.type in layout.EMBEDDING_TYPES and feature.name in spec.globals:
        name = feature.name
    if name is None:
        return
    entry = spec.globals.get(name)
    if entry is None:
        raise feature.row.error("global", f"global {name!r} is not defined in sheet 'global' "
                                f"(defined: {', '.join(spec.globals) or 'none'})")
    feature.global_name = name
    for key in ("hash_bucket_size", "embedding_dim", "default_value"):
        shared = getattr(entry, key)
        if shared is None:
            continue
        own = getattr(feature, key)
        if own is not None and own != shared:
            logger.warning("%s: sheet 'features' row %d: %s %s of %r is overridden by %s of "
                           "global %r", spec.path, feature.row.number, key, own, feature.name,
                           shared, name)
        setattr(feature, key, shared)
        feature.sources[key] = entry.row


# -- whole-sheet checks --------------------------------------------------------------------
def _check_features(spec: WorkbookSpec) -> None:
    for feature in spec.features:
        _check_requirements(feature)
        _check_default(feature)
    _check_label(spec)
    _check_weights(spec)
    _check_shared_tables(spec)


def _check_requirements(feature: FeatureSpec) -> None:
    """What each type needs: bucket sizes and dimensions (here or from the global entry)."""
    kind, row = feature.type, feature.row
    if kind in layout.EMBEDDING_TYPES:
        what = "num_buckets (ids are in [0, hash_bucket_size))" if kind == layout.INDEXES \
            else "a hash_bucket_size"
        if feature.hash_bucket_size is None:
            raise row.error("hash_bucket_size", f"{kind} feature {feature.name!r} needs {what} "
                            "(in this cell or in its global entry)")
        if feature.embedding_dim is None:
            raise row.error("embedding_dim", f"{kind} feature {feature.name!r} needs an "
                            "embedding_dim (in this cell or in its global entry)")
    if kind == layout.DENSE and feature.boundaries and feature.embedding_dim is None:
        raise row.error("embedding_dim", f"dense feature {feature.name!r} with boundaries is "
                        "bucketized into an embedding and needs an embedding_dim")
    if feature.boundaries and kind != layout.DENSE:
        logger.warning("sheet 'features' row %d: boundaries of %s feature %r are ignored (only "
                       "dense features are bucketized)", row.number, kind, feature.name)
    if feature.weights and kind != layout.TAGS:
        logger.warning("sheet 'features' row %d: weights of %s feature %r are ignored (only tags "
                       "features have weights)", row.number, kind, feature.name)


def _check_default(feature: FeatureSpec) -> None:
    if feature.default_value is None:
        return
    source = feature.source("default_value")
    check_default(source, "default_value", feature.default_value, feature.data_type)


def _check_label(spec: WorkbookSpec) -> None:
    labels = [f for f in spec.features if f.type == layout.LABEL]
    if not labels:
        raise spec.table.error("no column has type 'label'; mark the target column as label",
                               key="type")
    if len(labels) > 1:
        raise labels[1].row.error("type", f"a second label column {labels[1].name!r} (the first "
                                  f"is {labels[0].name!r} in row {labels[0].row.number}); only "
                                  "one label is supported")
    label = labels[0]
    if label.data_type not in layout.NUMERIC_BASIC_TYPES:
        raise label.row.error("data_type", f"label {label.name!r} must be numeric (one of "
                              f"{', '.join(layout.NUMERIC_BASIC_TYPES)}), got {label.data_type!r}")


def _check_weights(spec: WorkbookSpec) -> None:
    """A tags feature's weights cell must name a column of type weights."""
    used: set[str] = set()
    for feature in spec.features:
        if feature.type != layout.TAGS or not feature.weights:
            continue
        target = spec.feature(feature.weights)
        if target is None:
            raise feature.row.error("weights", f"tags feature {feature.name!r} takes its weights "
                                    f"from column {feature.weights!r}, which is not defined in "
                                    "sheet 'features'")
        if target.type != layout.WEIGHTS:
            raise feature.row.error("weights", f"tags feature {feature.name!r} takes its weights "
                                    f"from column {feature.weights!r}, which has type "
                                    f"{target.type!r} (row {target.row.number}); it must have "
                                    "type 'weights'")
        used.add(target.name)
    for feature in spec.features:
        if feature.type == layout.WEIGHTS and feature.name not in used:
            logger.warning("%s: sheet 'features' row %d: weights column %r is not used by any "
                           "tags feature", spec.path, feature.row.number, feature.name)


def _check_shared_tables(spec: WorkbookSpec) -> None:
    """Features sharing a global table must size it the same way: ids vs hashing, bucket
    size and dimension."""
    first: dict[str, FeatureSpec] = {}
    for feature in spec.features:
        if feature.type not in layout.EMBEDDING_TYPES or not feature.global_name:
            continue
        other = first.setdefault(feature.global_name, feature)
        head = (f"{feature.type} feature {feature.name!r} shares global {feature.global_name!r} "
                f"with {other.type} feature {other.name!r} (row {other.row.number})")
        if (other.type == layout.INDEXES) != (feature.type == layout.INDEXES):
            raise feature.row.error("global", f"{head}; indexes features (identity ids) cannot "
                                    "share a table with hashed ones")
        for key in ("hash_bucket_size", "embedding_dim"):
            mine, theirs = getattr(feature, key), getattr(other, key)
            if mine != theirs:
                raise feature.row.error(key, f"{head} but has {key} {mine} instead of {theirs}; "
                                        f"set {key} in the global entry")
