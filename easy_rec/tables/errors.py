"""Errors of reading tables: the input files of training, evaluation and batch prediction.

The command-line wrapper (`easy_rec.cli.run`) reports any `InputError` as ``error: ...`` with
exit status 1.
"""
from __future__ import annotations


class InputError(ValueError):
    """The input files cannot be read as configured."""


class PredictError(InputError):
    """The model, the input table or the options of a batch prediction cannot be used."""


class RejectedRowError(PredictError):
    """A row does not parse (wrong column count, unparsable cell) and errors are not ignored."""
