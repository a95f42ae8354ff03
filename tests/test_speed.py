"""zimage.speed on the CPU: every lever must degrade to a clear, safe answer when it cannot apply."""

from __future__ import annotations

import logging

import pytest
import torch

from zimage import speed
from zimage.errors import ValidationError


@pytest.fixture(scope="module")
def transformer():
    """A small random ZImageTransformer2DModel; the real class, so diffusers' own checks run."""
    from diffusers import ZImageTransformer2DModel

    torch.manual_seed(0)
    model = ZImageTransformer2DModel(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=32, n_layers=2, n_refiner_layers=1,
        n_heads=2, n_kv_heads=2, qk_norm=True, cap_feat_dim=32, axes_dims=[4, 6, 6], axes_lens=[1536, 512, 512],
    )
    with torch.no_grad():  # uninitialised memory in some diffusers versions
        model.x_pad_token.normal_(std=0.02)
        model.cap_pad_token.normal_(std=0.02)
    return model.eval()


@pytest.fixture(scope="module")
def pipe():
    from zimage.tiny import build_pipeline

    pipeline = build_pipeline()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _backends(model) -> set:
    return {m.processor._attention_backend for m in model.modules() if hasattr(getattr(m, "processor", None),
                                                                            "_attention_backend")}


def test_unavailable_backend_falls_back_to_native(transformer, caplog):
    with caplog.at_level(logging.WARNING, logger="zimage.speed"):
        assert speed.set_attention_backend(transformer, "flash") == "native"
    assert "'flash' is unavailable" in caplog.text
    assert {str(b.value) for b in _backends(transformer)} == {"native"}


def test_backend_failing_diffusers_check_falls_back(transformer, monkeypatch):
    # Pretend CUDA exists, so the request reaches diffusers' own requirements check (flash-attn is not installed).
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert speed.set_attention_backend(transformer, "flash") == "native"


def test_auto_backend_on_cpu_is_native(transformer):
    assert speed.set_attention_backend(transformer, " AUTO ") == "native"


def test_unknown_backend_lists_valid_names(transformer):
    with pytest.raises(ValidationError, match="Choose one of: auto, .*native") as info:
        speed.set_attention_backend(transformer, "fastest")
    assert info.value.code == "unknown_attention_backend"


def test_unknown_memory_mode_raises_with_valid_modes(pipe):
    with pytest.raises(ValidationError, match="Choose one of: auto, full, offload, sequential") as info:
        speed.apply_memory_mode(pipe, "turbo", "cpu")
    assert info.value.code == "unknown_memory_mode"


@pytest.mark.parametrize("mode", ["auto", "full", "offload", "sequential"])
def test_memory_modes_on_cpu_are_full(pipe, mode):
    assert speed.apply_memory_mode(pipe, mode, "cpu") == "full"
    assert not pipe.vae.use_tiling  # tiling belongs to the offload modes only


def test_auto_memory_mode_picks_by_free_vram(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for free_gib, expected in ((40, "full"), (24, "full"), (16, "offload"), (10, "offload"), (6, "sequential")):
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *_, f=free_gib: (f * speed.GIB, 80 * speed.GIB))
        assert speed.choose_memory_mode("cuda") == expected


def test_offload_enables_vae_tiling(monkeypatch):
    calls = []

    class FakeVae:
        def enable_tiling(self):
            calls.append("tiling")

    class FakePipe:
        vae = FakeVae()

        def enable_model_cpu_offload(self, device):
            calls.append(("offload", str(device)))

    assert speed.apply_memory_mode(FakePipe(), "offload", "cuda") == "offload"
    assert calls == [("offload", "cuda"), "tiling"]


def test_fp8_is_false_on_cpu(transformer, caplog):
    with caplog.at_level(logging.WARNING, logger="zimage.speed"):
        assert speed.quantize_fp8(transformer) is False
    assert "needs a CUDA GPU" in caplog.text
    assert all(type(p) is torch.nn.Parameter for p in transformer.parameters())  # untouched


def test_compile_is_false_on_zero_gpu(transformer, monkeypatch, caplog):
    monkeypatch.setenv(speed.ZERO_GPU_ENV, "true")
    with caplog.at_level(logging.WARNING, logger="zimage.speed"):
        assert speed.compile_repeated_blocks(transformer) is False
    assert "ZeroGPU" in caplog.text
    assert not any(getattr(m, "_compiled_call_impl", None) for m in transformer.modules())


def test_compile_rejects_unknown_mode(transformer):
    with pytest.raises(ValidationError, match="compile mode"):
        speed.compile_repeated_blocks(transformer, mode="fastest")


def test_warm_up_returns_seconds(pipe):
    speed.apply_memory_mode(pipe, "full", "cpu")
    assert speed.warm_up(pipe, "cpu") > 0
