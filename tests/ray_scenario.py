"""Two CPU replicas of the tiny model on a local Ray Serve, driven through `RayRunner`; writes what happened as
JSON for tests/test_ray.py to judge. Run it inside a loopback-only network namespace (`run_isolated`): Ray binds
the machine's external address otherwise.

    python -c 'from devtools.netns import run_isolated; run_isolated(["-m", "tests.ray_scenario", "OUT.json"], 600)'
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from zimage.cancel import CancelToken
from zimage.config import Settings
from zimage.engine import Engine
from zimage.errors import ZImageError
from zimage.images import SourceImage
from zimage.ray_runner import RayRunner
from zimage.config import ReplicaSettings
from zimage.request import GenerationRequest

PROMPT = "a lighthouse on a cliff at dusk"


class RetryLog(logging.Handler):
    """Counts the runner's "replica lost" warnings: proof that a kill landed mid-request."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "Replica lost" in record.getMessage()


def request(seed: int, side: int = 256, steps: int = 4) -> GenerationRequest:
    return GenerationRequest(prompt=PROMPT, width=side, height=side, seed=seed, count=1, steps=steps)


RUNNING: set[int] = set()  # seeds of the requests whose denoising has begun on a replica and not yet ended


def outcome(runner: RayRunner, req: GenerationRequest) -> dict[str, Any]:
    """One request's end: ok (with its replica and image size) or the error's code and message."""
    try:
        images = runner.generate(req, lambda step, total: RUNNING.add(req.seed))
    except ZImageError as error:
        return {"kind": error.code, "message": error.message}
    finally:
        RUNNING.discard(req.seed)
    return {"kind": "ok", "replica": images[0].model.replica, "size": list(images[0].image.size),
            "seed": images[0].request.seed}


def burst(runner: RayRunner, requests: list[GenerationRequest], during: Any = None) -> list[dict[str, Any]]:
    """Send all at once; `during(futures)` runs while they are in flight."""
    with ThreadPoolExecutor(len(requests)) as pool:
        futures = [pool.submit(outcome, runner, req) for req in requests]
        if during is not None:
            during(futures)
        return [future.result(timeout=300) for future in futures]


def check_edit(runner: RayRunner, local: Engine) -> dict[str, Any]:
    """A masked edit on a replica against the same edit in this process: same pixels, and outside the mask (and
    its feather band) the source's own."""
    source = SourceImage(Image.radial_gradient("L").resize((256, 256)).convert("RGB"), "0" * 64)
    mask = Image.new("L", (256, 256), 0)
    ImageDraw.Draw(mask).rectangle((96, 96, 160, 160), fill=255)
    req = GenerationRequest(prompt=PROMPT, width=256, height=256, seed=5, count=1, steps=4, strength=0.7, mask_blur=4)
    steps: list[int] = []
    remote = runner.edit(req, source, mask, lambda step, total: steps.append(step))[0]
    pixels = [np.asarray(image, np.int16) for image in (remote.image, local.edit(req, source, mask)[0].image)]
    outside = np.asarray(source.image, np.int16)[:64] - pixels[0][:64]  # rows far above the masked square
    return {"replica": remote.model.replica, "steps": len(steps), "mask_sha256": remote.request.mask_sha256,
            "max_pixel_diff_vs_local": int(np.abs(pixels[0] - pixels[1]).max()),
            "max_diff_outside_mask": int(np.abs(outside).max())}


def pid_of(label: str) -> int:
    return int(re.search(r"pid (\d+)", label).group(1))


def check_stop(runner: RayRunner) -> dict[str, Any]:
    """Stop during a long run: how fast it ends, at which step, and whether the next request still works."""
    cancel, steps = CancelToken(), []

    def progress(step: int, total: int) -> None:
        steps.append(step)
        if step == 2:
            cancel.set()
            stopped_at.append(time.perf_counter())

    stopped_at: list[float] = []
    try:
        runner.generate(request(1, side=1024, steps=50), progress, cancel)
        result = "finished"
    except ZImageError as error:
        result = error.code
    return {"result": result, "last_step": max(steps, default=0), "seconds_after_stop":
            round(time.perf_counter() - stopped_at[0], 2) if stopped_at else None,
            "next": outcome(runner, request(2))["kind"]}


def check_kill(runner: RayRunner, victim: int) -> dict[str, Any]:
    """Kill one replica's process while both are busy; every request must still be answered."""

    def kill_when_busy(futures: list) -> None:
        while len(RUNNING) < 2:  # two requests denoising at once: one of them is on the victim
            time.sleep(0.02)
        os.kill(victim, signal.SIGKILL)

    results = burst(runner, [request(100 + i, side=512, steps=8) for i in range(6)], kill_when_busy)
    return {"victim": victim, "results": results}


def wait_for_replacement(runner: RayRunner, known: set[str], timeout: float = 120) -> str:
    """Serve starts a new replica for the dead one; return the first label not seen before (empty on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for result in burst(runner, [request(200 + i) for i in range(2)]):
            if result["kind"] == "ok" and result["replica"] not in known:
                return result["replica"]
        time.sleep(1)
    return ""


def scenario(out: Path) -> None:
    logging.basicConfig(level=logging.INFO)
    retries = RetryLog()
    logging.getLogger("zimage.ray_runner").addHandler(retries)
    settings = Settings.from_env().with_overrides(model="tiny")
    runner = RayRunner(settings, ReplicaSettings(min_replicas=2, max_replicas=2, max_queued_requests=6))
    report: dict[str, Any] = {}
    started = time.perf_counter()
    runner.start()
    try:
        runner.generate(request(0))  # waits for both replicas to load
        report["status"] = runner.status().state
        report["start_s"] = round(time.perf_counter() - started, 1)
        report["concurrent"] = burst(runner, [request(10 + i) for i in range(6)])
        engine = Engine(settings)
        local = engine.generate(request(10))[0].image
        remote = runner.generate(request(10))[0].image
        report["max_pixel_diff_vs_local"] = int(np.abs(np.asarray(local, np.int16) - np.asarray(remote, np.int16)).max())
        report["edit"] = check_edit(runner, engine)
        report["busy"] = burst(runner, [request(20 + i) for i in range(12)])
        report["stop"] = check_stop(runner)
        labels = {r["replica"] for r in report["concurrent"] if r["kind"] == "ok"}
        report["kill"] = check_kill(runner, pid_of(sorted(labels)[0]))
        report["retries"] = retries.count
        report["replacement"] = wait_for_replacement(runner, labels)
    finally:
        out.write_text(json.dumps(report, indent=1))
        runner.stop()


if __name__ == "__main__":
    scenario(Path(sys.argv[1]))
