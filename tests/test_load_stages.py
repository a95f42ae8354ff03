"""While the model loads, the status line says how far it has got (download, reading, speed options) and for how
long, in English and Chinese; a first run's 33 GB download is not a silent "loading"."""

from __future__ import annotations

import threading
import time

import pytest

from ui.status import elapsed, status_line
from zimage import engine as engine_module
from zimage import model_loader
from zimage.config import HUB_MODEL_ID, Settings
from zimage.engine import Engine
from zimage.source import ModelSource


def tiny_settings() -> Settings:
    return Settings.from_env().with_overrides(model="tiny", warmup="off")


def test_a_load_from_disk_reports_reading_then_the_speed_options():
    stages: list[str] = []
    loaded = model_loader.load_model(tiny_settings(), stages.append)
    assert stages == [model_loader.LOAD, model_loader.SPEED] and loaded.info.is_tiny


def test_a_hub_model_not_on_disk_reports_the_download_first(monkeypatch):
    stages: list[str] = []
    monkeypatch.setattr(model_loader, "resolve", lambda settings: ModelSource(HUB_MODEL_ID, HUB_MODEL_ID, "main"))

    def offline(*args, **kwargs):
        raise OSError("the hub went away")

    monkeypatch.setattr(model_loader, "load_pipeline", offline)
    with pytest.raises(OSError):
        model_loader.load_model(tiny_settings(), stages.append)
    assert stages == [model_loader.DOWNLOAD]


def test_the_status_line_follows_the_load_and_ends_ready(monkeypatch):
    release, reported = threading.Event(), threading.Event()
    real = engine_module.load_model

    def downloading(settings, report_stage):
        report_stage(model_loader.DOWNLOAD)
        reported.set()
        assert release.wait(30)
        return real(settings, report_stage)

    monkeypatch.setattr(engine_module, "load_model", downloading)
    engine = Engine(tiny_settings())
    engine.start()
    assert reported.wait(30)
    status = engine.status()
    assert status.state == "loading" and status.stage == model_loader.DOWNLOAD and status.stage_seconds >= 0
    assert "downloading the weights from the Hugging Face Hub" in status_line(status, "en")
    assert "s so far" in status_line(status, "en")
    assert "下载权重" in status_line(status, "zh") and "已用" in status_line(status, "zh")
    release.set()
    deadline = time.monotonic() + 60
    while engine.status().state == "loading" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.status().state == "ready"
    assert status_line(engine.status(), "en").startswith("Model: **zimage/tiny-random**")


@pytest.mark.parametrize("stage", model_loader.STAGES)
def test_every_stage_has_a_line_in_both_languages(stage):
    from zimage.model_info import ModelStatus

    for lang in ("en", "zh"):
        line = status_line(ModelStatus("loading", stage=stage, stage_seconds=5), lang)
        assert "{" not in line and ("5 s" in line or "5 秒" in line)


def test_elapsed_time_reads_in_seconds_then_minutes():
    assert [elapsed(s, "en") for s in (0, 45.9, 89, 90, 3600)] == ["0 s", "45 s", "89 s", "2 min", "60 min"]
    assert elapsed(45, "zh") == "45 秒" and elapsed(600, "zh") == "10 分钟"


def test_the_speed_levers_read_in_the_readers_language_while_metadata_stays_english():
    from zimage.model_info import ModelInfo, ModelStatus
    from zimage.speed import SpeedReport

    report = SpeedReport("stream", "_native_cudnn", compiled=True, real_rope=True, fp8=True,
                         attention_note="attention kernel failed at warm-up, using native: RuntimeError: x")
    info = ModelInfo("Tongyi-MAI/Z-Image-Turbo", "main", device="cuda", dtype="bfloat16", memory_mode="stream",
                     attention="_native_cudnn", compiled=True, real_rope=True, fp8=True, speed=report.summary(),
                     speed_notes=report.notes())
    english = status_line(ModelStatus("ready", info), "en")
    chinese = status_line(ModelStatus("ready", info), "zh")
    assert ("memory stream (text encoder streamed from the CPU at each prompt), attention _native_cudnn, compiled, "
            "real-valued RoPE, fp8 (attention kernel failed") in english
    assert info.speed_text("en") == info.speed == report.summary()
    assert ("显存模式 stream（每次编码提示词时，文本编码器从 CPU 流式传入），注意力 _native_cudnn，已编译，实数形式 RoPE，fp8"
            "（attention kernel failed") in chinese
    assert "compiled" not in chinese.replace("_native_cudnn", "") and "{" not in chinese
    # An image's metadata keeps the English line, whatever the reader's language.
    assert ModelInfo.from_dict(info.to_dict()).speed == report.summary()
