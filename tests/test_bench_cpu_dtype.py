"""bench/cpu_dtype.py in smoke mode: it times both dtypes and writes its report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_smoke_run_times_both_dtypes(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.cpu_dtype", "--smoke", "--runs", "1", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "cpu_dtype.json").read_text())
    assert set(report["seconds"]) == {"float32", "bfloat16"} and all(s > 0 for s in report["seconds"].values())
    assert report["side"] == 256 and report["ratio"] > 0
    assert "| bfloat16 |" in (tmp_path / "cpu_dtype.md").read_text()
