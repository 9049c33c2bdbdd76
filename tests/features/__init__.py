"""Tests of easy_rec.features."""
