"""Detectors: pure functions from evidence to findings, one module per family of problems."""
