"""The ZeroGPU harness: a fake device API (devtools.zerogpu_fake) and spaces' real fork-and-worker path.

The stand-in app (tests/zerogpu_standin.py) needs CUDA: spaces packs the weights and the worker moves them to
the GPU. Without one, those tests skip; the fake API's protocol and speed.apply's ZeroGPU choices still run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import torch

from zimage import speed
from zimage.config import Settings
from devtools.zerogpu_fake import FakeDeviceApi

ROOT = Path(__file__).resolve().parent.parent
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="spaces' ZeroGPU worker moves the packed weights to CUDA; no CUDA GPU here")


def test_fake_api_speaks_spaces_client_protocol():
    from spaces.zero.api import APIClient, ScheduleResponse

    with FakeDeviceApi() as api, httpx.Client(base_url=api.url) as http:
        client = APIClient(http)
        assert client.startup_report() is httpx.codes.OK
        granted, _meta = client.schedule(cgroup_path="/", task_id=7, duration_seconds=30)
        assert isinstance(granted, ScheduleResponse) and granted.idle and granted.nvidiaUUID == "0"
        busy, _meta = client.schedule(cgroup_path="/", task_id=8)
        assert not busy.idle  # the first grant is still held
        assert client.allow(allow_token=granted.allowToken, pid=1234) is httpx.codes.OK
        assert client.release(allow_token=granted.allowToken) is httpx.codes.OK
        assert [call.path for call in api.calls] == ["/startup-report", "/schedule", "/schedule", "/allow", "/release"]
        assert api.calls[1].params["durationSeconds"] == "30"


def test_apply_on_zero_gpu_skips_warm_up_and_reports_aoti_fallback(monkeypatch):
    from zimage.tiny import build_pipeline

    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the ahead-of-time blocks come from the Hub; here they cannot
    pipe = build_pipeline()
    calls = []
    pipe.transformer.register_forward_hook(lambda *_: calls.append(1))
    report = speed.apply(pipe, Settings(warmup="auto", compile=True), "cpu")
    assert report.warmup_seconds is None and calls == []
    assert not report.compiled and not report.aoti
    assert report.aoti_note.startswith("ahead-of-time blocks unavailable, running eager")
    assert "running eager" in report.summary()


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """Run the app's ZeroGPU runner once against the fake API; return its JSON result and the API's calls."""
    tmp = tmp_path_factory.mktemp("zerogpu")
    with FakeDeviceApi() as api:
        env = {**os.environ, **api.env(), "HF_HUB_OFFLINE": "1", "ZEROGPU_OFFLOAD_DIR": str(tmp / "tensors"),
               "STANDIN_MODE_FILE": str(tmp / "mode"), "PYTHONUNBUFFERED": "1",
               "ZIMAGE_CACHE_DIR": os.environ.get("ZIMAGE_CACHE_DIR", str(tmp / "cache"))}
        done = subprocess.run([sys.executable, str(ROOT / "tests" / "zerogpu_standin.py")], env=env,
                              capture_output=True, text=True, timeout=300)
        calls = list(api.calls)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-4000:]
    print(lines[-1])  # shown with -s: the figures for docs/benchmarks.md
    return json.loads(lines[-1].removeprefix("RESULT ")), calls


@needs_cuda
def test_generation_runs_in_the_worker_on_the_gpu(standin):
    result, calls = standin
    assert result["cuda_emulated"] and result["status"] == "ready"
    assert result["first"]["ok"] and result["first"]["size"] == [256, 256]
    assert result["second"]["ok"]
    assert sum(call.path == "/allow" for call in calls) >= 1
    assert sum(call.path == "/schedule" for call in calls) == sum(call.path == "/release" for call in calls)


@needs_cuda
def test_no_warm_up_in_the_main_process(standin):
    result, _ = standin
    assert result["main_calls_after_load"] == 0 and result["main_calls_end"] == 0  # all passes ran in workers


@needs_cuda
def test_errors_reach_the_user_with_their_message(standin):
    result, _ = standin
    assert result["oom"] == {**result["oom"], "ok": False, "type": "GenerationError", "code": "oom"}
    assert result["oom"]["message"] == "Out of GPU memory at 256x256 x 1. Try a smaller size or fewer images."
    # Any other failure is one clear line too, not spaces' "ZeroGPU worker error", and never its inner text.
    assert result["raw"]["code"] == "generation" and result["raw"]["message"].startswith("Generation failed")
    assert "must not reach" not in result["raw"]["message"]


@needs_cuda
def test_stop_in_the_main_process_stops_the_worker(standin):
    result, _ = standin
    cancelled = result["cancelled"]
    assert not cancelled["ok"] and cancelled["type"] == "CancelledError"
    assert cancelled["seconds"] < 15  # 50 slowed steps would take 25 s
    assert result["after_cancel"]["ok"]  # the next request works
