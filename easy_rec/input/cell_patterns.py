"""Where easy_rec.config.validate still imports `is_valid_cell` from (config/ is outside the
change that moved the cell patterns to easy_rec.tables.cell_patterns); delete this module once
that import names easy_rec.tables.cell_patterns."""
from easy_rec.tables.cell_patterns import is_valid_cell

__all__ = ["is_valid_cell"]
