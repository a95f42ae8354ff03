"""Benchmark the app's own costs on the CPU with the tiny random-weights model.

    python bench/cpu.py --out bench/results [--runs 5] [--quick] [--only overhead,batch]

Sections (all by default):
  cli       cold start of `python -m zimage generate ... --model tiny --size 256x256`: launch -> first PNG
  ui        cold start of `python app.py`: launch -> page answers HTTP 200, and launch -> "Model ready"
  overhead  gradio_client /generate round trip vs a direct in-process Engine.generate, 256x256, 9 steps
  overhead1 the same with 1 torch thread on both sides (app: OMP_NUM_THREADS=1), free of thread contention
  batch     one count=4 call vs 4 single calls (direct, in-process)
  threads   torch.set_num_threads(1) vs the default, direct at 256 and 1024, and through the app at 256

Every figure is the median of --runs runs; the two sides of each ratio are measured in one loop, interleaved
(A B A B ...), so drift and other jobs on the machine hit both alike. The tiny model's images are noise: the
timings measure the plumbing (process start, Gradio, PNG, threads), not the real model's speed. Results go to
cpu.json and cpu.md in --out; the markdown table is also printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python bench/cpu.py` puts bench/ first on the path, not the repository.
from bench.report import write_report  # noqa: E402 - needs the repository on the path first

PROMPT = "a lighthouse on a cliff at dusk, waves, 35mm photograph"
SIZE, STEPS, SEED, SHIFT = 256, 9, 42, 3.0
SECTIONS = ("cli", "ui", "overhead", "overhead1", "batch", "threads")
MIB = 2**20
# The CPU targets.
OVERHEAD_LIMIT_PCT = 15.0
UI_READY_LIMIT_S = 10.0
START_TIMEOUT_S = 180.0
SETTLE_S = 0.1


def median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def cache_dir() -> Path:
    """The tiny model lives where the app and the CLI look for it: ZIMAGE_CACHE_DIR or ~/.cache/zimage."""
    from zimage.config import default_cache_dir

    return default_cache_dir()


def child_env(work: Path, **extra: str) -> dict[str, str]:
    """A clean environment for the app and CLI: tiny model on the CPU, offline, outputs in `work`.

    Every other ZIMAGE_* variable is dropped so a user's settings (compile, a GPU, a rate limit) cannot leak in.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZIMAGE_")}
    env.update(ZIMAGE_CACHE_DIR=str(cache_dir()), ZIMAGE_MODEL="tiny", ZIMAGE_DEVICE="cpu",
               ZIMAGE_OUTPUT_DIR=str(work / "outputs"), GRADIO_TEMP_DIR=str(work / "gradio"),
               HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", **extra)
    return env


# --- measuring helpers --------------------------------------------------------------------------------------


class PeakRSS:
    """Samples the resident memory of a process and its children in a thread; `peak_mib` is the maximum seen."""

    def __init__(self, pid: int, every_s: float = 0.02) -> None:
        self.process, self.every_s = psutil.Process(pid), every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                return
            self._stop.wait(self.every_s)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return round(self.peak / MIB, 1)


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class App:
    """`python app.py` in a subprocess. Its log is read in a thread that timestamps the "Model ready" line."""

    def __init__(self, work: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log: list[str] = []
        self.model_ready_s: float | None = None
        self.model_event = threading.Event()
        self.started = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, "app.py", "--port", str(self.port)], cwd=ROOT,
                                        env=child_env(work, **env), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, errors="replace")
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read_log(self) -> None:
        for line in self.process.stdout:  # drained to the end, so the app never blocks on a full pipe
            self.log.append(line.rstrip())
            if "Model ready" in line and self.model_ready_s is None:
                self.model_ready_s = time.perf_counter() - self.started
                self.model_event.set()
            elif "model load failed" in line.lower():
                self.model_event.set()

    def wait_http(self, timeout: float = START_TIMEOUT_S) -> float:
        """Seconds from launch until the page answers HTTP 200."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app exited with code {self.process.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"app did not answer within {timeout} s: {self.tail()}")

    def wait_model(self, timeout: float = START_TIMEOUT_S) -> float:
        """Seconds from launch until the app logs "Model ready"."""
        self.model_event.wait(max(0.0, self.started + timeout - time.perf_counter()))
        if self.model_ready_s is None:
            raise RuntimeError(f"the model did not load: {self.tail()}")
        return self.model_ready_s

    def wait_ready(self) -> "App":
        self.wait_http()
        self.wait_model()
        return self

    def tail(self) -> str:
        return " / ".join(self.log[-8:])[-1500:]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def running_app(work: Path, **env: str) -> Iterator[App]:
    with closing(App(work, **env)) as app:
        yield app.wait_ready()


def direct_engine(work: Path):
    """The same tiny model as the app, loaded in this process, with the app's CPU settings."""
    from zimage.config import Settings
    from zimage.engine import Engine

    engine = Engine(Settings(model="tiny", device="cpu", cache_dir=cache_dir(), output_dir=work / "outputs"))
    engine.load().pipe.set_progress_bar_config(disable=True)
    return engine


