"""Batch processing of many recorded bags: discovery, a resumable manifest, local and Ray executors."""
