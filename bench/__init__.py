"""Benchmarks, run as modules from the repository root: `python -m bench.cpu`, `python -m bench.gpu`,
`python -m bench.load` (see docs/benchmarks.md)."""
