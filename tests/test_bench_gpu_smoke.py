"""bench/gpu.py in smoke mode on the CPU, and the full-size configs it reads."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "bench" / "configs"
VARIANTS = {"eager-native", "eager-best-attn", "eager-cudnn", "stream", "offload", "compile-native-attn", "compile-complex-rope",
            "compile", "cudagraphs", "fp8-compile"}


def test_smoke_run_writes_rows_with_positive_timings(tmp_path):
    out = tmp_path / "smoke"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "results.json").read_text())
    rows = report["rows"]
    assert {row["variant"] for row in rows} == VARIANTS
    measured = [row for row in rows if row["variant"] == "eager-native"]
    assert [row["batch"] for row in measured] == [1, 2]
    for row in measured:
        assert row["status"] == "ok", row
        for key in ("encode_s", "denoise_s", "decode_s", "total_s", "per_image_s"):
            assert row[key] > 0, (key, row)
        assert row["transformer_calls"] == 2  # one per step in diffusers 0.42
    streamed = [row for row in rows if row["variant"] == "stream"]
    assert streamed and all(row["status"] == "skipped" and "needs a GPU" in row["note"] for row in streamed)
    assert all(row["status"] == "skipped" for row in rows if row["variant"] == "offload")
    assert {t["id"] for t in report["targets"]} == {"compile_e2e", "fp8_e2e", "stream_vram", "stream_time"}
    assert report["finished"] is True
    assert report["llm"]["status"] == "ok" and report["llm"]["new_tokens"] == 200
    assert "| eager-native | 1 |" in (out / "results.md").read_text()


def test_results_are_written_after_every_variant(tmp_path, monkeypatch):
    bench = _load_bench()
    written = []
    monkeypatch.setattr(bench, "write_report", lambda report, markdown, out, stem: written.append(len(report["rows"])))
    assert bench.main(["--smoke", "--quick", "--out", str(tmp_path)]) == 0
    quick = [v for v in bench.VARIANTS if v.quick]
    assert written == [0] + list(range(1, len(quick) + 1)) + [len(quick)]  # start, each variant, final


def test_full_configs_match_the_constructors():
    from diffusers import AutoencoderKL, ZImageTransformer2DModel
    from transformers import Qwen3Config

    accepted = {
        "transformer": set(inspect.signature(ZImageTransformer2DModel.__init__).parameters),
        "vae": set(inspect.signature(AutoencoderKL.__init__).parameters),
        "text_encoder": {field.name for field in dataclasses.fields(Qwen3Config)},
    }
    from zimage.tiny import CONFIGS as TINY

    for name, names in accepted.items():
        full = json.loads((CONFIGS / f"{name}.json").read_text())
        assert set(full) <= names, (name, set(full) - names)
        assert set(TINY[name]) <= names, (name, set(TINY[name]) - names)  # smoke mode builds zimage.tiny's


def test_full_configs_have_the_real_sizes():
    transformer = json.loads((CONFIGS / "transformer.json").read_text())
    text_encoder = json.loads((CONFIGS / "text_encoder.json").read_text())
    vae = json.loads((CONFIGS / "vae.json").read_text())
    assert transformer["dim"] // transformer["n_heads"] == sum(transformer["axes_dims"])  # the model asserts it
    assert (transformer["dim"], transformer["n_layers"], transformer["cap_feat_dim"]) == (3840, 30, 2560)
    assert text_encoder["hidden_size"] == transformer["cap_feat_dim"]
    assert (text_encoder["num_hidden_layers"], text_encoder["num_key_value_heads"]) == (36, 8)
    assert (vae["latent_channels"], vae["scaling_factor"], vae["shift_factor"]) == (16, 0.3611, 0.1159)


def _load_bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "bench" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _gpu_settings(bench, budget_s: float = 400.0):
    import torch

    return bench.Settings(False, torch.device("cuda"), torch.bfloat16, 1024, 1024, 8, (1, 4), 3, budget_s, 1.0)


def test_targets_pass_and_fail_from_the_best_batch_one_row():
    bench = _load_bench()
    rows = [
        {"variant": "compile", "batch": 1, "status": "ok", "total_s": 0.70, "peak_vram_gib": 22.0},
        {"variant": "cudagraphs", "batch": 1, "status": "ok", "total_s": 0.58, "peak_vram_gib": 22.0},
        {"variant": "cudagraphs", "batch": 4, "status": "ok", "total_s": 0.10, "peak_vram_gib": 30.0},
        {"variant": "stream", "batch": 1, "status": "ok", "total_s": 2.0, "reserved_vram_gib": 16.5},
        {"variant": "eager-native", "batch": 1, "status": "ok", "total_s": 1.5},
        {"variant": "fp8-compile", "batch": 1, "status": "failed", "note": "boom"},
    ]
    targets = {t["id"]: t for t in bench.evaluate_targets(rows, _gpu_settings(bench), "NVIDIA H100 80GB HBM3")}
    assert (targets["compile_e2e"]["status"], targets["compile_e2e"]["variant"]) == ("pass", "cudagraphs")
    assert targets["stream_vram"]["status"] == "fail"  # reserved, not allocated, decides a 16 GB claim
    assert (targets["stream_time"]["status"], targets["stream_time"]["value"]) == ("pass", 1.333)
    assert targets["fp8_e2e"]["status"] == "not measured"
    bench.mark_rows(rows, list(targets.values()))
    assert rows[3]["target"] == "stream_vram: fail, stream_time: pass"


def test_budget_guard_keeps_room_for_required_variants():
    import time

    bench = _load_bench()
    names = [v.name for v in bench.VARIANTS]
    optional, required = names.index("eager-best-attn"), names.index("stream")
    settings = _gpu_settings(bench, budget_s=200.0)
    now = time.perf_counter()
    assert bench.budget_problem(settings, required, now) is None
    assert "time budget" in bench.budget_problem(settings, optional, now)  # would squeeze out compile and fp8
    assert bench.budget_problem(_gpu_settings(bench, budget_s=2000.0), optional, now) is None


def test_fp8_rows_run_last_because_quantization_cannot_be_undone():
    bench = _load_bench()
    fp8 = [variant.fp8 for variant in bench.VARIANTS]
    assert True in fp8 and fp8 == sorted(fp8), "every row after the first fp8 row must be an fp8 row"
    names = [variant.name for variant in bench.VARIANTS]
    assert names.index("compile") < names.index("compile-complex-rope") < names.index("fp8-compile")


def test_a_row_after_fp8_quantization_is_skipped_not_measured_on_fp8_weights():
    from types import SimpleNamespace

    import pytest
    import torch

    bench = _load_bench()
    settings = bench.Settings(True, torch.device("cpu"), torch.float32, 256, 256, 2, (1,), 1, 50.0, 0.05)
    quantized = SimpleNamespace(transformer=SimpleNamespace(_zimage_fp8=True))
    with pytest.raises(bench.Skip, match="fp8, which cannot be undone"):
        bench.prepare(quantized, settings, bench.VARIANTS[0])


def test_a_variants_inductor_settings_do_not_leak_into_the_next():
    import torch._inductor.config as inductor_config

    bench = _load_bench()
    before = inductor_config.coordinate_descent_tuning
    with bench.inductor_settings_kept():
        inductor_config.coordinate_descent_tuning = not before
    assert inductor_config.coordinate_descent_tuning == before
