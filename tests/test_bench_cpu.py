"""bench/cpu.py: a quick run of the app-overhead section, and the arithmetic behind its report."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_cpu", ROOT / "bench" / "cpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_overhead_run_writes_positive_figures(tmp_path):
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "cpu.py"), "--quick", "--only", "overhead",
                           "--out", str(out)], capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "cpu.json").read_text())
    overhead = report["sections"]["overhead"]
    for key in ("direct_s", "client_s", "http_s", "client_rejected_s", "client_download_s", "png_save_s",
                "server_fn_call_s", "app_peak_rss_mib", "app_idle_rss_mib"):
        assert overhead[key] > 0, (key, overhead[key])
    assert len(overhead["samples"]["direct_s"]) == len(overhead["samples"]["client_s"]) == 2
    assert report["machine"]["logical_cores"] > 0 and report["machine"]["torch"]
    targets = {t["id"]: t for t in report["targets"]}
    assert targets["app_overhead"]["status"] in ("pass", "fail")
    assert targets["app_overhead"]["value"] == overhead["overhead_pct"]
    assert targets["ui_ready"]["status"] == targets["app_overhead_1thread"]["status"] == "not measured"
    markdown = (out / "cpu.md").read_text()
    assert "| gradio_client /generate round trip, same request (" in markdown
    assert markdown in done.stdout


def test_overhead_parts_add_up_to_the_round_trip():
    bench = _load_bench()
    medians = {"direct_s": 0.20, "png_save_s": 0.02, "client_s": 0.40, "http_s": 0.30,
               "client_download_s": 0.01, "server_queue_wait_s": 0.002, "server_preprocess_s": 0.005,
               "server_fn_call_s": 0.25, "server_postprocess_s": 0.008}
    result = bench.overhead_breakdown(medians)
    assert result["overhead_pct"] == pytest.approx(100.0)
    assert sum(result["breakdown_s"].values()) == pytest.approx(result["overhead_s"], abs=1e-3)
    assert result["breakdown_s"]["handler_rest_s"] == pytest.approx(0.03)


def test_targets_pass_fail_and_not_measured():
    bench = _load_bench()
    targets = {t["id"]: t for t in bench.evaluate_targets({"overhead": {"overhead_pct": 15.0},
                                                            "ui": {"ui_ready_s": 10.5}})}
    assert targets["app_overhead"]["status"] == "pass"
    assert targets["ui_ready"]["status"] == "fail"
    assert {t["status"] for t in bench.evaluate_targets({})} == {"not measured"}


def test_unknown_section_is_rejected(capsys):
    bench = _load_bench()
    with pytest.raises(SystemExit):
        bench.parse_args(["--out", "x", "--only", "overhead,gpu"])
    assert "unknown section(s) gpu" in capsys.readouterr().err
