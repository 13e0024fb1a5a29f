"""Fixtures for tests that need a model (tiny, random weights, written to disk)."""
