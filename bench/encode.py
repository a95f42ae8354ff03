"""CPU time from the pipeline's last step to bytes ready, at 1024x1024 x 4: the old path against zimage.outputs.save.

    python -m bench.encode --out bench/results/encode [--runs 5]

The pipeline's output is four decoded 1024x1024 images. The old path saved them one after another as PNG at
PIL's default level 6; zimage.outputs.save saves PNG at level 1 and a JPEG preview, in a thread pool. Two kinds of
image: the tiny model's output (noise, the worst case for PNG) and a smooth synthetic photo-like image
(gradients and edges), closer to what the real model makes. Each figure is the median of --runs runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageDraw

from bench.report import write_report
from zimage import outputs
from zimage.metadata import save_png
from zimage.model_info import ModelInfo
from zimage.request import GenerationRequest
from zimage.runner import GeneratedImage

SIDE, COUNT = 1024, 4


def noise_images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)) for _ in range(COUNT)]


def smooth_images() -> list[Image.Image]:
    ys, xs = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) / SIDE
    images = []
    for index in range(COUNT):
        rgb = np.stack([xs, ys, (xs + ys + index / COUNT) % 1.0], axis=-1) * 255
        rgb += np.random.default_rng(index).normal(0, 3, rgb.shape)  # sensor-like grain
        image = Image.fromarray(rgb.clip(0, 255).astype(np.uint8))
        ImageDraw.Draw(image).text((100, 100), "OPEN ALL NIGHT", fill=(255, 255, 255))
        images.append(image)
    return images


def items(images: list[Image.Image]) -> list[GeneratedImage]:
    request = GenerationRequest(prompt="a benchmark", width=SIDE, height=SIDE, seed=1, count=COUNT)
    model = ModelInfo(model_id="bench", revision="none")
    return [GeneratedImage(image, request.single(i), model) for i, image in enumerate(images)]


def old_path(batch: list[GeneratedImage], folder: Path) -> None:
    for index, item in enumerate(batch):
        save_png(item.image, item.request, item.model, folder / f"old-{index}.png")


def new_path(batch: list[GeneratedImage], folder: Path) -> None:
    outputs.save(batch, folder, prefix="new")


def previews_first(batch: list[GeneratedImage], folder: Path) -> list[outputs.SavedImage]:
    """What the app waits for before it shows the batch: the previews (the PNGs follow in the background)."""
    return outputs.save_previews_first(batch, folder, prefix="shown")


def median_seconds(run: Callable[[list[GeneratedImage], Path], None], batch: list[GeneratedImage],
                   runs: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            shown = run(batch, Path(tmp))
            times.append(time.perf_counter() - started)
            for item in shown or []:  # the background PNGs finish before the folder goes (not timed)
                outputs.wait_written(item.path)
            size = sum(p.stat().st_size for p in Path(tmp).glob("*.png"))
    return statistics.median(times), size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for kind, make in (("noise (tiny model)", noise_images), ("smooth (photo-like)", smooth_images)):
        batch = items(make())
        for name, run in (("old: serial PNG level 6", old_path), ("new: parallel PNG level 1", new_path),
                          ("app: previews shown, PNGs behind", previews_first)):
            seconds, size = median_seconds(run, batch, args.runs)
            rows.append({"images": kind, "path": name, "seconds": round(seconds, 3),
                         "share_of_1s": f"{seconds:.0%}", "png_mib": round(size / 2**20, 1)})
    lines = [f"# Last step to bytes ready, {SIDE}x{SIDE} x {COUNT} (median of {args.runs})", "",
             "| images | path | seconds | share of a 1 s generation | PNG MiB |", "|---|---|---|---|---|"]
    lines += [f"| {r['images']} | {r['path']} | {r['seconds']} | {r['share_of_1s']} | {r['png_mib']} |" for r in rows]
    write_report({"rows": rows, "cpus": __import__("os").cpu_count()}, "\n".join(lines) + "\n", args.out, "encode")
    return 0


if __name__ == "__main__":
    sys.exit(main())
