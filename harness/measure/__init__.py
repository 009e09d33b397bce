"""Clocks, process-tree sampling and statistics."""
