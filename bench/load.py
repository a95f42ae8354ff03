"""Load test: N concurrent API users, each sending M /generate requests; every request must end clearly.

    python -m bench.load --users 32 --requests 5                   # launches `python app.py` on the tiny model
    python -m bench.load --users 8 --requests 3 --url http://127.0.0.1:7860/ --out /tmp/load

Each user is its own gradio_client session and sends its requests one after another (a closed loop), so up to
N requests are in flight at once. Every request is counted as exactly one of:
  ok     images came back, as many as asked for, with the right seeds
  busy   a clear "queue full" / "busy" / rate-limit message (expected when N exceeds the queue size)
  error  any other error message (a failure the app should not have)
  lost   neither: no answer within --timeout, or an answer without images
Results go to load.json and load.md in --out; the markdown is also printed. The exit code is 1 when any
request was lost or failed with a non-busy error, else 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.report import write_report
from devtools.apphost import ROOT, running_app

PROMPT = "a lighthouse on a cliff at dusk, waves, 35mm photograph"
# What a caller may see when the app is full or limiting: gradio_client's QueueError, the browser's text,
# and the app's own (English and Chinese) busy and rate-limit messages.
BUSY_MARKERS = ("queue is full", "currently busy", "server is busy", "too many requests",
                "服务器繁忙", "请求过于频繁")


@dataclass
class Outcome:
    """One request: its kind (ok, busy, error, lost), how long it took, and the message if it failed."""

    user: int
    index: int
    kind: str
    seconds: float
    message: str = ""


def classify_error(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".lower()
    if type(error).__name__ == "QueueError" or any(marker in text for marker in BUSY_MARKERS):
        return "busy"
    return "error"


def one_request(client: Any, user: int, index: int, args: argparse.Namespace) -> Outcome:
    seed = user * 1000 + index
    started = time.perf_counter()
    try:
        job = client.submit(PROMPT, args.size, args.size, seed, args.count, args.steps, 3.0, api_name="/generate")
        gallery, info = job.result(timeout=args.timeout)
    except TimeoutError:
        return Outcome(user, index, "lost", time.perf_counter() - started, f"no answer within {args.timeout} s")
    except Exception as error:  # noqa: BLE001 - every failure is counted, none may escape
        kind = classify_error(error)
        return Outcome(user, index, kind, time.perf_counter() - started, f"{type(error).__name__}: {error}"[:300])
    seconds = time.perf_counter() - started
    expected = list(range(seed, seed + args.count))
    files_ok = all(Path(item["image"]).is_file() for item in gallery or [])
    if len(gallery or []) != args.count or info.get("seeds") != expected or not files_ok:
        return Outcome(user, index, "lost", seconds, f"answer without the images asked for: {info!r}"[:300])
    return Outcome(user, index, "ok", seconds)


def run_user(url: str, user: int, args: argparse.Namespace, start: threading.Barrier) -> list[Outcome]:
    from gradio_client import Client

    try:
        client = Client(url, verbose=False)
    except Exception as error:  # noqa: BLE001 - a user who cannot even connect lost every request
        start.wait()
        return [Outcome(user, i, "lost", 0.0, f"connect: {type(error).__name__}: {error}"[:300])
                for i in range(args.requests)]
    start.wait()  # everyone connects first, then all users fire at once
    try:
        return [one_request(client, user, i, args) for i in range(args.requests)]
    finally:
        client.close()


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))  # nearest-rank
    return round(ordered[rank], 3)


def summarize(outcomes: list[Outcome], wall: float, args: argparse.Namespace, url: str) -> dict[str, Any]:
    counts = {kind: sum(o.kind == kind for o in outcomes) for kind in ("ok", "busy", "error", "lost")}
    ok_times = [o.seconds for o in outcomes if o.kind == "ok"]
    busy_times = [o.seconds for o in outcomes if o.kind == "busy"]
    failures = [asdict(o) for o in outcomes if o.kind in ("error", "lost")]
    return {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "url": url, "users": args.users, "requests_per_user": args.requests, "size": args.size,
        "steps": args.steps, "count": args.count, "queue_size": args.queue_size,
        "total": len(outcomes), **counts, "wall_s": round(wall, 2),
        "ok_per_s": round(counts["ok"] / wall, 3) if wall else None,
        "images_per_s": round(counts["ok"] * args.count / wall, 3) if wall else None,
        "ok_latency_s": {"p50": percentile(ok_times, 50), "p95": percentile(ok_times, 95),
                         "max": round(max(ok_times), 3) if ok_times else None,
                         "mean": round(statistics.fmean(ok_times), 3) if ok_times else None},
        "busy_latency_s": {"p50": percentile(busy_times, 50), "p95": percentile(busy_times, 95)},
        "busy_messages": sorted({o.message for o in outcomes if o.kind == "busy"}),
        "failures": failures[:50],
        "passed": counts["error"] == 0 and counts["lost"] == 0,
    }


def markdown(summary: dict[str, Any]) -> str:
    ok, busy = summary["ok_latency_s"], summary["busy_latency_s"]
    rows = [
        ("users x requests", f"{summary['users']} x {summary['requests_per_user']} = {summary['total']}"),
        ("request", f"{summary['size']}x{summary['size']}, {summary['steps']} steps, count {summary['count']}"),
        ("queue size", summary["queue_size"] or "the app's setting"),
        ("ok / busy / error / lost", f"{summary['ok']} / {summary['busy']} / {summary['error']} / {summary['lost']}"),
        ("wall time", f"{summary['wall_s']} s"),
        ("throughput", f"{summary['ok_per_s']} ok requests/s ({summary['images_per_s']} images/s)"),
        ("ok latency p50 / p95 / max", f"{ok['p50']} / {ok['p95']} / {ok['max']} s"),
        ("busy answer p50 / p95", f"{busy['p50']} / {busy['p95']} s"),
        ("verdict", "PASS: no request lost, no non-busy error" if summary["passed"] else "FAIL"),
    ]
    lines = [f"# Load test ({summary['when']})", "", "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    if summary["busy_messages"]:
        lines += ["", "Busy messages seen: " + "; ".join(f"`{m}`" for m in summary["busy_messages"])]
    for failure in summary["failures"][:10]:
        lines.append(f"- user {failure['user']} request {failure['index']}: {failure['kind']}: {failure['message']}")
    return "\n".join(lines) + "\n"


def warm_up(url: str, args: argparse.Namespace) -> None:
    """One untimed request first, so the model load (torch import, weights) is not counted as latency."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    try:
        client.submit(PROMPT, args.size, args.size, 0, 1, args.steps, 3.0, api_name="/generate").result(args.timeout)
    finally:
        client.close()


