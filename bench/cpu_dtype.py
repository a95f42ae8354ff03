"""float32 against bfloat16 on this CPU, for the choice `zimage.host_memory` makes: one transformer pass at 1024x1024
with the real model's width, cut to a few of its blocks.

    python -m bench.cpu_dtype --out bench/results/cpu_dtype [--layers 1] [--runs 3]

The transformer is Z-Image's architecture (bench/configs/transformer.json: dim 3840, 30 heads) with random weights,
`--layers` main blocks and one noise and one context refiner block instead of 30 and 2 + 2, on 4096 image tokens
(1024x1024) and a 100-token caption. The two dtypes alternate, so a busy neighbour slows both alike.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import torch

from bench.gpu import CONFIG_DIR
from bench.report import cpu_model, cpuinfo, load_average, scaled_down_args, versions, write_report

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
CPU_FLAGS = ("avx512_bf16", "amx_bf16", "avx512f", "avx2")


def transformer(layers: int, smoke: bool) -> torch.nn.Module:
    from diffusers import ZImageTransformer2DModel

    from zimage.tiny import CONFIGS

    config = CONFIGS["transformer"] if smoke else json.loads((CONFIG_DIR / "transformer.json").read_text())
    torch.manual_seed(0)
    return ZImageTransformer2DModel(**{**config, "n_layers": layers, "n_refiner_layers": 1}).eval()


@torch.inference_mode()
def one_pass(model: torch.nn.Module, dtype: torch.dtype, side: int) -> float:
    latent = torch.randn(model.in_channels, 1, side // 8, side // 8, generator=torch.Generator().manual_seed(1))
    caption = torch.randn(100, model.config.cap_feat_dim, generator=torch.Generator().manual_seed(2))
    started = time.perf_counter()
    model([latent.to(dtype)], torch.tensor([0.5], dtype=dtype), [caption.to(dtype)], return_dict=False)
    return time.perf_counter() - started


def cpu_flags() -> list[str]:
    flags = (cpuinfo("flags") or "").split()
    return [flag for flag in CPU_FLAGS if flag in flags]


def measure(layers: int, runs: int, smoke: bool, side: int) -> dict[str, float]:
    models = {name: transformer(layers, smoke).to(dtype) for name, dtype in DTYPES.items()}
    for name, dtype in DTYPES.items():
        one_pass(models[name], dtype, side)  # first call: allocator and kernel selection, not timed
    times: dict[str, list[float]] = {name: [] for name in DTYPES}
    for _ in range(runs):
        for name, dtype in DTYPES.items():
            times[name].append(one_pass(models[name], dtype, side))
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    args = scaled_down_args(__doc__, argv, layers=1, runs=3, smoke="the tiny transformer at 256x256: checks the script")
    side = 256 if args.smoke else 1024
    medians = measure(args.layers, args.runs, args.smoke, side)
    ratio = medians["bfloat16"] / medians["float32"]
    load = load_average()
    lines = [f"# One transformer pass at {side}x{side}, {args.layers} main block(s) + 2 refiners, CPU "
             f"(median of {args.runs}; load {load})", "",
             f"{cpu_model()}, {torch.get_num_threads()} threads, flags: {', '.join(cpu_flags()) or 'none of interest'}",
             "", "| dtype | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds:.3f} |" for name, seconds in medians.items()]
    lines += ["", f"bfloat16 / float32: {ratio:.2f}"]
    report = {"seconds": medians, "ratio": ratio, "layers": args.layers, "runs": args.runs, "side": side,
              "smoke": args.smoke, "load": load, "cpu": cpu_model(), "flags": cpu_flags(),
              "threads": torch.get_num_threads(), "versions": versions("torch", "diffusers")}
    write_report(report, "\n".join(lines) + "\n", args.out, "cpu_dtype")
    return 0


if __name__ == "__main__":
    sys.exit(main())
