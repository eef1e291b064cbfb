"""Metric functions, the trained evaluator and the benchmark runner."""
