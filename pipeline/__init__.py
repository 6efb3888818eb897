"""Cogniverse optimization pipeline: harvest routing traces, train DSPy programs, gate promotion."""

__version__ = "0.1.0"
