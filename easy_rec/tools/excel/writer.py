"""Writing workbooks in the layout the converter reads, byte for byte reproducibly.

openpyxl stamps the save time into docProps/core.xml and into every zip entry; `save_workbook`
replaces both with a fixed time and stores the entries uncompressed (deflate output may differ
between zlib builds), so that the same content always gives the same bytes.
"""
from __future__ import annotations

import datetime
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from easy_rec.tools.excel import layout
from easy_rec.utils.files import atomic_write_bytes

FIXED_TIME = datetime.datetime(2024, 1, 1, 0, 0, 0)
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)
_CORE_TIMES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


@dataclass
class SheetData:
    """A sheet to write: its header row and data rows (None for an empty cell)."""

    name: str
    header: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)


def build_workbook(sheets: Sequence[SheetData], dropdowns: bool = True):
    """An openpyxl Workbook with `sheets` in order, bold headers, sized columns and, when
    `dropdowns`, drop-down lists on the features sheet's type, data_type and user_item_other
    columns taken from the types, basic_types and group sheets."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    for sheet in sheets:
        worksheet = workbook.create_sheet(sheet.name)
        worksheet.append(list(sheet.header))
        for row in sheet.rows:
            worksheet.append(list(row))
        for cell in worksheet[1]:
            cell.font = Font(bold=True)
        _size_columns(worksheet, sheet)
        worksheet.freeze_panes = "A2"
    if dropdowns:
        _add_dropdowns(workbook, {s.name: s for s in sheets})
    return workbook


def _size_columns(worksheet, sheet: SheetData) -> None:
    from openpyxl.utils import get_column_letter

    for i, title in enumerate(sheet.header):
        width = max([len(str(title))] + [len(str(r[i])) for r in sheet.rows
                                         if i < len(r) and r[i] is not None])
        worksheet.column_dimensions[get_column_letter(i + 1)].width = min(width + 2, 60)


def _add_dropdowns(workbook, sheets: dict[str, SheetData]) -> None:
    """List validations referring to the list sheets (as EasyRec's templates do)."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    features = sheets.get(layout.FEATURES)
    if features is None:
        return
    worksheet = workbook[layout.FEATURES]
    last_row = max(len(features.rows) + 1, 200)
    for column, source in (("data_type", layout.BASIC_TYPES), ("type", layout.TYPES),
                           ("user_item_other", layout.GROUP)):
        if column not in features.header or source not in sheets:
            continue
        count = len(sheets[source].rows) + 1
        letter = get_column_letter(list(features.header).index(column) + 1)
        validation = DataValidation(type="list", formula1=f"{source}!$A$2:$A${count}",
                                    allow_blank=True, showErrorMessage=True)
        validation.errorTitle = f"not in sheet '{source}'"
        validation.error = f"pick a value listed in sheet '{source}'"
        validation.add(f"{letter}2:{letter}{last_row}")
        worksheet.add_data_validation(validation)


def save_workbook(workbook, path: str) -> None:
    """Saves `workbook` to `path` (atomically) with fixed timestamps: same content, same bytes."""
    workbook.properties.created = FIXED_TIME
    workbook.properties.modified = FIXED_TIME
    buffer = io.BytesIO()
    workbook.save(buffer)
    atomic_write_bytes(path, _normalize_zip(buffer.getvalue()))


def write_workbook(path: str, sheets: Sequence[SheetData], dropdowns: bool = True) -> None:
    """`build_workbook` + `save_workbook`."""
    save_workbook(build_workbook(sheets, dropdowns), path)


def _normalize_zip(data: bytes) -> bytes:
    """The .xlsx zip with fixed entry times and fixed created/modified document properties."""
    out = io.BytesIO()
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _CORE_TIMES.sub(lambda m: m.group(1) + stamp + m.group(3), content)
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_STORED
            entry.create_system = 3
            entry.external_attr = 0o644 << 16
            target.writestr(entry, content)
    return out.getvalue()
