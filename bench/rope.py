"""CPU micro-benchmark: the compiled transformer's forward with diffusers' complex RoPE against zimage.rope's real one.

    python -m bench.rope --out bench/results/rope [--runs 15] [--threads 1]

A mid-sized random Z-Image transformer (a few blocks, dim 256, about 320 tokens), its repeated blocks compiled
with inductor as the app compiles them (speed.compile_repeated_blocks), in two copies with the same weights: one
with the complex RoPE, one with the real one. Timed calls alternate between the copies, so a neighbour's load on
this shared machine hits both alike. Also reported: the eager times, the largest output difference, and how
many eager aten calls inductor's code makes, by op (the complex rotation is 4 per q or k and graph:
view_as_complex, unsqueeze, mul, view_as_real). CPU figures show the fallback is gone; they do not predict
H100/H200 speed-ups.
"""

from __future__ import annotations

import argparse
import copy
from collections import Counter
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from bench.report import versions, write_report
from zimage import rope, speed

# dim / n_heads == sum(axes_dims), as in the real model (3840 / 30 = 128 = 32 + 48 + 48).
CONFIG = dict(all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=256, n_layers=4, n_refiner_layers=1,
              n_heads=4, n_kv_heads=4, qk_norm=True, cap_feat_dim=256, rope_theta=256.0, t_scale=1000.0,
              axes_dims=[16, 24, 24], axes_lens=[1536, 512, 512])
LATENT_SIDE, CAPTION_TOKENS = 32, 64  # 16x16 = 256 image tokens after 2x2 patches, plus 64 caption tokens


def build() -> tuple[Any, Any]:
    """Two transformers with the same random weights: diffusers' complex RoPE, and zimage.rope's real one."""
    from diffusers import ZImageTransformer2DModel

    torch.manual_seed(0)
    complex_model = ZImageTransformer2DModel(**CONFIG).eval()
    real_model = copy.deepcopy(complex_model)
    problem = rope.use_real_rope(real_model)
    if problem:
        raise SystemExit(f"real RoPE not applied: {problem}")
    return complex_model, real_model


def inputs() -> tuple[list[torch.Tensor], torch.Tensor, list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    latents = [torch.randn(16, 1, LATENT_SIDE, LATENT_SIDE, generator=generator)]
    caption = [torch.randn(CAPTION_TOKENS, CONFIG["cap_feat_dim"], generator=generator)]
    return latents, torch.tensor([0.5]), caption


def forward(model: Any) -> torch.Tensor:
    with torch.inference_mode():
        return model(*inputs()).sample[0]


def eager_fallbacks(code: list[str]) -> dict[str, int]:
    """Calls of eager aten ops in inductor's generated code, by op (matmuls go to extern_kernels, not counted)."""
    return dict(Counter(op for text in code for op in re.findall(r"= torch\.ops\.aten\.(\w+)", text)))


def compile_and_warm(model: Any) -> tuple[float, dict[str, int]]:
    """Compile the repeated blocks as the app does and run once; return (compile seconds, eager aten calls)."""
    from torch._inductor.utils import run_and_get_code

    if not speed.compile_repeated_blocks(model):
        raise SystemExit("torch.compile is unavailable here")
    started = time.perf_counter()
    _, code = run_and_get_code(forward, model)
    return time.perf_counter() - started, eager_fallbacks(code)


def alternate(models: dict[str, Any], runs: int) -> dict[str, float]:
    """Median seconds per forward for each model, timed in alternation."""
    times: dict[str, list[float]] = {name: [] for name in models}
    for name, model in models.items():
        forward(model)  # one untimed call each
    for _ in range(runs):
        for name, model in models.items():
            started = time.perf_counter()
            forward(model)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def _ops(counts: dict[str, int]) -> str:
    return ", ".join(f"{op} {count}" for op, count in sorted(counts.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    complex_model, real_model = build()
    eager = alternate({"complex": complex_model, "real": real_model}, args.runs)
    eager_diff = (forward(complex_model) - forward(real_model)).abs().max().item()
    torch._dynamo.reset()
    compile_s, fallbacks = {}, {}
    for name, model in (("complex", complex_model), ("real", real_model)):
        compile_s[name], fallbacks[name] = compile_and_warm(model)
    compiled = alternate({"complex": complex_model, "real": real_model}, args.runs)
    compiled_diff = (forward(complex_model) - forward(real_model)).abs().max().item()
    rows = [{"rope": name, "eager_ms": round(eager[name] * 1e3, 2), "compiled_ms": round(compiled[name] * 1e3, 2),
             "first_compiled_call_s": round(compile_s[name], 1),
             "eager_aten_calls_in_compiled_code": sum(fallbacks[name].values()),
             "eager_aten_calls_by_op": fallbacks[name]}
            for name in ("complex", "real")]
    ratio = compiled["real"] / compiled["complex"]
    lines = [f"# Compiled transformer forward on the CPU, complex vs real RoPE (median of {args.runs}, "
             f"{args.threads} thread(s), {CONFIG['n_layers']} blocks, dim {CONFIG['dim']}, "
             f"{(LATENT_SIDE // 2) ** 2 + CAPTION_TOKENS} tokens)", "",
             "| RoPE | eager ms | compiled ms | first compiled call s | eager aten calls in inductor's code |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['rope']} | {r['eager_ms']} | {r['compiled_ms']} | {r['first_compiled_call_s']} | "
              f"{r['eager_aten_calls_in_compiled_code']} ({_ops(r['eager_aten_calls_by_op'])}) |" for r in rows]
    lines += ["", f"Compiled real / complex: {ratio:.3f}. Largest output difference: eager {eager_diff:.2e}, "
              f"compiled {compiled_diff:.2e}. CPU figures do not predict GPU speed-ups."]
    report = {"rows": rows, "compiled_ratio_real_over_complex": round(ratio, 4), "max_abs_diff_eager": eager_diff,
              "max_abs_diff_compiled": compiled_diff, "config": CONFIG, "threads": args.threads, "runs": args.runs,
              "versions": versions("torch", "diffusers")}
    write_report(report, "\n".join(lines) + "\n", args.out, "rope")
    return 0


if __name__ == "__main__":
    sys.exit(main())
