"""Optimization: sparse-aware optimizers and learning-rate schedules."""
