"""Benchmarks: scripts that measure maildesk, run as ``python -m bench.<name>`` (see README.md)."""
