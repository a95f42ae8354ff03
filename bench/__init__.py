"""Benchmarks: `python bench/cpu.py`, `python bench/gpu.py`, `python bench/load.py` (see docs/benchmarks.md)."""
