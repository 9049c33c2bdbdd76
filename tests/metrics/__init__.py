"""Tests of easy_rec.metrics."""
