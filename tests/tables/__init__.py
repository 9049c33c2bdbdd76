"""Tests of easy_rec.tables."""
