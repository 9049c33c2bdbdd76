"""Tests of easy_rec.utils."""
