"""Faults end in a clear message and the app keeps serving: a model that fails to load, OOM, unexpected errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import gradio as gr
import pytest
import torch

from ui import generation as generation_module
from ui.generation import Generation
from ui.services import Services, client_id
from zimage.config import AppSettings
from zimage.tiny import ensure_tiny_model

from devtools.apphost import running_app

gradio_client = pytest.importorskip("gradio_client")

ARGS = dict(prompt="faults", width=256, height=256, seed=5, count=1, steps=2, shift=3.0)


@pytest.fixture
def ui(tiny_engine, tmp_path):
    """The app's own generation handlers, in-process, on the shared tiny engine."""
    return Generation(Services(tiny_engine, AppSettings(rate_limit="3/60"), tmp_path / "outputs"))


def no_progress(*args, **kwargs) -> None:
    return None


def generate(ui: Generation, lang: str = "en") -> tuple:
    return ui.generate(**ARGS, lang=lang, request=None, progress=no_progress)


def test_out_of_memory_through_the_handler_is_a_clear_error_then_the_next_call_works(ui, tiny_engine, monkeypatch):
    pipe_type = type(tiny_engine.load().pipe)
    real_call = pipe_type.__call__

    def oom(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; /secret/site-packages)")

    monkeypatch.setattr(pipe_type, "__call__", oom)
    with pytest.raises(gr.Error) as caught:
        generate(ui)
    assert caught.value.message == "Out of GPU memory at 256x256 x 1. Try a smaller size or fewer images."
    with pytest.raises(gr.Error, match="显存不足"):
        generate(ui, "zh")
    monkeypatch.setattr(pipe_type, "__call__", real_call)
    gallery, info, entries = generate(ui)
    assert info["seeds"] == [5] and Path(gallery[0][0]).is_file()


def test_unexpected_failure_names_only_the_error_type(ui, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError("No space left on device: '/srv/private/outputs/x.png'")

    monkeypatch.setattr(generation_module, "save_previews_first", disk_full)
    with pytest.raises(gr.Error) as caught:
        generate(ui)
    assert caught.value.message == "Unexpected error (OSError)."  # no path, no stack trace


def test_rate_limit_message_is_translated(ui):
    for _ in range(3):
        ui.services.limiter.check(client_id(None))
    with pytest.raises(gr.Error, match="请求过于频繁：每 60 秒最多 3 次") as caught:
        generate(ui, "zh")
    assert "Traceback" not in caught.value.message


def test_model_that_fails_to_load_is_reported_and_retried_on_the_next_request(tmp_path):
    model = tmp_path / "model"
    model.mkdir()  # empty: not a diffusers folder yet
    with running_app(tmp_path, ZIMAGE_MODEL=str(model), GRADIO_TEMP_DIR=str(tmp_path / "gradio")) as url:
        client = gradio_client.Client(url, verbose=False)
        args = tuple(ARGS.values())
        with pytest.raises(gradio_client.exceptions.AppError) as caught:
            client.predict(*args, api_name="/generate")
        message = str(caught.value)
        assert "could not be loaded" in message and "no model_index.json" in message
        assert "retried on the next request" in message and "Traceback" not in message
        shutil.copytree(ensure_tiny_model(), model, dirs_exist_ok=True)
        gallery, info = client.predict(*args, api_name="/generate")
        assert info["seeds"] == [5] and info["model"]["model_id"] == "model"
