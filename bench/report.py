"""What every benchmark shares: the installed versions it ran with, the processor, and the report it writes (STEM.json with all
the figures, STEM.md with the table, also printed)."""

from __future__ import annotations

import argparse
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any


def versions(*packages: str) -> dict[str, str | None]:
    """Installed version of each package, None where it is not installed."""
    found: dict[str, str | None] = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def cpuinfo(field: str) -> str | None:
    """The first processor's `field` in /proc/cpuinfo ("model name", "flags"), or None where there is none."""
    path = Path("/proc/cpuinfo")
    lines = path.read_text().splitlines() if path.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.split(":", 1)[0].strip() == field), None)


def cpu_model() -> str:
    """The processor's name as /proc/cpuinfo gives it (e.g. "AMD EPYC 7B13"), else what `platform` knows."""
    return cpuinfo("model name") or platform.processor()


def write_report(report: dict[str, Any], markdown: str, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(markdown, encoding="utf-8")
    print(markdown)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages ("1.20 0.85 0.60"): the context of every CPU timing on a shared
    machine."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def scaled_down_args(doc: str, argv: list[str] | None, layers: int, runs: int, smoke: str) -> argparse.Namespace:
    """--out, --layers, --runs and --smoke: the options of the benchmarks that run the real width with fewer
    layers on the CPU (bench.prompt, bench.cpu_dtype)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--layers", type=int, default=layers)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--smoke", action="store_true", help=smoke)
    return parser.parse_args(argv)
