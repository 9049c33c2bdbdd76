"""Evaluation: metrics over the eval input, and retrieval metrics of matching models."""
