"""Scaling test: the load test (bench.load) against the app in process, on 1 and 2 Ray Serve replicas, on 2
replicas with one killed mid-load, and on 2 with cross-user batching. Every request must be answered.

    python -m bench.scale                                          # tiny model, CPU replicas
    python -m bench.scale --users 8 --requests 4 --size 512 --steps 4 --out /tmp/scale

It re-runs itself in a loopback-only network namespace (`unshare -n`, needs root): a local Ray binds the
machine's external address otherwise. Results go to scale.json and scale.md in --out; the markdown is printed.
The exit code is 1 when any request was lost or failed with a non-busy error.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from bench import load
from bench.report import load_average, write_report
from devtools.apphost import ROOT, AppProcess
from devtools.netns import can_isolate, run_isolated

RETRY_LINE = "Replica lost during a request"
# (label, app environment, kill one replica mid-load)
CONFIGS = [
    ("in process (no Ray)", {}, False),
    ("1 replica", {"ZIMAGE_REPLICAS": "1"}, False),
    ("2 replicas", {"ZIMAGE_REPLICAS": "2"}, False),
    ("2 replicas, one killed mid-load", {"ZIMAGE_REPLICAS": "2"}, True),
    ("2 replicas, cross-user batches of up to 4", {"ZIMAGE_REPLICAS": "2", "ZIMAGE_RAY_BATCH": "4"}, False),
]


def replica_pid(url: str, args: argparse.Namespace) -> int:
    """The process of the replica that answers one probe request, read from the answer's info."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    try:
        _, info = client.predict(load.PROMPT, args.size, args.size, 1, 1, args.steps, 3.0, api_name="/generate")
    finally:
        client.close()
    return int(re.search(r"pid (\d+)", info["model"]["replica"]).group(1))


def run_config(label: str, env: dict[str, str], kill: bool, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with AppProcess(work / label.replace(" ", "-"), **env) as app:
        app.wait_http()
        url = app.url
        load.warm_up(url, args)  # waits for every replica to load
        killed: dict[str, Any] = {}
        if kill:
            killed.update(pid=replica_pid(url, args), at_s=args.kill_after)
            threading.Timer(args.kill_after, os.kill, (killed["pid"], signal.SIGKILL)).start()
        summary = load.run_load(url, argparse.Namespace(**{**vars(args), "warmup": False}))
        if kill:  # the runner logs each request it sent again because its replica died under it
            killed["retried"] = sum(RETRY_LINE in line for line in app.log)
            killed["log"] = "\n".join(line for line in app.log if "queue length" not in line)[-20000:]
    return {"config": label, "killed": killed, **summary}


def markdown(runs: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    lines = [f"# Scaling on Ray Serve ({runs[0]['when']})", "",
             f"{machine['cpus']} CPU cores; load average before/after: {machine['uptime_before']} / "
             f"{machine['uptime_after']}. Request: {runs[0]['size']}x{runs[0]['size']}, {runs[0]['steps']} steps, "
             f"{runs[0]['users']} users x {runs[0]['requests_per_user']} requests.", "",
             "| setup | ok / busy / error / lost | wall s | requests/s | p50 s | p95 s |", "|---|---|---|---|---|---|"]
    for run in runs:
        latency = run["ok_latency_s"]
        lines.append(f"| {run['config']} | {run['ok']} / {run['busy']} / {run['error']} / {run['lost']} | "
                     f"{run['wall_s']} | {run['ok_per_s']} | {latency['p50']} | {latency['p95']} |")
    for run in runs:
        if run["killed"]:
            lines.append(f"\n{run['config']}: replica pid {run['killed']['pid']} was killed "
                         f"{run['killed']['at_s']} s into the load; {run['killed']['retried']} request(s) in flight "
                         "on it were sent again to the other replica.")
        for failure in run["failures"][:5]:
            lines.append(f"- {run['config']}: {failure['kind']}: {failure['message']}")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0],
                                     epilog="Other flags (--users, --requests, --size, --steps) go to bench.load.")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale")
    parser.add_argument("--kill-after", type=float,
                        help="seconds into the load before the kill (default: 40%% of the 2-replica run's wall time, "
                             "so the load is surely under way)")
    parser.add_argument("--isolated", action="store_true", help=argparse.SUPPRESS)  # set by the re-run
    ours, rest = parser.parse_known_args(argv)
    return ours, rest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, rest = parse_args(argv)
    if not ours.isolated:
        reason = can_isolate()
        if reason:
            print(f"Error: {reason}", file=sys.stderr)
            return 1
        return run_isolated(["-m", "bench.scale", "--isolated", *argv], timeout=3600, capture=False).returncode
    args = load.parse_args(rest)
    machine = {"cpus": os.cpu_count(), "uptime_before": load_average()}
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="zimage-scale-") as work:
        for label, env, kill in CONFIGS:
            args.kill_after = ours.kill_after or (round(0.4 * runs[-1]["wall_s"], 1) if runs else 0.0)
            runs.append(run_config(label, env, kill, args, Path(work)))
    machine["uptime_after"] = load_average()
    write_report({"machine": machine, "runs": runs}, markdown(runs, machine), ours.out, "scale")  # with the kill's app log
    return 0 if all(run["passed"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
