"""bench/vae_slicing.py on a small size: every (count, mode) runs in its own process and lands in the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_small_run_reports_each_count_whole_and_sliced(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.vae_slicing", "--side", "64", "--counts", "1", "2",
                           "--runs", "1", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "vae_slicing.json").read_text())
    assert [(row["count"], row["mode"]) for row in report["rows"]] == [
        (1, "whole batch"), (1, "sliced"), (2, "whole batch"), (2, "sliced")]
    assert all(row["seconds"] > 0 and row["peak_mib"] >= 0 for row in report["rows"])
    assert "| 2 | sliced |" in (tmp_path / "vae_slicing.md").read_text()
