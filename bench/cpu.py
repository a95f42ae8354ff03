"""Benchmark the app's own costs on the CPU with the tiny random-weights model.

    python -m bench.cpu --out bench/results [--runs 5] [--quick] [--only overhead,batch]

Sections (all by default):
  cli       cold start of `python -m zimage generate ... --model tiny --size 256x256`: launch -> first PNG
  ui        cold start of `python app.py`: launch -> page answers HTTP 200, and launch -> "Model ready"
  overhead  a direct in-process Engine.generate vs the same request through gradio_client and through the plain
            REST API, 256x256, 9 steps, with the app's peak memory
  batch     one count=4 call vs 4 single calls (direct, in-process)

Every figure is the median of --runs runs; the two sides of each ratio are measured in one loop, interleaved
(A B A B ...), so drift and other jobs on the machine hit both alike. Both sides run with the thread count the
app ships with (one thread for the tiny model, see zimage/model_loader.py). The tiny model's images are noise: the
timings measure the plumbing (process start, Gradio, PNG), not the real model's speed. Results go to cpu.json
and cpu.md in --out; the markdown table is also printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import psutil

from bench.cpu_table import evaluate_targets, to_markdown
from bench.report import cpu_model, versions, write_report
from devtools.apphost import ROOT, AppProcess, PeakRSS, app_env

PROMPT = "a lighthouse on a cliff at dusk, waves, 35mm photograph"
SIZE, STEPS, SEED, SHIFT = 256, 9, 42, 3.0
SECTIONS = ("cli", "ui", "overhead", "batch")
SETTLE_S = 0.1


def median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def medians(samples: dict[str, list[float]]) -> dict[str, Any]:
    return {**{key: median(values) for key, values in samples.items()}, "samples": samples}


def interleaved(runs: int, sides: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
    """Time each side once per round, in turn (A B A B ...). A side may return a dict of named sub-timings.

    A short untimed pause before each side lets the previous side's worker threads (here or in the app) go idle.
    """
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(runs):
        for name, side in sides.items():
            time.sleep(SETTLE_S)
            started = time.perf_counter()
            extra = side()
            samples[name].append(time.perf_counter() - started)
            for key, value in (extra if isinstance(extra, dict) else {}).items():
                samples.setdefault(key, []).append(value)
    return samples


# --- the in-process side ------------------------------------------------------------------------------------


def direct_engine(work: Path):
    """The same tiny model as the app, loaded in this process with the app's CPU settings."""
    from zimage.config import Settings
    from zimage.engine import Engine
    from zimage.config import default_cache_dir

    engine = Engine(Settings(model="tiny", device="cpu", cache_dir=default_cache_dir(), output_dir=work / "outputs"))
    engine.load().pipe.set_progress_bar_config(disable=True)
    return engine


def request(count: int = 1, seed: int = SEED):
    from zimage.request import GenerationRequest

    return GenerationRequest(prompt=PROMPT, width=SIZE, height=SIZE, seed=seed, count=count, steps=STEPS,
                             shift=SHIFT)


def save_pngs(results: list, folder: Path) -> None:
    """Save as the app does (PNG with metadata), so the direct side can time the same work apart."""
    from zimage.outputs import save

    save(results, folder, f"direct-{time.monotonic_ns()}")


# --- the app's side: gradio_client, and the REST API as curl uses it ----------------------------------------


def client_call(client: Any) -> None:
    gallery, _ = client.predict(PROMPT, SIZE, SIZE, SEED, 1, STEPS, SHIFT, api_name="/generate")
    assert len(gallery) == 1, gallery


def client_rejected(client: Any) -> None:
    """A call the app rejects at once (steps=0): the round trip with next to no work on the server."""
    from gradio_client.exceptions import AppError

    try:
        client.predict(PROMPT, SIZE, SIZE, SEED, 1, 0, SHIFT, api_name="/generate")
    except AppError:
        return
    raise AssertionError("steps=0 was accepted")


