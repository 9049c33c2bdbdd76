"""Errors of batch prediction.

`PredictError` derives from the input readers' `InputError`, so the command-line wrapper
(`easy_rec.cli.run`) reports it as ``error: ...`` with exit status 1 like any bad input.
"""
from __future__ import annotations

from easy_rec.input.csv_input import InputError


class PredictError(InputError):
    """The model, the input table or the options of a batch prediction cannot be used."""


class RejectedRowError(PredictError):
    """A row does not parse (wrong column count, unparsable cell) and errors are not ignored."""