def request(count: int = 1, size: int = SIZE, seed: int = SEED):
    from zimage.request import GenerationRequest

    return GenerationRequest(prompt=PROMPT, width=size, height=size, seed=seed, count=count, steps=STEPS,
                             shift=SHIFT)


def client_call(client: Any, count: int = 1) -> list[dict[str, Any]]:
    gallery, _ = client.predict(PROMPT, SIZE, SIZE, SEED, count, STEPS, SHIFT, api_name="/generate")
    assert len(gallery) == count, gallery
    return gallery


def client_rejected(client: Any) -> None:
    """A call the app rejects at once (steps=0): the round trip with next to no work on the server."""
    from gradio_client.exceptions import AppError

    try:
        client.predict(PROMPT, SIZE, SIZE, SEED, 1, 0, SHIFT, api_name="/generate")
    except AppError:
        return
    raise AssertionError("steps=0 was accepted")


def http_call(url: str) -> list[Any]:
    """The REST API as curl uses it, with no client library: POST /call/generate, then read its event stream."""
    body = json.dumps({"data": [PROMPT, SIZE, SIZE, SEED, 1, STEPS, SHIFT]}).encode()
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


# --- sections -----------------------------------------------------------------------------------------------


def cli_once(work: Path) -> dict[str, float]:
    """One fresh `python -m zimage generate`: seconds to the first PNG (its path is printed once saved),
    seconds to exit, and the exact peak RSS from the kernel (wait4)."""
    out = Path(tempfile.mkdtemp(dir=work))
    command = [sys.executable, "-m", "zimage", "generate", PROMPT, "--model", "tiny", "--size", f"{SIZE}x{SIZE}",
               "--seed", str(SEED), "--out", str(out)]
    with open(work / "cli.log", "w") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=child_env(work), stdout=subprocess.PIPE, stderr=log,
                                   text=True)
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
    return {**{key: median(values) for key, values in samples.items()}, "samples": samples}


# app.py's imports in its order, then what the background load adds; each figure is cumulative.
IMPORTS = ("spaces", "gradio", "zimage.engine", "torch", "diffusers")
IMPORT_SCRIPT = """
import json, time, importlib
t0 = time.perf_counter(); seen = {}
for name in %r:
    importlib.import_module(name); seen[name] = time.perf_counter() - t0
print(json.dumps(seen))
""" % (IMPORTS,)


def import_times(work: Path) -> dict[str, float]:
    """Cumulative seconds to import app.py's heavy dependencies in a fresh process (interpreter start excluded)."""
    done = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT], cwd=ROOT, env=child_env(work), capture_output=True,
                          text=True, timeout=START_TIMEOUT_S, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_ui(runs: int, work: Path) -> dict[str, Any]:
    samples: dict[str, list[float]] = {"ui_ready_s": [], "model_ready_s": []}
    for _ in range(runs):
        app = App(work)
        try:
            samples["ui_ready_s"].append(app.wait_http())
            samples["model_ready_s"].append(app.wait_model())
        finally:
            app.close()
        for name, value in import_times(work).items():  # alternated with the launches, so drift hits both
            samples.setdefault(f"import_{name}_s", []).append(value)
    ui_first = sum(ui < model for ui, model in zip(samples["ui_ready_s"], samples["model_ready_s"]))
    return {**{key: median(values) for key, values in samples.items()}, "ui_first_runs": ui_first,
            "samples": samples}


