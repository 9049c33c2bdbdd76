"""Tests of easy_rec.config."""
