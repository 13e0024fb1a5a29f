"""Fixtures for tests that need a synthetic scene with exact ground truth."""