def idle_cpu_percent(pid: int, seconds: float = 2.0) -> float:
    process = psutil.Process(pid)
    process.cpu_percent(None)
    time.sleep(seconds)
    return round(process.cpu_percent(None), 1)


def profiling(app: App, action: str) -> list[dict[str, Any]]:
    """Gradio's own per-event timings (GRADIO_PROFILING=1): queue wait, preprocess, handler, postprocess."""
    url = f"{app.url}gradio_api/profiling/{action}"
    with urllib.request.urlopen(urllib.request.Request(url, method="POST" if action == "clear" else "GET")) as r:
        return json.loads(r.read())


def server_phases(traces: list[dict[str, Any]]) -> dict[str, float]:
    traces = [t for t in traces if t.get("fn_name") == "generate"]
    keys = ("queue_wait", "preprocess", "fn_call", "postprocess", "postprocess_move_to_cache", "total")
    return {f"server_{key}_s": median([t[f"{key}_ms"] / 1000 for t in traces]) for key in keys}


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run this process's torch on `threads` threads (None: leave the default), and restore it after."""
    import torch

    default = torch.get_num_threads()
    torch.set_num_threads(threads or default)
    try:
        yield
    finally:
        torch.set_num_threads(default)


def run_overhead(runs: int, work: Path, threads: int | None = None) -> dict[str, Any]:
    """Round trip through the app vs a direct call; with `threads`, both sides use that many torch threads."""
    with torch_threads(threads):
        result = _overhead(runs, work, {"OMP_NUM_THREADS": str(threads)} if threads else {})
    import torch

    return {"torch_threads": threads or torch.get_num_threads(), **result}


def _overhead(runs: int, work: Path, app_env: dict[str, str]) -> dict[str, Any]:
    from gradio_client import Client

    from zimage.outputs import save as save_results

    with closing(App(work, GRADIO_PROFILING="1", **app_env)) as app:
        engine = direct_engine(work)  # loads while the app boots; nothing before the warm-up is timed
        app.wait_ready()
        client = Client(app.url, verbose=False, download_files=str(work / "downloads"))
        idle_rss = psutil.Process(app.process.pid).memory_info().rss / MIB
        idle_cpu = idle_cpu_percent(app.process.pid)

        def direct() -> dict[str, float]:
            # The direct call is timed alone; the PNG save the app also does is timed after it, apart.
            started = time.perf_counter()
            results = engine.generate(request())
            generated = time.perf_counter()
            save_results(results, work / "outputs", f"direct-{generated}")
            return {"direct_s": generated - started, "png_save_s": time.perf_counter() - generated}

        def rest() -> dict[str, float]:
            started = time.perf_counter()
            gallery = http_call(app.url)[0]
            answered = time.perf_counter()
            for item in gallery:  # the same GET gradio_client makes for each image
                with urllib.request.urlopen(item["image"]["url"]) as response:
                    response.read()
            return {"http_s": answered - started, "client_download_s": time.perf_counter() - answered}

        sides = {"direct_total": direct, "client_s": lambda: client_call(client), "http_total": rest,
                 "client_rejected_s": lambda: client_rejected(client)}
        interleaved(1, sides)  # warm-up: first calls pay for lazy imports and connection set-up
        profiling(app, "clear")
        with PeakRSS(app.process.pid) as rss:
            samples = interleaved(runs, sides)
        phases = server_phases(profiling(app, "traces"))
    for total in ("direct_total", "http_total"):
        samples.pop(total)
    result: dict[str, Any] = {key: median(values) for key, values in samples.items()}
    result.update(phases)
    result.update(overhead_breakdown(result), app_idle_rss_mib=round(idle_rss, 1), app_peak_rss_mib=rss.peak_mib,
                  app_idle_cpu_pct=idle_cpu, samples=samples)
    return result


