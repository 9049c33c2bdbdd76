"""Reading the sheets of an .xlsx workbook into tables of text cells that know their location."""
from __future__ import annotations

import datetime
import logging
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from easy_rec.tools.excel.errors import ExcelConfigError

logger = logging.getLogger(__name__)


def cell_text(value: Any) -> str:
    """The text of a cell value: '' for empty cells, integral numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    return str(value).strip()


@dataclass
class SheetRow:
    """One data row of a sheet: its 1-based row number and its cells by column key."""

    table: SheetTable
    number: int
    values: dict[str, Any]

    def raw(self, key: str) -> Any:
        """The cell value as openpyxl read it (None when empty or the column is absent)."""
        return self.values.get(key)

    def text(self, key: str) -> str:
        """The cell as stripped text ('' when empty or the column is absent)."""
        return cell_text(self.values.get(key))

    def error(self, key: str | None, reason: str) -> ExcelConfigError:
        """An error located at this row and column `key` (the whole row when None)."""
        column = self.table.header_name(key) if key else None
        return ExcelConfigError(reason, path=self.table.path, sheet=self.table.name,
                                row=self.number, column=column)


@dataclass
class SheetTable:
    """A sheet read as a header row (row 1) and data rows; columns are keyed by lower-case
    header text (aliases mapped to their canonical key)."""

    path: str
    name: str
    headers: dict[str, str] = field(default_factory=dict)  # key -> header text as written
    rows: list[SheetRow] = field(default_factory=list)

    def header_name(self, key: str) -> str:
        """The column's header as written in the sheet (the key itself for absent columns)."""
        return self.headers.get(key, key)

    def error(self, reason: str, key: str | None = None, row: int | None = None
              ) -> ExcelConfigError:
        """An error about the sheet (optionally a column and a row)."""
        column = self.header_name(key) if key else None
        return ExcelConfigError(reason, path=self.path, sheet=self.name, row=row, column=column)

    def require_columns(self, keys: Sequence[str]) -> None:
        """Raises naming the header row and the first missing column of `keys`."""
        for key in keys:
            if key not in self.headers:
                found = ", ".join(self.headers.values()) or "none"
                raise self.error(f"column is missing (found columns: {found})", key=key, row=1)

    def __iter__(self) -> Iterator[SheetRow]:
        return iter(self.rows)


#: the first bytes of an OLE2 compound file: an Excel 97-2003 (.xls) workbook
XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def open_workbook(path: str):
    """Loads the workbook at `path`: .xlsx with openpyxl (values, not formulas), .xls (EasyRec's
    templates) with xlrd when it is installed; errors name the file."""
    if _is_xls(path):
        return open_xls_workbook(path)
    try:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException
    except ImportError:
        raise ExcelConfigError("reading workbooks needs openpyxl (pip install openpyxl)",
                               path=path) from None

    try:
        return openpyxl.load_workbook(path, data_only=True)
    except FileNotFoundError:
        raise ExcelConfigError("workbook not found", path=path) from None
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as error:
        raise ExcelConfigError(f"cannot read the workbook (an .xlsx file is expected; save .xls "
                               f"workbooks as .xlsx first): {error}", path=path) from None


def _is_xls(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(XLS_MAGIC)) == XLS_MAGIC
    except OSError:
        return False  # openpyxl reports the missing file


def open_xls_workbook(path: str) -> XlsWorkbook:
    """An .xls workbook read with xlrd, behind the part of openpyxl's interface the reader uses."""
    try:
        import xlrd
    except ImportError:
        raise ExcelConfigError("this is an Excel 97-2003 (.xls) workbook; reading it needs xlrd "
                               "(pip install xlrd), or open it in Excel or LibreOffice and save "
                               "it as .xlsx", path=path) from None
    try:
        return XlsWorkbook(xlrd.open_workbook(path))
    except xlrd.XLRDError as error:
        raise ExcelConfigError(f"cannot read the .xls workbook: {error}", path=path) from None


@dataclass
class XlsCell:
    """A cell as the reader uses openpyxl's: its value (None when empty) and 1-based row."""

    value: Any
    row: int


class XlsSheet:
    """An xlrd sheet with openpyxl's `max_row` and `iter_rows`."""

    def __init__(self, sheet) -> None:
        self._sheet = sheet
        self.max_row = sheet.nrows

    def iter_rows(self, min_row: int, max_row: int) -> Iterator[tuple[XlsCell, ...]]:
        for index in range(min_row - 1, min(max_row, self._sheet.nrows)):
            yield tuple(XlsCell(_xls_value(cell), index + 1) for cell in self._sheet.row(index))


class XlsWorkbook:
    """An xlrd book with openpyxl's `sheetnames` and item access."""

    def __init__(self, book) -> None:
        self._book = book
        self.sheetnames = book.sheet_names()

    def __getitem__(self, name: str) -> XlsSheet:
        return XlsSheet(self._book.sheet_by_name(name))


# xlrd cell types: 0 empty, 1 text, 2 number, 3 date, 4 boolean, 5 error, 6 blank
_XLS_EMPTY_TYPES = (0, 5, 6)
_XLS_BOOLEAN = 4


def _xls_value(cell) -> Any:
    if cell.ctype in _XLS_EMPTY_TYPES:
        return None
    if cell.ctype == _XLS_BOOLEAN:
        return bool(cell.value)
    return cell.value


def find_sheet(workbook, path: str, name: str, optional: bool = False):
    """The worksheet called `name` (case and surrounding spaces ignored); when there is none,
    None if `optional`, else an error."""
    for sheet_name in workbook.sheetnames:
        if sheet_name.strip().lower() == name:
            return workbook[sheet_name]
    if optional:
        logger.info("%s: no sheet %r; its values are not restricted", path, name)
        return None
    found = ", ".join(repr(s) for s in workbook.sheetnames)
    raise ExcelConfigError(f"sheet is missing (the workbook has {found})", path=path, sheet=name)


def read_table(worksheet, path: str, name: str, aliases: dict[str, str] | None = None
               ) -> SheetTable:
    """Reads `worksheet`: row 1 is the header; fully empty rows are skipped."""
    aliases = aliases or {}
    table = SheetTable(path=path, name=name)
    rows = worksheet.iter_rows(min_row=1, max_row=max(worksheet.max_row, 1))
    header = next(rows, ())
    positions = _header_positions(table, header, aliases)
    for cells in rows:
        values = {key: cells[i].value for key, i in positions.items() if i < len(cells)}
        if all(cell_text(v) == "" for v in values.values()):
            continue
        table.rows.append(SheetRow(table, cells[0].row, values))
    logger.debug("sheet %s: %d rows, columns %s", name, len(table.rows), list(table.headers))
    return table


def _header_positions(table: SheetTable, header, aliases: dict[str, str]) -> dict[str, int]:
    """Column key -> 0-based position; duplicate headers are an error."""
    positions: dict[str, int] = {}
    for i, cell in enumerate(header):
        text = cell_text(cell.value)
        if not text:
            continue
        key = aliases.get(text.lower(), text.lower())
        if key in positions:
            raise ExcelConfigError(
                f"column appears twice (also column {positions[key] + 1})", path=table.path,
                sheet=table.name, row=1, column=text)
        positions[key] = i
        table.headers[key] = text
    if not positions:
        raise ExcelConfigError("the header row is empty; row 1 must name the columns",
                               path=table.path, sheet=table.name, row=1)
    return positions
