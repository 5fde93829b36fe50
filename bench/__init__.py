"""Benchmarks: ``python -m bench`` (the load suite) and ``python -m bench.codec`` (the codec)."""
