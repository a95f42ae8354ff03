"""The VAE decode's peak memory and time for a batch, whole against one image at a time (VAE slicing).

    python -m bench.vae_slicing --out bench/results/vae_slicing [--side 1024] [--counts 1 2] [--runs 3]

The real FLUX VAE architecture (bench/configs/vae.json, 84M parameters, random weights) decodes `count` latents of
a `side` x `side` image in float32 on the CPU. Each (mode, count) runs in a fresh process, so its peak resident
memory (ru_maxrss, less the process's own before the decode) is the decode's alone. The peak is what matters for
a GPU too: there the same activations sit in VRAM, halved in bfloat16. Time is the median of --runs decodes.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.report import load_average, write_report

CONFIG = Path(__file__).resolve().parent / "configs" / "vae.json"
MIB = 2**20


def decode(side: int, count: int, sliced: bool, runs: int) -> dict[str, float]:
    """In this process: build the VAE, decode `count` latents `runs` times; peak memory above the start."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL.from_config(json.loads(CONFIG.read_text())).eval()
    if sliced:
        vae.enable_slicing()
    channels = vae.config.latent_channels
    latents = torch.randn(count, channels, side // 8, side // 8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    seconds = []
    with torch.inference_mode():
        for _ in range(runs):
            started = time.perf_counter()
            vae.decode(latents).sample
            seconds.append(time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak_mib": round((peak - before) / MIB), "seconds": round(statistics.median(seconds), 2)}


def measure(side: int, count: int, sliced: bool, runs: int) -> dict[str, float]:
    """`decode` in a fresh process, so no earlier decode's peak hides this one's."""
    code = (f"import json; from bench.vae_slicing import decode; "
            f"print(json.dumps(decode({side}, {count}, {sliced}, {runs})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    rows = [{"count": count, "mode": "sliced" if sliced else "whole batch",
             **measure(args.side, count, sliced, args.runs)}
            for count in args.counts for sliced in (False, True)]
    lines = [f"VAE decode at {args.side}x{args.side}, float32, CPU; load average {load_average()}", "",
             "| images | decode | peak MiB above start | median s |", "|---|---|---|---|"]
    lines += [f"| {row['count']} | {row['mode']} | {row['peak_mib']} | {row['seconds']} |" for row in rows]
    write_report({"side": args.side, "runs": args.runs, "rows": rows}, "\n".join(lines) + "\n", args.out,
                 "vae_slicing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
