"""The workbook layout of EasyRec's Excel feature sheets: sheet names, columns and values.

A workbook has five sheets:

- ``features``: one row per input column, in the order of the columns in the data files.
- ``global``: shared embedding tables; features naming one in their ``global`` cell share it.
- ``group``, ``types``, ``basic_types``: the lists of allowed values of the features sheet's
  ``user_item_other``, ``type`` and ``data_type`` columns (the drop-down lists of the template);
  optional, as EasyRec's converter never reads them.
"""
from __future__ import annotations

FEATURES = "features"
GLOBAL = "global"
GROUP = "group"
TYPES = "types"
BASIC_TYPES = "basic_types"
SHEETS = (FEATURES, GLOBAL, GROUP, TYPES, BASIC_TYPES)

# features sheet columns, in template order. As in EasyRec's converter, only the first five
# must be present (it reads the others only where the sheet has them).
FEATURE_COLUMNS = ("name", "data_type", "type", "user_item_other", "global", "hash_bucket_size",
                   "embedding_dim", "default_value", "weights", "boundaries", "query")
OPTIONAL_FEATURE_COLUMNS = ("hash_bucket_size", "embedding_dim", "default_value", "weights",
                            "boundaries", "query")
# sheets EasyRec's converter does not read: when one is missing its values are not restricted
OPTIONAL_SHEETS = (GROUP, TYPES, BASIC_TYPES)
# EasyRec's converter reads the group column under the name `group`; accept it as well.
COLUMN_ALIASES = {"group": "user_item_other"}

GLOBAL_COLUMNS = ("name", "type", "hash_bucket_size", "embedding_dim", "default_value")
# the single column of each list sheet
LIST_COLUMNS = {GROUP: "group", TYPES: "types", BASIC_TYPES: "basic_types"}

# feature types (features.type)
LABEL = "label"
CATEGORY = "category"
DENSE = "dense"
TAGS = "tags"
WEIGHTS = "weights"
INDEXES = "indexes"
NOTNEED = "notneed"
FEATURE_TYPES = (LABEL, CATEGORY, TAGS, WEIGHTS, DENSE, INDEXES, NOTNEED)
TYPE_ALIASES = {"not_need": NOTNEED, "not_needed": NOTNEED}
# types that become a feature config (the others are input fields only)
MODEL_FEATURE_TYPES = (CATEGORY, DENSE, TAGS, INDEXES)
# types that may share an embedding table through the global sheet
EMBEDDING_TYPES = (CATEGORY, TAGS, INDEXES)

# basic_types (features.data_type) -> DatasetConfig.FieldType name
BASIC_TYPES_TO_FIELD = {
    "string": "STRING",
    "bigint": "INT64",
    "int": "INT32",
    "double": "DOUBLE",
    "float": "FLOAT",
    "bool": "BOOL",
}
NUMERIC_BASIC_TYPES = ("bigint", "int", "double", "float")

# model types of the converter and the group values each accepts (besides `label`)
MODEL_TYPES = ("deepfm", "wide_and_deep", "multi_tower", "dssm")
WIDE, DEEP, WIDE_AND_DEEP = "wide", "deep", "wide_and_deep"
WIDE_DEEP_GROUPS = (WIDE_AND_DEEP, WIDE, DEEP)
DSSM_GROUPS = ("user", "item")
# group values listed by the shipped templates
TEMPLATE_GROUPS = {
    "deepfm": WIDE_DEEP_GROUPS + (LABEL,),
    "wide_and_deep": WIDE_DEEP_GROUPS + (LABEL,),
    "multi_tower": ("user", "item", "user_item", "other", LABEL),
    "dssm": DSSM_GROUPS + (LABEL,),
}
