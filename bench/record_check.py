"""Recording a text-check verdict in a saved 1024x1024 PNG: the old re-encode against the chunk rewrite.

    python -m bench.record_check --out bench/results/record_check [--runs 7]

zimage.proofread.check_saved decodes each PNG for the OCR, then records the verdict in it. The old recorder saved
the decoded image again at PNG_COMPRESS_LEVEL with all its text; zimage.metadata.record_text_check now rewrites the
one JSON text chunk and copies every other chunk (zimage.pngchunks). Each is timed from the decoded image to the
file swapped in; the decode before them is shared and timed on its own, for scale. Two kinds of image, as in
bench.encode. The two recorders take turns within each run, in alternating order, so a change in the machine's
load hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from PIL import Image, PngImagePlugin

from bench.encode import SIDE, items, noise_images, smooth_images
from bench.report import cpu_model, write_report
from zimage.metadata import JSON_KEY, PNG_COMPRESS_LEVEL, TEXT_CHECK_KEY, record_text_check
from zimage.outputs import png_bytes
from zimage.proofread import open_image
from zimage.textcheck import TextVerdict, judge

Recorder = Callable[[Path, Image.Image, TextVerdict], None]
VERDICT = judge(["新年快乐", "OPEN ALL NIGHT"], ["新年快东", "OPEN ALL NIGHT"], frozenset("新年快乐openalnigh"), "bench")


def old_record(path: Path, image: Image.Image, verdict: TextVerdict) -> None:
    """The recorder before the chunk rewrite (zimage/metadata.py at f52b557), kept as the baseline."""
    texts = {key: value for key, value in image.info.items() if isinstance(value, str)}
    payload = json.loads(texts.get(JSON_KEY, "{}"))
    payload[TEXT_CHECK_KEY] = verdict.to_dict()
    texts[JSON_KEY] = json.dumps(payload, ensure_ascii=False)
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    partial = path.with_name(f".{path.name}.partial")
    image.save(partial, format="PNG", pnginfo=info, compress_level=PNG_COMPRESS_LEVEL)
    os.replace(partial, path)


OLD, NEW, DECODE = "old_ms", "new_ms", "decode_ms"
RECORDERS: dict[str, Recorder] = {OLD: old_record, NEW: record_text_check}


def timed_runs(original: bytes, folder: Path, runs: int) -> dict[str, list[float]]:
    """Milliseconds per step and run; the PNG is put back as saved (not timed) before each decode and recording."""
    path = folder / "zimage-1.png"
    times: dict[str, list[float]] = {name: [] for name in (OLD, NEW, DECODE)}
    for run in range(runs):
        path.write_bytes(original)
        started = time.perf_counter()
        decoded = open_image(path)
        times[DECODE].append((time.perf_counter() - started) * 1000)
        for name, record in list(RECORDERS.items())[::1 if run % 2 == 0 else -1]:
            path.write_bytes(original)
            started = time.perf_counter()
            record(path, decoded, VERDICT)
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def row(kind: str, original: bytes, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        times = timed_runs(original, Path(tmp), runs)
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    return {"images": kind, "png_mib": round(len(original) / 2**20, 2),
            **{name: round(value, 1) for name, value in medians.items()},
            "old_over_new": round(medians[OLD] / medians[NEW], 1),
            "samples_ms": {name: [round(t, 2) for t in samples] for name, samples in times.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    rows = [row(kind, png_bytes(items(make())[0]), args.runs)
            for kind, make in (("noise (tiny model)", noise_images), ("smooth (photo-like)", smooth_images))]
    load = {"before": load_before, "after": os.getloadavg()}
    lines = [f"# Recording a verdict in one {SIDE}x{SIDE} PNG (median of {args.runs} runs, load average "
             f"{load['before'][0]:.2f} before, {load['after'][0]:.2f} after)", "",
             "| images | PNG MiB | old: re-encode, ms | new: chunk rewrite, ms | old / new | decode for the OCR, ms |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['images']} | {r['png_mib']} | {r[OLD]} | {r[NEW]} | {r['old_over_new']}x | {r[DECODE]} |"
              for r in rows]
    report = {"rows": rows, "runs": args.runs, "load_average": load, "cpu": cpu_model(), "cpus": os.cpu_count()}
    write_report(report, "\n".join(lines) + "\n", args.out, "record_check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
