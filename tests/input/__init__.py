"""Tests of easy_rec.input."""