def run_load(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fire the users at `url` and return the summary (also what load.json holds)."""
    if args.warmup:
        warm_up(url, args)
    start = threading.Barrier(args.users)
    started = time.perf_counter()
    with ThreadPoolExecutor(args.users) as pool:
        futures = [pool.submit(run_user, url, user, args, start) for user in range(args.users)]
        outcomes = [outcome for future in futures for outcome in future.result()]
    wall = time.perf_counter() - started
    return summarize(outcomes, wall, args, url)


def launched_app(work: Path, queue_size: int | None):
    """`python app.py` on the tiny model in a subprocess, with its outputs and Gradio cache in `work`."""
    return running_app(work, **({"ZIMAGE_QUEUE_SIZE": str(queue_size)} if queue_size else {}))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8, help="concurrent API users (default 8)")
    parser.add_argument("--requests", type=int, default=3, help="requests per user, sent one after another")
    parser.add_argument("--url", help="a running app; without it the app is launched on the tiny model")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load", help="folder for load.json/md")
    parser.add_argument("--size", type=int, default=256, help="width and height (default 256)")
    parser.add_argument("--steps", type=int, default=2, help="inference steps (default 2)")
    parser.add_argument("--count", type=int, default=1, help="images per request (default 1)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a request counts as lost")
    parser.add_argument("--queue-size", type=int, help="ZIMAGE_QUEUE_SIZE for the launched app (default: its own)")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip the untimed first request")
    args = parser.parse_args(argv)
    if args.users < 1 or args.requests < 1:
        parser.error("--users and --requests must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zimage-load-") as work:
        host = nullcontext(args.url) if args.url else launched_app(Path(work), args.queue_size)
        with host as url:
            summary = run_load(url, args)
    write_report(summary, markdown(summary), args.out, "load")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
