"""Errors of the input readers."""
from __future__ import annotations


class InputError(ValueError):
    """The input files cannot be read as configured."""
