"""Every test runs offline on the tiny model, with user paths pointed at temp folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_CACHE = Path(os.environ.get("ZIMAGE_TEST_CACHE", "/tmp/zimage-test-cache"))


@pytest.fixture(autouse=True)
def offline_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The tiny model is built once and shared across tests and subprocesses; outputs go to per-test folders.
    monkeypatch.setenv("ZIMAGE_CACHE_DIR", str(SHARED_CACHE))
    monkeypatch.setenv("ZIMAGE_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("ZIMAGE_MODEL", raising=False)


@pytest.fixture(autouse=True)
def attention_backend_restored():
    """diffusers' `set_attention_backend` also sets a process-wide default, which every processor without a backend
    of its own (a fresh pipeline's) then uses: a test that picks a flash kernel must not pass it to the next."""
    yield
    dispatch = sys.modules.get("diffusers.models.attention_dispatch")
    if dispatch is not None:
        dispatch._AttentionBackendRegistry.set_active_backend(
            dispatch.AttentionBackendName(dispatch.DIFFUSERS_ATTN_BACKEND))


@pytest.fixture
def pipe():
    """A fresh tiny pipeline (random weights, built in memory), progress bars off."""
    from zimage.tiny import build_pipeline

    pipeline = build_pipeline()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture
def free_vram(monkeypatch: pytest.MonkeyPatch):
    """Pretend to be a CUDA machine with this many GiB of VRAM free: `free_vram(15.5)`."""
    import torch

    def pretend(gib: float) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *_: (int(gib * 1024**3), 80 * 1024**3))

    return pretend


@pytest.fixture(scope="session")
def tiny_engine():
    """One engine on the tiny model for the whole session; loading it once keeps the suite fast."""
    from zimage.config import Settings
    from zimage.engine import Engine

    os.environ.setdefault("ZIMAGE_CACHE_DIR", str(SHARED_CACHE))
    engine = Engine(Settings(model="tiny", cache_dir=SHARED_CACHE, warmup="off"))
    engine.load()
    return engine