def overhead_breakdown(m: dict[str, float]) -> dict[str, Any]:
    """Split (round trip - direct) into parts that add up to it, from medians of the same interleaved runs.

    handler_rest: the app's handler minus the generation and PNG save measured directly (progress updates,
    pruning, and the generation itself running slower beside the server's event loop).
    http_sse: the plain REST call (POST + event stream, no client library) minus what the server timed.
    client_download: one GET of the PNG, as gradio_client makes after each call.
    client_library: what gradio_client adds over the plain REST call and the download.
    """
    server = m["server_queue_wait_s"] + m["server_preprocess_s"] + m["server_fn_call_s"] + m["server_postprocess_s"]
    parts = {
        "png_save_s": m["png_save_s"],
        "handler_rest_s": m["server_fn_call_s"] - m["direct_s"] - m["png_save_s"],
        "gradio_pre_post_s": m["server_preprocess_s"] + m["server_postprocess_s"],
        "queue_wait_s": m["server_queue_wait_s"],
        "http_sse_s": m["http_s"] - server,
        "client_download_s": m["client_download_s"],
        "client_library_s": m["client_s"] - m["client_download_s"] - m["http_s"],
    }
    extra = m["client_s"] - m["direct_s"]
    rest_extra = m["http_s"] + m["client_download_s"] - m["direct_s"]  # the same work without gradio_client
    return {"overhead_s": round(extra, 4), "overhead_pct": round(100 * extra / m["direct_s"], 1),
            "rest_overhead_pct": round(100 * rest_extra / m["direct_s"], 1),
            "breakdown_s": {key: round(value, 4) for key, value in parts.items()}}


def run_batch(runs: int, work: Path) -> dict[str, Any]:
    engine = direct_engine(work)
    batch, singles = request(count=4), [request(seed=SEED + i) for i in range(4)]
    engine.generate(request())  # warm-up
    samples = interleaved(runs, {"batch4_s": lambda: engine.generate(batch),
                                 "singles4_s": lambda: [engine.generate(r) for r in singles]})
    result = {key: median(values) for key, values in samples.items()}
    result["ratio"] = round(result["batch4_s"] / result["singles4_s"], 3)
    return {**result, "samples": samples}


def run_threads(runs: int, work: Path) -> dict[str, Any]:
    """1 thread vs the default: direct calls at 256 and 1024, then two apps (OMP_NUM_THREADS=1 and default)."""
    import torch

    default = torch.get_num_threads()
    engine = direct_engine(work)
    result: dict[str, Any] = {"default_threads": default}
    for size in (SIZE, 1024):
        req = request(size=size)
        engine.generate(req)  # warm-up at this size

        def at(threads: int, req=req) -> None:
            with torch_threads(threads):
                engine.generate(req)

        samples = interleaved(runs, {"one_s": lambda: at(1), "default_s": lambda: at(default)})
        result[f"direct_{size}"] = thread_row(samples)
    result[f"app_{SIZE}"] = app_threads(runs, work)
    return result


def app_threads(runs: int, work: Path) -> dict[str, Any]:
    from gradio_client import Client

    with running_app(work / "one", OMP_NUM_THREADS="1") as one, running_app(work / "default") as default:
        clients = {name: Client(app.url, verbose=False, download_files=str(work / name / "downloads"))
                   for name, app in (("one_s", one), ("default_s", default))}
        sides = {name: (lambda c=c: client_call(c)) for name, c in clients.items()}
        interleaved(1, sides)
        return thread_row(interleaved(runs, sides))


def thread_row(samples: dict[str, list[float]]) -> dict[str, Any]:
    row: dict[str, Any] = {key: median(values) for key, values in samples.items()}
    row["speedup_one_thread"] = round(row["default_s"] / row["one_s"], 2)
    return {**row, "samples": samples}


RUNNERS = {"cli": run_cli, "ui": run_ui, "overhead": run_overhead,
           "overhead1": lambda runs, work: run_overhead(runs, work, threads=1),
           "batch": run_batch, "threads": run_threads}


