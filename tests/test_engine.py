"""The cached pipeline: loading through from_pretrained, determinism, seed batches, faults."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from zimage import engine as engine_module
from zimage.config import Settings
from zimage.engine import Engine
from zimage.errors import CancelledError, GenerationError, ModelLoadError, ValidationError
from zimage.request import GenerationRequest
from zimage.tiny import TINY_VERSION
from zimage.cancel import CancelToken

SMALL = dict(width=256, height=256, steps=3)


def pixels(result) -> np.ndarray:
    return np.asarray(result.image, dtype=np.int16)


def test_tiny_model_loads_through_from_pretrained(tiny_engine, tmp_path):
    from diffusers import ZImagePipeline, ZImageTransformer2DModel

    loaded = tiny_engine.load()
    assert isinstance(loaded.pipe, ZImagePipeline)
    assert isinstance(loaded.pipe.transformer, ZImageTransformer2DModel)
    assert loaded.info.is_tiny and loaded.info.revision == TINY_VERSION
    folder = tiny_engine.settings.cache_dir / TINY_VERSION
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size < 5 * 2**20, "the tiny model must stay a few MB"
    assert loaded.info.dtype == "float32" and loaded.info.device == "cpu"


def test_same_seed_same_pixels_other_seed_differs(tiny_engine):
    first = tiny_engine.generate(GenerationRequest("a red apple", seed=7, **SMALL))[0]
    again = tiny_engine.generate(GenerationRequest("a red apple", seed=7, **SMALL))[0]
    other = tiny_engine.generate(GenerationRequest("a red apple", seed=8, **SMALL))[0]
    assert first.image.size == (256, 256)
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


def test_seed_batch_images_equal_single_runs(tiny_engine):
    batch = tiny_engine.generate(GenerationRequest("海报 poster", seed=100, count=4, width=320, height=256, steps=4))
    assert [item.request.seed for item in batch] == [100, 101, 102, 103]
    for item in batch:
        single = tiny_engine.generate(item.request)[0]
        assert item.request.count == 1
        assert np.abs(pixels(item) - pixels(single)).max() <= 1, f"seed {item.request.seed} differs in a batch"


def test_shift_changes_the_image_and_the_scheduler_only_when_needed(tiny_engine):
    pipe = tiny_engine.load().pipe
    tiny_engine.generate(GenerationRequest("shift", shift=3.0, **SMALL))
    scheduler = pipe.scheduler
    base = tiny_engine.generate(GenerationRequest("shift", shift=3.0, **SMALL))[0]
    assert pipe.scheduler is scheduler, "same shift must not rebuild the scheduler"
    shifted = tiny_engine.generate(GenerationRequest("shift", shift=6.0, **SMALL))[0]
    assert pipe.scheduler.config.shift == 6.0
    assert not np.array_equal(pixels(base), pixels(shifted))


def test_concurrent_first_calls_load_once(monkeypatch):
    calls = []
    real = engine_module.load_model

    def slow_load(settings, report_stage):
        calls.append(1)
        time.sleep(0.3)
        return real(settings, report_stage)

    monkeypatch.setattr(engine_module, "load_model", slow_load)
    engine = Engine(Settings.from_env().with_overrides(model="tiny", warmup="off"))
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(engine.load())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert results[0] is results[1]


def test_failed_load_is_reported_and_retried(monkeypatch):
    attempts = []
    real = engine_module.load_model

    def flaky(settings, report_stage):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("disk unplugged")
        return real(settings, report_stage)

    monkeypatch.setattr(engine_module, "load_model", flaky)
    engine = Engine(Settings.from_env().with_overrides(model="tiny", warmup="off"))
    with pytest.raises(ModelLoadError, match="disk unplugged"):
        engine.load()
    assert engine.status().state == "failed" and "disk unplugged" in engine.status().error
    assert engine.generate(GenerationRequest("retry", **SMALL))
    assert len(attempts) == 2 and engine.status().state == "ready"


def test_auto_falls_back_to_tiny_when_offline_and_flags_it():
    engine = Engine(Settings.from_env().with_overrides(model="auto", warmup="off"))
    started = time.perf_counter()
    loaded = engine.load()
    assert time.perf_counter() - started < 30
    assert loaded.info.is_tiny
    assert "cannot be reached" in loaded.info.fallback_reason
    assert engine.status().is_tiny and engine.status().state == "ready"


@pytest.mark.parametrize("name", ["Tongyi-MAI/does-not-exist", "not a model", "/no/such/folder"])
def test_named_model_that_cannot_load_is_an_error_not_a_fallback(name):
    engine = Engine(Settings.from_env().with_overrides(model=name, warmup="off"))
    with pytest.raises(ModelLoadError):
        engine.load()
    assert engine.loaded is None


def test_float16_is_refused_with_the_reason():
    with pytest.raises(ValidationError, match="NaN"):
        Settings(dtype="float16").checked()


def test_out_of_memory_is_a_clear_error_and_the_next_request_works(tiny_engine, monkeypatch):
    pipe = tiny_engine.load().pipe
    real_call = type(pipe).__call__

    def oom(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(type(pipe), "__call__", oom)
    with pytest.raises(GenerationError, match="Out of GPU memory") as caught:
        tiny_engine.generate(GenerationRequest("oom", **SMALL))
    assert caught.value.code == "oom"
    monkeypatch.setattr(type(pipe), "__call__", real_call)
    assert tiny_engine.generate(GenerationRequest("after oom", **SMALL))[0].image.size == (256, 256)


def test_cancel_stops_the_run_and_leaves_no_stuck_state(tiny_engine):
    cancel = CancelToken()
    steps_seen = []

    def progress(step, total):
        steps_seen.append(step)
        if step == 2:
            cancel.set()

    with pytest.raises(CancelledError):
        tiny_engine.generate(GenerationRequest("stop me", steps=8, width=256, height=256), progress, cancel)
    assert steps_seen == [1, 2]
    assert tiny_engine.generate(GenerationRequest("next", **SMALL))
