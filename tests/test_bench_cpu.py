"""bench.cpu: a quick run of the app-overhead section, and the arithmetic behind its report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench import cpu as bench
from bench.cpu_table import evaluate_targets
from devtools.apphost import ROOT


def test_quick_overhead_run_writes_positive_figures(tmp_path):
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, "-m", "bench.cpu", "--quick", "--only", "overhead", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "cpu.json").read_text())
    overhead = report["sections"]["overhead"]
    for key in ("direct_s", "client_s", "http_s", "client_rejected_s", "client_download_s", "png_save_s",
                "app_peak_rss_mib", "app_idle_rss_mib"):
        assert overhead[key] > 0, (key, overhead[key])
    assert len(overhead["samples"]["direct_s"]) == len(overhead["samples"]["client_s"]) == 2
    assert report["machine"]["logical_cores"] > 0 and report["machine"]["torch"]
    targets = {t["id"]: t for t in report["targets"]}
    assert targets["app_overhead"]["status"] in ("pass", "fail")
    assert targets["app_overhead"]["value"] == overhead["overhead_pct"]
    assert targets["ui_ready"]["status"] == "not measured"
    markdown = (out / "cpu.md").read_text()
    assert "| gradio_client /generate round trip, same request |" in markdown
    assert markdown in done.stdout


def test_overhead_split_through_the_client_and_over_rest():
    medians = {"direct_s": 0.20, "client_s": 0.40, "http_s": 0.21, "client_download_s": 0.01}
    split = bench.overhead_split(medians)
    assert split["overhead_pct"] == pytest.approx(100.0)
    assert split["rest_overhead_pct"] == pytest.approx(10.0)
    assert split["client_library_s"] == pytest.approx(0.18)
    assert split["rest_overhead_s"] + split["client_library_s"] == pytest.approx(split["overhead_s"])


def test_targets_pass_fail_and_not_measured():
    targets = {t["id"]: t for t in evaluate_targets({"overhead": {"overhead_pct": 15.0},
                                                            "ui": {"ui_ready_s": 10.5}})}
    assert targets["app_overhead"]["status"] == "pass"
    assert targets["ui_ready"]["status"] == "fail"
    assert {t["status"] for t in evaluate_targets({})} == {"not measured"}


def test_unknown_section_is_rejected():
    done = subprocess.run([sys.executable, "-m", "bench.cpu", "--out", "x", "--only", "overhead,threads"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown section(s) threads" in done.stderr
