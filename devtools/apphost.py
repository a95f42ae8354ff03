"""Run the real app, `python app.py --port N` on the tiny model, in a subprocess, as a user would.

The API, browser and load tests talk to it through `running_app`; the CPU benchmark uses `AppProcess` to time
its start and `PeakRSS` to track its memory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import psutil

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180.0
MODEL_READY = "Model ready"  # what zimage.model_loader logs once the weights are loaded
MODEL_FAILED = "model load failed"  # app.py's log line when the background load fails (compared lower-case)
MIB = 2**20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(work: Path, **extra: str) -> dict[str, str]:
    """A clean environment for the app or the CLI: the tiny model, offline, outputs and Gradio's cache in `work`.

    Other ZIMAGE_* variables are dropped so the caller's settings (a GPU, compile, a rate limit) cannot leak in;
    the tiny model's cache folder is kept, so it is built only once. `extra` overrides any of it.
    """
    from zimage.config import default_cache_dir

    env = {key: value for key, value in os.environ.items() if not key.startswith("ZIMAGE_")}
    env.update(ZIMAGE_MODEL="tiny", ZIMAGE_CACHE_DIR=str(default_cache_dir()),
               ZIMAGE_OUTPUT_DIR=str(work / "outputs"), GRADIO_TEMP_DIR=str(work / "gradio"),
               HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    return {**env, **extra}


class AppProcess:
    """`python app.py --port N` launched at construction; its log is read (and saved to `work`) in a thread."""

    def __init__(self, work: Path, **env: str) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log: list[str] = []
        self.log_path = work / f"app-{self.port}.log"
        self.model_ready_s: float | None = None
        self._model_event = threading.Event()
        self.started = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, "app.py", "--port", str(self.port)], cwd=ROOT,
                                        env=app_env(work, **env), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, errors="replace")
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read_log(self) -> None:
        # Drained to the end, so the app never blocks on a full pipe; the file outlives the run for post-mortems.
        with open(self.log_path, "w", encoding="utf-8") as saved:
            for line in self.process.stdout:
                saved.write(line)
                self.log.append(line.rstrip())
                if MODEL_READY in line and self.model_ready_s is None:
                    self.model_ready_s = time.perf_counter() - self.started
                    self._model_event.set()
                elif MODEL_FAILED in line.lower():
                    self._model_event.set()
        self._model_event.set()  # the app exited: nobody should wait for a model any longer

    @property
    def pid(self) -> int:
        return self.process.pid

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
        raise TimeoutError(f"app did not answer at {self.url} within {timeout} s: {self.tail()}")

    def wait_model(self, timeout: float = START_TIMEOUT_S) -> float:
        """Seconds from launch until the app logs "Model ready"."""
        self._model_event.wait(max(0.0, self.started + timeout - time.perf_counter()))
        if self.model_ready_s is None:
            raise RuntimeError(f"the model did not load: {self.tail()}")
        return self.model_ready_s

    def rss_mib(self) -> float:
        """Resident memory of the app and its children now."""
        return round(_tree_rss(psutil.Process(self.pid)) / MIB, 1)

    def tail(self, lines: int = 8) -> str:
        return " / ".join(self.log[-lines:])[-1500:]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "AppProcess":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


@contextmanager
def running_app(work: Path, **env: str) -> Iterator[str]:
    """Yield the base URL of the app once its page answers; `env` configures it (e.g. ZIMAGE_QUEUE_SIZE)."""
    with AppProcess(work, **env) as app:
        app.wait_http()
        yield app.url


def _tree_rss(process: psutil.Process) -> int:
    return sum(p.memory_info().rss for p in (process, *process.children(recursive=True)))


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
                self.peak = max(self.peak, _tree_rss(self.process))
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
