"""Tests of easy_rec.training."""