def http_call(url: str) -> list[Any]:
    """POST /call/generate, then read its event stream: no client library at all."""
    # A plain REST call sends every parameter: Gradio counts them before any app code runs (loras, variations).
    body = json.dumps({"data": [PROMPT, SIZE, SIZE, SEED, 1, STEPS, SHIFT, "", False]}).encode()
    post = urllib.request.Request(f"{url}gradio_api/call/generate", data=body,
                                  headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(post) as response:
        event_id = json.loads(response.read())["event_id"]
    event, data = "", ""
    with urllib.request.urlopen(f"{url}gradio_api/call/generate/{event_id}") as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = line.partition(":")[2].strip()
    if event != "complete":
        raise RuntimeError(f"REST call ended with {event!r}: {data[:300]}")
    return json.loads(data)


def rest_call(url: str) -> dict[str, float]:
    """The REST call, then one GET per image as gradio_client makes it; timed apart."""
    started = time.perf_counter()
    gallery = http_call(url)[0]
    answered = time.perf_counter()
    for item in gallery:
        with urllib.request.urlopen(item["image"]["url"]) as response:
            response.read()
    return {"http_s": answered - started, "client_download_s": time.perf_counter() - answered}


def idle_cpu_percent(pid: int, seconds: float = 2.0) -> float:
    process = psutil.Process(pid)
    process.cpu_percent(None)
    time.sleep(seconds)
    return round(process.cpu_percent(None), 1)


# --- sections -----------------------------------------------------------------------------------------------


def cli_once(work: Path) -> dict[str, float]:
    """One fresh `python -m zimage generate`: seconds to the first PNG (its path is printed once saved),
    seconds to exit, and the exact peak RSS from the kernel (wait4)."""
    out = Path(tempfile.mkdtemp(dir=work))
    command = [sys.executable, "-m", "zimage", "generate", PROMPT, "--model", "tiny", "--size", f"{SIZE}x{SIZE}",
               "--seed", str(SEED), "--out", str(out)]
    with open(work / "cli.log", "w") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=app_env(work, ZIMAGE_DEVICE="cpu"),
                                   stdout=subprocess.PIPE, stderr=log, text=True)
        first = process.stdout.readline().strip()
        first_s = time.perf_counter() - started
        _, status, usage = os.wait4(process.pid, 0)
        exit_s = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stdout.close()
    if process.returncode != 0 or not Path(first).is_file():
        raise RuntimeError(f"CLI failed ({process.returncode}): {(work / 'cli.log').read_text()[-1500:]}")
    rss_kib = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KiB on Linux
    return {"first_png_s": first_s, "exit_s": exit_s, "peak_rss_mib": rss_kib / 1024}


def run_cli(runs: int, work: Path) -> dict[str, Any]:
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        for key, value in cli_once(work).items():
            samples.setdefault(key, []).append(value)
    return medians(samples)


def run_ui(runs: int, work: Path) -> dict[str, Any]:
    samples: dict[str, list[float]] = {"ui_ready_s": [], "model_ready_s": []}
    for _ in range(runs):
        with AppProcess(work, ZIMAGE_DEVICE="cpu") as app:
            samples["ui_ready_s"].append(app.wait_http())
            samples["model_ready_s"].append(app.wait_model())
    ui_first = sum(ui < model for ui, model in zip(samples["ui_ready_s"], samples["model_ready_s"]))
    return {**medians(samples), "ui_first_runs": ui_first}


def run_overhead(runs: int, work: Path) -> dict[str, Any]:
    """A direct call, the gradio_client round trip, the plain REST call and a rejected call, interleaved."""
    import torch
    from gradio_client import Client

    with AppProcess(work, ZIMAGE_DEVICE="cpu") as app:
        engine = direct_engine(work)  # loads while the app boots; nothing before the warm-up is timed
        app.wait_http()
        app.wait_model()
        client = Client(app.url, verbose=False, download_files=str(work / "downloads"))
        idle_rss, idle_cpu = app.rss_mib(), idle_cpu_percent(app.pid)

        def direct() -> dict[str, float]:
            # The direct call is timed alone; the PNG save the app also does is timed after it, apart.
            started = time.perf_counter()
            results = engine.generate(request())
            generated = time.perf_counter()
            save_pngs(results, work / "outputs")
            return {"direct_s": generated - started, "png_save_s": time.perf_counter() - generated}

        sides = {"direct_total": direct, "client_s": lambda: client_call(client),
                 "rest_total": lambda: rest_call(app.url), "client_rejected_s": lambda: client_rejected(client)}
        interleaved(1, sides)  # warm-up: first calls pay for lazy imports and connection set-up
        with PeakRSS(app.pid) as rss:
            samples = interleaved(runs, sides)
    for total in ("direct_total", "rest_total"):  # the sums of sub-timings that are kept apart
        samples.pop(total)
    result = medians(samples)
    result.update(overhead_split(result), torch_threads=torch.get_num_threads(), app_idle_rss_mib=idle_rss,
                  app_peak_rss_mib=rss.peak_mib, app_idle_cpu_pct=idle_cpu)
    return result


