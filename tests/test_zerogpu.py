"""The ZeroGPU harness: a fake device API (devtools.zerogpu_fake) and spaces' real fork-and-worker path.

The stand-in app (tests/zerogpu_standin.py) runs the app's own ZeroGPURunner through spaces' wrappers, fork,
worker, queues and release. With CUDA it is the real path: spaces packs the weights and the worker moves them to
the GPU. Without CUDA, devtools/zerogpu_cpu.py replaces only spaces' CUDA-only pieces (worker CUDA init, the move
of the packed weights) and the same tests run on the CPU.

The stand-in runs under hard time limits, shorter than the device script's (bench/device/run.sh: 180 s), so a hang
fails here with the stacks of every process instead of being killed from outside with no output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from zimage import speed
from zimage.config import Settings
from devtools.zerogpu_fake import FakeDeviceApi
from tests.conftest import SHARED_CACHE

ROOT = Path(__file__).resolve().parent.parent
ON_CPU = not torch.cuda.is_available()  # then spaces' CUDA-only pieces run on the CPU (devtools/zerogpu_cpu.py)
# The stand-in takes ~30 s on a GPU and ~40 s on two busy CPU cores. Past HANG_S each of its processes dumps its
# stacks and exits; past LIMIT_S it is killed. Both end inside the 180 s the device script
# (bench/device/run.sh) gives this file, with pytest's start and the other tests.
HANG_S, LIMIT_S = 100, 130


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


def run_standin(tmp: Path, limit_s: int, **extra_env: str) -> tuple[subprocess.CompletedProcess, list]:
    """Run tests/zerogpu_standin.py against a fresh fake device API; its output and the API's calls. A run still
    going after `limit_s` fails the test with what it printed (its stack dumps, past STANDIN_HANG_S)."""
    with FakeDeviceApi() as api:
        env = {**os.environ, **api.env(), "HF_HUB_OFFLINE": "1", "ZEROGPU_OFFLOAD_DIR": str(tmp / "tensors"),
               "STANDIN_MODE_FILE": str(tmp / "mode"), "STANDIN_IMAGE_FILE": str(tmp / "first.png"),
               "STANDIN_HANG_S": str(HANG_S), "ZEROGPU_CPU": "1" if ON_CPU else "0", "PYTHONUNBUFFERED": "1",
               "ZIMAGE_CACHE_DIR": os.environ.get("ZIMAGE_CACHE_DIR", str(SHARED_CACHE)), **extra_env}
        try:
            done = subprocess.run([sys.executable, str(ROOT / "tests" / "zerogpu_standin.py")], env=env,
                                  capture_output=True, text=True, timeout=limit_s)
        except subprocess.TimeoutExpired as timeout:
            pytest.fail(f"stand-in still running after {limit_s} s\n{_text(timeout.stdout)[-3000:]}"
                        f"{_text(timeout.stderr)[-6000:]}")
        return done, list(api.calls)


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """Run the app's ZeroGPU runner once against the fake API; return its JSON result, the API's calls and the
    first image."""
    tmp = tmp_path_factory.mktemp("zerogpu")
    done, calls = run_standin(tmp, LIMIT_S)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-6000:]
    print(lines[-1])  # shown with -s: the figures for docs/benchmarks.md
    first = tmp / "first.png"  # none when every run failed: each test then says what it expected
    return json.loads(lines[-1].removeprefix("RESULT ")), calls, Image.open(first) if first.exists() else None


def _text(output: bytes | str | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def test_generation_runs_in_the_worker_on_the_gpu(standin):
    result, calls, _ = standin
    assert result["cuda_emulated"] and result["status"] == "ready"
    assert result["first"]["ok"] and result["first"]["size"] == [256, 256]
    assert result["second"]["ok"]
    assert sum(call.path == "/allow" for call in calls) >= 1
    assert sum(call.path == "/schedule" for call in calls) == sum(call.path == "/release" for call in calls)


def test_no_warm_up_in_the_main_process(standin):
    result, *_ = standin
    assert result["main_calls_after_load"] == 0 and result["main_calls_end"] == 0  # all passes ran in workers


def test_errors_reach_the_user_with_their_message(standin):
    result, *_ = standin
    assert result["oom"] == {**result["oom"], "ok": False, "type": "GenerationError", "code": "oom"}
    assert result["oom"]["message"] == "Out of GPU memory at 256x256 x 1. Try a smaller size or fewer images."
    # Any other failure is one clear line too, not spaces' "ZeroGPU worker error", and never its inner text.
    assert result["raw"]["code"] == "generation" and result["raw"]["message"].startswith("Generation failed")
    assert "must not reach" not in result["raw"]["message"]


def test_stop_in_the_main_process_stops_the_worker(standin):
    result, *_ = standin
    cancelled = result["cancelled"]
    assert not cancelled["ok"] and cancelled["type"] == "CancelledError"
    assert cancelled["seconds"] < 15  # 50 slowed steps would take 25 s
    assert result["after_cancel"]["ok"]  # the next request works


def test_every_gpu_call_is_released_and_failures_say_so(standin):
    _, calls, _ = standin
    # Between one /schedule and the next comes exactly one /release: a failed or stopped run frees its GPU too.
    order = [call.path for call in calls if call.path in ("/schedule", "/release")]
    assert order == ["/schedule", "/release"] * 6
    fails = [call.params["fail"] for call in calls if call.path == "/release"]
    # spaces releases with fail=true exactly when it discards the worker. Out of memory and Stop are the request's
    # own errors, returned by the GPU function, so the warm worker stays; the unforeseen ValueError discards it.
    assert fails == ["false", "false", "false", "true", "false", "false"]  # ok, ok, oom, raw, stopped, ok


@pytest.mark.skipif(not ON_CPU, reason="on a GPU the worker runs on CUDA, whose pixels differ from the CPU's")
def test_worker_draws_with_the_packed_weights(standin):
    """The weights went main process -> spaces' pack file -> worker intact: the worker's image is the one an
    in-process run of the same model draws (same dtype as the worker's: bfloat16, as on a GPU)."""
    from zimage.config import Settings
    from zimage.engine import Engine
    from zimage.request import GenerationRequest

    result, _, image = standin
    assert result["first"]["ok"] and image is not None
    assert result["first"]["device"] == "cuda"  # the app saw spaces' emulated GPU, as on a Space
    local = Engine(Settings(model="tiny", device="cpu", dtype="bfloat16", warmup="off",
                            cache_dir=SHARED_CACHE))
    expected = local.generate(GenerationRequest("a cat", width=256, height=256, steps=2, seed=3))[0].image
    worker, reference = np.asarray(image, dtype=np.int16), np.asarray(expected, dtype=np.int16)
    assert reference.std() > 5  # a real picture, not a flat fill that anything would match
    assert np.abs(worker - reference).mean() < 1.0
    other = local.generate(GenerationRequest("a cat", width=256, height=256, steps=2, seed=4))[0].image
    assert np.abs(worker - np.asarray(other, dtype=np.int16)).mean() > 5  # the check can tell images apart


@pytest.mark.skipif(not ON_CPU, reason="would spend the device script's time; the guard is the same there")
def test_a_deadlocked_worker_fails_fast_with_every_stack(tmp_path):
    """The guard behind every test above: a worker that never answers ends the run at STANDIN_HANG_S, and the
    output shows where both processes stood, instead of a run killed from outside with nothing to read."""
    done, calls = run_standin(tmp_path, 90, STANDIN_HANG_S="45", STANDIN_FORK_DEADLOCK="1")
    assert done.returncode == -signal.SIGALRM, done.stderr[-3000:]
    assert [call.path for call in calls] == ["/startup-report", "/schedule", "/allow"]  # stuck in the first run
    assert done.stderr.count("Current thread") == 2  # the main process's dump and the worker's
    # The worker's stack names the pass stuck on the lock; the main process's, spaces waiting for the answer.
    assert "in <lambda>" in done.stderr and "in _call_impl" in done.stderr
    assert "in gradio_handler" in done.stderr
