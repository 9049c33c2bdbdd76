"""Tests of easy_rec.hpo."""
