"""What an edit costs over text-to-image at the same size and steps, and the outside-the-mask identity figure.

    python bench/edit.py --out bench/results [--runs 5] [--size 512] [--steps 8]        # tiny model, CPU
    python bench/edit.py --out /tmp/gpu --device cuda --full --size 1024 --runs 3       # full-size random weights

Sides, each timed in one interleaved loop (t2i, img2img, inpaint, t2i, ...): text-to-image through the pipeline,
"Restyle" (`zimage.edit.run`, strength 1.0 so it denoises the same number of steps) and "Fix a region" (the
same with a mask covering a quarter of the image, composite included). The ratio is the edit's median over
text-to-image's; the VAE encode and the composite are also timed alone, to show where the extra goes.

Peak memory: on the CPU each side runs in fresh child processes (median of 3) that report their peak RSS (ru_maxrss), since
freed memory is not handed back within a process; on CUDA, `max_memory_allocated` after a reset per side.
Identity: the largest pixel difference from the source outside the mask's feather band over every inpaint run
(must be 0). The tiny model's images are noise; its timings measure the plumbing, not the real model's speed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from bench.report import write_report  # noqa: E402
from zimage import edit  # noqa: E402
from zimage.images import load_source  # noqa: E402
from zimage.masks import band, composite, prepare_mask  # noqa: E402
from zimage.request import GenerationRequest  # noqa: E402

PROMPT = "a lighthouse on a cliff at dusk, waves, 35mm photograph"
SIDES = ("t2i", "img2img", "inpaint")
MEMORY_LIMIT_PCT = 5.0
CHILDREN = 3  # a process's peak RSS varies run to run by a few percent; take the median of three


def load_pipe(device: str, full: bool) -> Any:
    if full:
        from bench.gpu import build_pipeline, load_configs

        return build_pipeline(load_configs(False), torch.device(device), torch.bfloat16)
    from zimage.config import Settings
    from zimage.engine import Engine

    pipe = Engine(Settings(model="tiny", device=device, warmup="off")).load().pipe
    pipe.set_progress_bar_config(disable=True)
    return pipe


def inputs(size: int, steps: int):
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    source = load_source(buffer.getvalue())
    shape = np.zeros((size, size), dtype=np.uint8)
    shape[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 255
    mask = prepare_mask(Image.fromarray(shape), (size, size), 4)
    request = GenerationRequest(PROMPT, width=size, height=size, steps=steps).validated()
    return source, mask, request


def sides(pipe: Any, size: int, steps: int, outside: list[int]) -> dict[str, Callable[[], Any]]:
    source, mask, request = inputs(size, steps)
    outside_band = ~band(mask)
    original = np.asarray(source.image, dtype=int)

    def t2i() -> None:
        with torch.inference_mode():
            pipe(prompt=PROMPT, width=size, height=size, num_inference_steps=steps, guidance_scale=0.0,
                 generator=torch.Generator("cpu").manual_seed(42))

    def inpaint() -> None:
        result = edit.run(pipe, request, source, 1.0, mask=mask)[0]
        outside.append(int(np.abs(np.asarray(result, dtype=int) - original).max(axis=-1)[outside_band].max()))

    return {"t2i": t2i, "img2img": lambda: edit.run(pipe, request, source, 1.0), "inpaint": inpaint}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str) -> float:
    sync(device)
    started = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - started


def parts(pipe: Any, size: int, device: str, runs: int) -> dict[str, float]:
    """The two things an edit adds: encoding the source with the VAE, and compositing the result."""
    source, mask, _ = inputs(size, 1)
    target = edit.edit_pipeline(pipe, edit.IMG2IMG)
    tensor = target.image_processor.preprocess(source.image).to(pipe.vae.device, pipe.vae.dtype)
    with torch.inference_mode():
        encode = [timed(lambda: pipe.vae.encode(tensor), device) for _ in range(runs)]
    paste = [timed(lambda: composite(source.image, source.image, mask), device) for _ in range(runs)]
    return {"vae_encode_s": round(statistics.median(encode), 4), "composite_s": round(statistics.median(paste), 4)}


def child_peak(side: str, args: argparse.Namespace) -> float:
    """Median peak RSS in MiB over CHILDREN fresh processes that load the model and run one side `runs` times."""
    command = [sys.executable, __file__, "--child", side, "--size", str(args.size), "--steps", str(args.steps),
               "--runs", str(args.runs)]
    peaks = []
    for _ in range(CHILDREN):
        output = subprocess.run(command, capture_output=True, text=True, check=True, env=os.environ.copy()).stdout
        peaks.append(json.loads(output.strip().splitlines()[-1])["peak_mib"])
    return statistics.median(peaks)


def run_child(args: argparse.Namespace) -> None:
    pipe = load_pipe("cpu", False)
    side = sides(pipe, args.size, args.steps, [])[args.child]
    for _ in range(args.runs):
        side()
    print(json.dumps({"peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    pipe = load_pipe(args.device, args.full)
    outside: list[int] = []
    fns = sides(pipe, args.size, args.steps, outside)
    for fn in fns.values():  # warm-up: builds the edit pipelines and any lazy kernels
        fn()
    times: dict[str, list[float]] = {name: [] for name in SIDES}
    peaks: dict[str, float] = {}
    for _ in range(args.runs):
        for name in SIDES:
            if args.device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            times[name].append(timed(fns[name], args.device))
            if args.device == "cuda":
                peaks[name] = max(peaks.get(name, 0.0), torch.cuda.max_memory_allocated() / 2**20)
    if args.device != "cuda":
        peaks = {name: child_peak(name, args) for name in SIDES}
    medians = {name: round(statistics.median(values), 4) for name, values in times.items()}
    return {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "model": "full-size random weights, bf16" if args.full else "tiny random weights",
        "size": args.size, "steps": args.steps, "runs": args.runs, "torch_threads": torch.get_num_threads(),
        "median_s": medians,
        "ratio": {name: round(medians[name] / medians["t2i"], 3) for name in ("img2img", "inpaint")},
        "peak_mib": {name: round(value, 1) for name, value in peaks.items()},
        "peak_change_pct": {name: round(100 * (peaks[name] / peaks["t2i"] - 1), 2) for name in ("img2img", "inpaint")},
        "parts": parts(pipe, args.size, args.device, args.runs),
        "outside_band_max_diff": max(outside),
        "inpaint_runs_checked": len(outside),
    }


def to_markdown(r: dict[str, Any]) -> str:
    rows = [f"| {name} | {r['median_s'][name]} | {r['ratio'].get(name, 1.0)} | {r['peak_mib'][name]} | "
            f"{r['peak_change_pct'].get(name, 0.0)} |" for name in SIDES]
    ok = all(abs(value) <= MEMORY_LIMIT_PCT for value in r["peak_change_pct"].values())
    return "\n".join([
        f"Edit cost on {r['device']} ({r['model']}), {r['size']}x{r['size']}, {r['steps']} steps, "
        f"median of {r['runs']} interleaved runs, {r['torch_threads']} torch thread(s).", "",
        "| side | median s | x text-to-image | peak MiB | peak change % |", "|---|---|---|---|---|", *rows, "",
        f"VAE encode alone: {r['parts']['vae_encode_s']} s; composite alone: {r['parts']['composite_s']} s.",
        f"Peak memory within {MEMORY_LIMIT_PCT:g}%: {'yes' if ok else 'NO'}.",
        f"Outside the feather band, max pixel difference from the source: {r['outside_band_max_diff']} "
        f"(over {r['inpaint_runs_checked']} inpaint runs).", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--full", action="store_true", help="full-size random-weights model (needs a GPU)")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args)
        return 0
    report = measure(args)
    write_report(report, to_markdown(report), args.out, "edit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
