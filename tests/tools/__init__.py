"""Tests of easy_rec.tools."""
