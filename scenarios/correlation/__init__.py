"""Correlation: causation chains, diamonds and missing parents through the trace API."""
