"""Tests of easy_rec.models."""