def overhead_split(m: dict[str, float]) -> dict[str, Any]:
    """What the app adds over a direct call, through gradio_client and over plain REST, from interleaved medians.

    The REST side is the call plus the one GET of the PNG that gradio_client also makes, so the two differ only
    by the client library itself.
    """
    rest = m["http_s"] + m["client_download_s"]
    return {"overhead_s": round(m["client_s"] - m["direct_s"], 4),
            "overhead_pct": round(100 * (m["client_s"] - m["direct_s"]) / m["direct_s"], 1),
            "rest_overhead_s": round(rest - m["direct_s"], 4),
            "rest_overhead_pct": round(100 * (rest - m["direct_s"]) / m["direct_s"], 1),
            "client_library_s": round(m["client_s"] - rest, 4)}


def run_batch(runs: int, work: Path) -> dict[str, Any]:
    engine = direct_engine(work)
    batch, singles = request(count=4), [request(seed=SEED + i) for i in range(4)]
    engine.generate(request())  # warm-up
    result = medians(interleaved(runs, {"batch4_s": lambda: engine.generate(batch),
                                        "singles4_s": lambda: [engine.generate(r) for r in singles]}))
    result["ratio"] = round(result["batch4_s"] / result["singles4_s"], 3)
    return result


RUNNERS = {"cli": run_cli, "ui": run_ui, "overhead": run_overhead, "batch": run_batch}


# --- report -------------------------------------------------------------------------------------------------


def machine(runs: int) -> dict[str, Any]:
    return {
        "cpu": cpu_model(), "logical_cores": psutil.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(), "python": platform.python_version(),
        **versions("torch", "diffusers", "transformers", "gradio", "gradio_client", "pillow", "psutil"),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "runs_per_median": runs, "size": f"{SIZE}x{SIZE}", "steps": STEPS, "prompt": PROMPT,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# --- entry point --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for cpu.json and cpu.md")
    parser.add_argument("--runs", type=int, default=0, help="runs per median (default 5, 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="2 runs per median")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument("--note", default="", help="a line for the report, e.g. 'measured while other jobs ran'")
    args = parser.parse_args(argv)
    args.runs = args.runs or (2 if args.quick else 5)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown or args.runs < 1:
        parser.error(f"unknown section(s) {', '.join(unknown)}; allowed: {', '.join(SECTIONS)}" if unknown
                     else "--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from zimage.config import default_cache_dir
    from zimage.tiny import ensure_tiny_model

    started = time.perf_counter()
    ensure_tiny_model(default_cache_dir())  # built once here, so no timed run pays for it
    report: dict[str, Any] = {"machine": {**machine(args.runs), "note": args.note}, "sections": {}, "failed": {},
                              "tiny_model_build_s": round(time.perf_counter() - started, 2)}
    with tempfile.TemporaryDirectory(prefix="zimage-bench-") as tmp:
        for name in args.only:
            print(f"[bench.cpu] {name} ...", file=sys.stderr, flush=True)
            work = Path(tmp) / name
            work.mkdir()
            try:
                report["sections"][name] = RUNNERS[name](args.runs, work)
            except Exception as error:  # one broken section must not lose the others' figures
                traceback.print_exc()
                report["failed"][name] = f"{type(error).__name__}: {str(error)[:500]}"
    report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    report["targets"] = evaluate_targets(report["sections"])
    write_report(report, to_markdown(report), args.out, "cpu")
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