# --- report -------------------------------------------------------------------------------------------------


def machine(runs: int) -> dict[str, Any]:
    import torch

    model = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                  if line.startswith("model name")), platform.processor())
    return {
        "cpu": model, "logical_cores": psutil.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "torch_threads_default": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
        "os": platform.platform(), "python": platform.python_version(),
        **{name: _version(name) for name in ("torch", "diffusers", "transformers", "gradio", "gradio_client",
                                             "pillow", "psutil")},
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "runs_per_median": runs, "size": f"{SIZE}x{SIZE}", "steps": STEPS, "prompt": PROMPT,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def evaluate_targets(sections: dict[str, Any]) -> list[dict[str, Any]]:
    """Pass or fail for the issue's CPU targets; "not measured" when the section did not run or failed."""
    specs = (("app_overhead", "app overhead over a direct call at 256² (default threads)", "overhead",
              "overhead_pct", OVERHEAD_LIMIT_PCT, "%"),
             ("app_overhead_1thread", "app overhead over a direct call at 256² (1 thread)", "overhead1",
              "overhead_pct", OVERHEAD_LIMIT_PCT, "%"),
             ("ui_ready", "UI ready after launch", "ui", "ui_ready_s", UI_READY_LIMIT_S, "s"))
    targets = []
    for target_id, what, section, key, limit, unit in specs:
        value = sections.get(section, {}).get(key)
        status = "not measured" if value is None else ("pass" if value <= limit else "fail")
        targets.append({"id": target_id, "what": what, "limit": limit, "unit": unit, "value": value,
                        "status": status})
    return targets


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f} s" if abs(value) < 10 else f"{value:.1f} s"


def table_rows(s: dict[str, Any], runs: int) -> list[tuple[str, str, str]]:
    """(measurement, median, note) for each section that ran."""
    rows: list[tuple[str, str, str]] = []
    if "first_png_s" in s.get("cli", {}):
        c = s["cli"]
        rows += [("Cold start, CLI: launch → first PNG written", seconds(c["first_png_s"]),
                  f"fresh process each run, tiny model folder already built; process exit {seconds(c['exit_s'])}")]
    if "ui_ready_s" in s.get("ui", {}):
        u = s["ui"]
        imports = ", ".join(f"{name} {seconds(u[f'import_{name}_s'])}" for name in IMPORTS)
        rows += [("Cold start, UI: launch → page answers HTTP 200", seconds(u["ui_ready_s"]),
                  f"UI ready; imports alone, cumulative in a fresh process: {imports}"),
                 ("Cold start, UI: launch → \"Model ready\" logged", seconds(u["model_ready_s"]),
                  f"weights load in a background thread; UI answered first in {u['ui_first_runs']}/{runs} runs")]
    for key in ("overhead", "overhead1"):
        if "direct_s" in s.get(key, {}):
            rows += overhead_rows(s[key])
    if "ratio" in s.get("batch", {}):
        b = s["batch"]
        rows += [("Batch: one call, count=4 (direct)", seconds(b["batch4_s"]), ""),
                 ("Batch: 4 single calls (direct)", seconds(b["singles4_s"]), ""),
                 ("Batch ratio (count=4 / 4 singles)", f"{b['ratio']:.2f}×",
                  f"{1 / b['ratio']:.2f}× the throughput of single calls")]
    if "direct_256" in s.get("threads", {}):
        t = s["threads"]
        for key, label in (("direct_256", "direct call, 256²"), ("direct_1024", "direct call, 1024²"),
                           (f"app_{SIZE}", "app round trip, 256² (OMP_NUM_THREADS=1)")):
            row = t[key]
            rows.append((f"Threads, {label}: 1 vs default ({t['default_threads']})",
                         f"{seconds(row['one_s'])} vs {seconds(row['default_s'])}",
                         f"1 thread is {row['speedup_one_thread']:.2f}× as fast"))
    return rows


