#!/usr/bin/env bash
# Set up (first time) and run the benchmarks into bench/results: the CPU one on the tiny model, then the GPU
# one in full mode where nvidia-smi finds a GPU, else its CPU smoke mode; the OCR corpus between them. Extra
# arguments go to bench.cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
.venv/bin/python -m bench.cpu --out bench/results "$@"
# Proof-reading accuracy and OCR time on the seeded poster corpus; exit code 2 means a target was missed.
.venv/bin/python -m bench.ocr_corpus --out bench/results || [ $? -eq 2 ]
if nvidia-smi >/dev/null 2>&1; then
  .venv/bin/python -m bench.gpu --out bench/results/gpu
else
  .venv/bin/python -m bench.gpu --smoke --out bench/results/gpu-smoke
fi
