"""ZeroGPU's ahead-of-time compiled blocks: loaded on the 30 main layers only (as the official Space does), refused
when LoRAs are offered, and a compiled block that fails at its first call (spaces loads packages lazily, in the
GPU worker) sends every block back to eager without losing the request. spaces' loader cannot be imported
without CUDA, so `fake_blocks_load` mirrors its loop (spaces 0.51.3, zero/torch/aoti.py: every submodule whose
class is named in `_repeated_blocks` gets an instance `forward`)."""

from __future__ import annotations

import numpy as np
import spaces
import torch

from zimage import speed
from zimage.config import Settings
from zimage.model_info import ModelInfo
from zimage.model_loader import LoadedModel
from zimage.tiny import build_pipeline

SMALL = dict(width=256, height=256, num_inference_steps=2, guidance_scale=0.0)


def fake_blocks_load(calls: list, fail: bool = False, fail_at: int | None = None,
                     error: type[Exception] = RuntimeError):
    """`fail`: every call fails; `fail_at`: only the call with that index (0-based) does."""
    def load(module, repo_id, variant=None):
        for block in module.modules():
            if type(block).__name__ in module._repeated_blocks:
                def compiled(*args, _block=block, **kwargs):
                    calls.append(_block)
                    if fail or len(calls) - 1 == fail_at:
                        raise error("AOTInductor: constants do not match")
                    return type(_block).forward(_block, *args, **kwargs)

                block.forward = compiled
    return load


def image(pipe, seed: int = 3) -> np.ndarray:
    with torch.inference_mode():
        out = pipe("a lighthouse", generator=torch.Generator("cpu").manual_seed(seed), **SMALL).images[0]
    return np.asarray(out, dtype=np.int16)


def patched_blocks(transformer) -> list[str]:
    return [name for name, module in transformer.named_modules() if "forward" in vars(module)]


def test_only_the_main_layers_get_the_compiled_blocks(monkeypatch):
    pipe = build_pipeline()
    pipe.set_progress_bar_config(disable=True)
    eager = image(pipe)
    calls: list = []
    monkeypatch.setattr(spaces, "aoti_blocks_load", fake_blocks_load(calls))
    assert speed.load_aoti_blocks(pipe.transformer) == ""
    assert patched_blocks(pipe.transformer) == [f"layers.{i}" for i in range(len(pipe.transformer.layers))]
    assert np.array_equal(image(pipe), eager)
    assert calls and all(block in list(pipe.transformer.layers) for block in calls)


def test_a_block_failing_at_its_first_call_sends_all_back_to_eager_and_the_image_still_comes(monkeypatch):
    pipe = build_pipeline()
    pipe.set_progress_bar_config(disable=True)
    eager = image(pipe)
    calls: list = []
    monkeypatch.setattr(spaces, "aoti_blocks_load", fake_blocks_load(calls, fail=True))
    assert speed.load_aoti_blocks(pipe.transformer) == ""
    assert np.array_equal(image(pipe), eager)
    assert len(calls) == 1, "the first failure ends the compiled blocks' use"
    assert patched_blocks(pipe.transformer) == []
    # The images' metadata, and through them the status line, stop claiming the compiled blocks.
    assert speed.fallback_note(pipe.transformer).startswith(
        "ahead-of-time blocks failed at their first call, running eager: RuntimeError: AOTInductor")
    facts = ModelInfo("m", "r", aoti=True, speed="memory full, attention native, ahead-of-time compiled blocks")
    info = LoadedModel(pipe, facts).info
    assert not info.aoti and "ahead-of-time compiled blocks," not in info.speed
    assert info.speed.endswith("(ahead-of-time blocks failed at their first call, running eager: RuntimeError: "
                               "AOTInductor: constants do not match)")
    assert np.array_equal(image(pipe, seed=4), image(build_pipeline(), seed=4)) and len(calls) == 1


def test_loras_on_offer_keep_the_eager_blocks(monkeypatch, tmp_path):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    calls: list = []
    monkeypatch.setattr(spaces, "aoti_blocks_load", fake_blocks_load(calls))
    pipe = build_pipeline()
    report = speed.apply(pipe, Settings(warmup="off", lora_dir=tmp_path), "cpu")
    assert not report.aoti and "LoRAs are offered" in report.aoti_note and patched_blocks(pipe.transformer) == []
    report = speed.apply(build_pipeline(), Settings(warmup="off"), "cpu")
    assert report.aoti and report.aoti_note == ""


def test_a_later_failure_runs_that_call_eagerly_and_keeps_the_compiled_blocks(monkeypatch):
    pipe = build_pipeline()
    pipe.set_progress_bar_config(disable=True)
    eager = image(pipe)
    calls: list = []
    monkeypatch.setattr(spaces, "aoti_blocks_load", fake_blocks_load(calls, fail_at=3))
    assert speed.load_aoti_blocks(pipe.transformer) == ""
    assert np.array_equal(image(pipe), eager)
    assert len(patched_blocks(pipe.transformer)) == len(pipe.transformer.layers)
    assert len(calls) == 2 * len(pipe.transformer.layers), "every call still tried the compiled block"


def test_out_of_memory_in_a_compiled_block_is_raised_not_hidden(monkeypatch):
    pipe = build_pipeline()
    pipe.set_progress_bar_config(disable=True)
    calls: list = []
    monkeypatch.setattr(spaces, "aoti_blocks_load", fake_blocks_load(calls, fail=True, error=torch.OutOfMemoryError))
    assert speed.load_aoti_blocks(pipe.transformer) == ""
    try:
        image(pipe)
    except torch.OutOfMemoryError:
        pass
    else:
        raise AssertionError("out of memory must reach the caller, whose message names the size")
    assert len(patched_blocks(pipe.transformer)) == len(pipe.transformer.layers)


def test_a_load_failing_midway_leaves_no_block_patched(monkeypatch):
    pipe = build_pipeline()

    def half_then_fail(module, repo_id, variant=None):
        module[0].forward = lambda *args, **kwargs: None
        raise RuntimeError("unwrap_tensor_subclass_parameters failed")

    monkeypatch.setattr(spaces, "aoti_blocks_load", half_then_fail)
    assert speed.load_aoti_blocks(pipe.transformer).startswith("RuntimeError: unwrap")
    assert patched_blocks(pipe.transformer) == []
