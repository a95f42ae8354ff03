"""bench/prompt.py in smoke mode: it runs, alternates the three ways and writes its report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_smoke_run_times_every_way_for_every_prompt(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.prompt", "--smoke", "--layers", "1", "--runs", "1",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "prompt.json").read_text())
    assert report["smoke"] is True
    ways = {(row["prompt"], row["way"]) for row in report["rows"]}
    assert len(ways) == 6 and all(row["seconds"] >= 0 for row in report["rows"])
    padded = [row for row in report["rows"] if row["way"].startswith("padded")]
    assert all(row["vs_padded"] == 1.0 and 0 < row["tokens"] < 512 for row in padded)
    assert "| Chinese poster |" in (tmp_path / "prompt.md").read_text()
