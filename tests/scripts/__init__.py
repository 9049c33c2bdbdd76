"""Tests of scripts/ (data builders and generators)."""
