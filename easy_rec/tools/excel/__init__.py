"""Pipeline configs from EasyRec's Excel feature workbooks (see docs/excel_config.md)."""
from easy_rec.tools.excel.builder import ConvertOptions, GeneratedConfig, build_config
from easy_rec.tools.excel.errors import ExcelConfigError
from easy_rec.tools.excel.groups import assign_groups
from easy_rec.tools.excel.layout import MODEL_TYPES
from easy_rec.tools.excel.spec import read_workbook

__all__ = ["ConvertOptions", "ExcelConfigError", "GeneratedConfig", "MODEL_TYPES",
           "assign_groups", "build_config", "read_workbook"]
