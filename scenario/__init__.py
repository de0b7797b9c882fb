"""Synthetic multi-force scenarios with planted cross-force networks and a known truth."""
