"""The model's text accuracy per design preset: generate, read the text back, count exact matches.

    python -m bench.text_accuracy --out bench/results [--model auto] [--seeds 4] [--size 1024x1024] [--quick]

For every preset of assets/presets.json, in English and Chinese, and for each title/subtitle pair of TEXTS, the
preset's prompt is generated with seeds 0..N-1 in one batch, and every image is proof-read (zimage/ocr.py,
the rule in zimage/textcheck.py) against the prompt's quoted spans. Per preset and language it reports:
- **span recall:** quoted spans found / spans expected, over all images;
- **images exact:** images with every span found / images;
- **best of N:** prompts where at least one of the N seeds got every span (what "best of N" in the app gives).

With real Z-Image-Turbo weights on a GPU this is the model's text-rendering benchmark. On the tiny
random-weights model (`--model tiny`, the default where no weights are cached) the images are noise and every
figure is near 0: the run then only proves the plumbing (prompts, batch generation, OCR, report).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
from bench.report import write_report
from zimage.ocr import OcrReader
from zimage.presets import compose_prompt, list_presets
from zimage.textcheck import expected_spans

# Short and long, Latin and CJK, with digits and punctuation: the kinds of text designers ask for.
TEXTS = {
    "en": [("GRAND OPENING", "Every Friday 8 PM"), ("Moonlight Coffee", "")],
    "zh": [("新年快乐", "万事如意 2027"), ("山海书店", "")],
}


def run_prompt(engine: Any, reader: OcrReader, prompt: str, seeds: int, size: tuple[int, int]) -> dict[str, Any]:
    from zimage.request import GenerationRequest

    expected = expected_spans(prompt)
    started = time.perf_counter()
    images = engine.generate(GenerationRequest(prompt=prompt, width=size[0], height=size[1], seed=0, count=seeds))
    generate_s = time.perf_counter() - started
    started = time.perf_counter()
    verdicts = [reader.check(item.image, expected) for item in images]
    return {"expected": list(expected), "generate_s": round(generate_s, 2),
            "ocr_s": round(time.perf_counter() - started, 2),
            "verdicts": [verdict.to_dict() for verdict in verdicts]}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per preset and language: span recall, share of exact images, share of prompts won by best of N."""
    table: dict[str, dict[str, Any]] = {}
    for run in runs:
        row = table.setdefault(f"{run['preset']}/{run['lang']}", {"spans": 0, "found": 0, "images": 0, "exact": 0,
                                                                  "prompts": 0, "best_of_n": 0})
        row["prompts"] += 1
        row["best_of_n"] += any(verdict["all_found"] for verdict in run["verdicts"])
        for verdict in run["verdicts"]:
            row["images"] += 1
            row["exact"] += verdict["all_found"]
            row["spans"] += len(verdict["found"]) + len(verdict["missing"])
            row["found"] += len(verdict["found"])
    for row in table.values():
        row["span_recall"] = round(row["found"] / row["spans"], 3) if row["spans"] else None
        row["images_exact"] = round(row["exact"] / row["images"], 3)
        row["best_of_n_rate"] = round(row["best_of_n"] / row["prompts"], 3)
    return table


def to_markdown(report: dict[str, Any]) -> str:
    model = report["model"]
    lines = [f"# Text accuracy per preset: {model.get('model_id')} ({report['seeds']} seeds, {report['size']})", ""]
    if model.get("is_tiny"):
        lines += ["**Tiny random-weights model: images are noise, so these figures only prove the plumbing.**", ""]
    lines += ["| preset/lang | span recall | images exact | best of N |", "|---|---|---|---|"]
    for name, row in report["table"].items():
        lines.append(f"| {name} | {row['span_recall']} | {row['images_exact']} ({row['exact']}/{row['images']}) | "
                     f"{row['best_of_n_rate']} ({row['best_of_n']}/{row['prompts']}) |")
    lines += ["", f"OCR: {report['ocr']}. Generation {report['generate_s']} s, OCR {report['ocr_s']} s in all."]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--model", default=None, help="as ZIMAGE_MODEL: auto, tiny, a hub id or a folder")
    parser.add_argument("--seeds", type=int, default=4, help="images per prompt (the app's 'best of N')")
    parser.add_argument("--size", default="1024x1024")
    parser.add_argument("--presets", default="", help="comma-separated preset ids (default: all)")
    parser.add_argument("--quick", action="store_true", help="one text per language")
    args = parser.parse_args(argv)
    width, _, height = args.size.partition("x")
    args.size = (int(width), int(height))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from zimage.config import Settings
    from zimage.engine import Engine

    engine = Engine(Settings.from_env().with_overrides(model=args.model), retry_hint=False)
    model = engine.load().info
    reader = OcrReader()
    wanted = set(filter(None, args.presets.split(",")))
    runs = []
    for preset in list_presets():
        if wanted and preset.id not in wanted:
            continue
        for lang, texts in TEXTS.items():
            for title, subtitle in texts[:1] if args.quick else texts:
                prompt = compose_prompt(preset.id, title, subtitle, lang)
                print(f"[text_accuracy] {preset.id}/{lang}: {title}", file=sys.stderr, flush=True)
                runs.append({"preset": preset.id, "lang": lang, "title": title, "subtitle": subtitle,
                             **run_prompt(engine, reader, prompt, args.seeds, args.size)})
    report = {"model": model.to_dict(),
              "ocr": reader.version, "seeds": args.seeds, "size": "x".join(map(str, args.size)),
              "generate_s": round(sum(run["generate_s"] for run in runs), 1),
              "ocr_s": round(sum(run["ocr_s"] for run in runs), 1), "table": summarise(runs), "runs": runs}
    write_report(report, to_markdown(report), args.out, "text_accuracy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
