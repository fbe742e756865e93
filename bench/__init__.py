"""Benchmarks: `python -m bench.ingest` (see docs/performance.md) and the data set loader."""
