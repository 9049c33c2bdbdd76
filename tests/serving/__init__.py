"""Tests of easy_rec.serving."""
