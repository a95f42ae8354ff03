"""The proof-reading benchmarks run end to end on a few images (their figures come from full runs, in docs/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"bench.{module}", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_corpus_is_seeded_and_reports_every_figure(tmp_path):
    done = run("ocr_corpus", "--count", "3", "--typos", "2", "--out", str(tmp_path), "--save-images",
               str(tmp_path / "img"))
    assert done.returncode in (0, 2), done.stderr[-2000:]  # 2: a target missed, which 3 posters cannot judge
    figures = json.loads((tmp_path / "ocr_corpus.json").read_text())["figures"]
    assert figures["posters"] == 3 and figures["typo_posters"] == 2 and figures["phrases"] >= 3
    assert 0 <= figures["recall"] <= 1 and 0 <= figures["false_alarm_rate"] <= 1
    assert figures["ocr_median_s"] > 0 and figures["spans_40_missing"] >= 38
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == ["0000.png", "0001.png", "0002.png",
                                                                     "0003-typo.png", "0004-typo.png"]
    from bench.ocr_corpus import poster

    assert poster(5).image.tobytes() == poster(5).image.tobytes() and poster(5).phrases == poster(5).phrases


def test_text_accuracy_runs_on_the_tiny_model(tmp_path):
    done = run("text_accuracy", "--model", "tiny", "--presets", "poster", "--seeds", "2", "--size", "256x256",
               "--quick", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "text_accuracy.json").read_text())
    assert set(report["table"]) == {"poster/en", "poster/zh"}
    for run_ in report["runs"]:
        assert len(run_["verdicts"]) == 2 and run_["expected"]
        assert all(v["ocr"].startswith("rapidocr-onnxruntime") for v in run_["verdicts"])
    assert "Tiny random-weights model" in (tmp_path / "text_accuracy.md").read_text()