def overhead_rows(o: dict[str, Any]) -> list[tuple[str, str, str]]:
    b = o["breakdown_s"]
    where = (f"PNG encode+save {seconds(b['png_save_s'])}; rest of the handler {seconds(b['handler_rest_s'])}; "
             f"Gradio pre/postprocess incl. cache copy {seconds(b['gradio_pre_post_s'])}; "
             f"queue wait {seconds(b['queue_wait_s'])}; HTTP + SSE {seconds(b['http_sse_s'])}; "
             f"image download {seconds(b['client_download_s'])}; gradio_client itself {seconds(b['client_library_s'])}")
    threads = f"{o['torch_threads']} thread{'s' if o['torch_threads'] > 1 else ''}"
    return [(f"Direct Engine.generate, 256², count 1, 9 steps ({threads})", seconds(o["direct_s"]),
             "in-process, no PNG"),
            (f"gradio_client /generate round trip, same request ({threads})", seconds(o["client_s"]),
             f"plain REST call (POST + event stream, no download) {seconds(o['http_s'])}; a call rejected at once "
             f"(steps=0) through gradio_client {seconds(o['client_rejected_s'])}"),
            (f"App overhead, round trip − direct ({threads})",
             f"{o['overhead_pct']:+.0f} % ({seconds(o['overhead_s'])})", where),
            (f"App overhead without gradio_client: REST call + PNG download − direct ({threads})",
             f"{o['rest_overhead_pct']:+.0f} %", "what curl or a browser-like client pays"),
            (f"Peak RSS, app process during generation ({threads})", f"{o['app_peak_rss_mib']:.0f} MiB",
             f"idle after load {o['app_idle_rss_mib']:.0f} MiB; idle app uses {o['app_idle_cpu_pct']:.0f} % of a core")]


def to_markdown(report: dict[str, Any]) -> str:
    m, s, runs = report["machine"], report["sections"], report["machine"]["runs_per_median"]
    rows = table_rows(s, runs)
    if "peak_rss_mib" in s.get("cli", {}):
        rows.append(("Peak RSS, CLI process", f"{s['cli']['peak_rss_mib']:.0f} MiB", "kernel's maximum (wait4)"))
    lines = [f"# zimage CPU benchmark (tiny model): {m['cpu']}, {m['logical_cores']} cores", "",
             f"Median of {runs} runs; ratios from interleaved runs. {SIZE}x{SIZE}, {STEPS} steps, count 1 unless "
             f"stated. torch {m['torch']} ({m['torch_threads_default']} threads by default), gradio {m['gradio']}. "
             f"Load average {m['load_average_start']} at the start, {m.get('load_average_end')} at the end."
             + (f" {m['note']}" if m.get("note") else ""), "",
             "| measurement | median | note |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {note or '–'} |" for name, value, note in rows]
    lines += ["", "| target | limit | measured | status |", "|---|---|---|---|"]
    for t in report["targets"]:
        measured = seconds(t["value"]) if t["unit"] == "s" else "–" if t["value"] is None else f"{t['value']:+.0f} %"
        lines.append(f"| {t['what']} | ≤ {t['limit']:g} {t['unit']} | {measured} | {t['status']} |")
    for name, error in report["failed"].items():
        lines.append(f"\n**{name} failed:** {error}")
    return "\n".join(lines) + "\n"


# --- entry point --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    import torch

    from zimage.tiny import ensure_tiny_model

    # The engine pins the tiny model to one thread unless OMP_NUM_THREADS is set. Pin torch's own default here,
    # in this process and the apps it starts, so "default threads" rows mean that default and the 1-thread rows
    # are the setting the app ships with.
    os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))

    started = time.perf_counter()
    ensure_tiny_model(cache_dir())  # built once here, so no timed run pays for it
    report: dict[str, Any] = {"machine": {**machine(args.runs), "note": args.note}, "sections": {}, "failed": {},
                              "tiny_model_build_s": round(time.perf_counter() - started, 2)}
    with tempfile.TemporaryDirectory(prefix="zimage-bench-") as tmp:
        for name in args.only:
            print(f"[bench/cpu] {name} ...", file=sys.stderr, flush=True)
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
