"""Prompt encoding on the CPU with the real text encoder's width: diffusers' 512-token padding against the app's
own-length encoding and its cache (zimage.prompt_cache).

    python -m bench.prompt --out bench/results/prompt [--layers 4] [--runs 5]
    python -m bench.prompt --out /tmp/smoke --smoke     # the tiny model's text encoder: checks the script only

The text encoder is Qwen3-4B's architecture (bench/configs/text_encoder.json) with random weights, in float32 as
the app runs on a CPU, cut to --layers of its 36 layers so it fits beside other work: the time of the layers
scales with their number, the embedding lookup is the same. The tokenizer is zimage.tiny's byte-level one, which
gives more tokens than Qwen's (one per UTF-8 byte), so the own-length figures here are on the slow side.
Runs of the three ways alternate, so a busy neighbour slows all of them alike.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any, Callable

import torch

from bench.gpu import CONFIG_DIR, PROMPT, build_pipeline
from bench.report import cpu_model, load_average, scaled_down_args, versions, write_report
from zimage import prompt_cache
from zimage.tiny import CONFIGS as TINY_CONFIGS

PROMPTS = {"English sign (bench/gpu.py's)": PROMPT, "Chinese poster": "春节海报，红色背景，金色大字写着“新年快乐”，灯笼和烟花"}


def text_encoder_pipeline(layers: int, smoke: bool = False) -> Any:
    """A pipeline whose text encoder is Qwen3-4B's width with `layers` layers; the rest is the tiny model."""
    real = TINY_CONFIGS["text_encoder"] if smoke else json.loads((CONFIG_DIR / "text_encoder.json").read_text())
    configs = {**TINY_CONFIGS, "text_encoder": {**real, "num_hidden_layers": layers}}
    return build_pipeline(configs, torch.device("cpu"), torch.float32)


def ways(pipe: Any, prompt: str) -> dict[str, Callable[[], Any]]:
    cache = prompt_cache.PromptEmbeddings()
    cache.get(pipe, [prompt])
    return {
        "padded to 512 (diffusers)": lambda: pipe.encode_prompt(prompt, device="cpu",
                                                                 do_classifier_free_guidance=False),
        "own length (app, new prompt)": lambda: prompt_cache.encode(pipe, prompt),
        "cached (app, prompt again)": lambda: cache.get(pipe, [prompt]),
    }


@torch.inference_mode()
def measure(pipe: Any, runs: int) -> list[dict[str, Any]]:
    rows = []
    for label, prompt in PROMPTS.items():
        timed = ways(pipe, prompt)
        times: dict[str, list[float]] = {name: [] for name in timed}
        for _ in range(runs):
            for name, call in timed.items():
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
        padded = statistics.median(times["padded to 512 (diffusers)"])
        tokens = prompt_cache.token_count(pipe.tokenizer, prompt)
        rows += [{"prompt": label, "tokens": tokens, "way": name, "seconds": round(statistics.median(values), 4),
                  "vs_padded": round(statistics.median(values) / padded, 3)} for name, values in times.items()]
    return rows


def main(argv: list[str] | None = None) -> int:
    args = scaled_down_args(__doc__, argv, layers=4, runs=5, smoke="the tiny text encoder: checks the script, times nothing")
    pipe = text_encoder_pipeline(args.layers, args.smoke)
    rows = measure(pipe, args.runs)
    load = load_average()
    width = "the tiny model's width (smoke run)" if args.smoke else "Qwen3-4B width"
    lines = [f"# Prompt encoding, {width}, {args.layers} of 36 layers, float32, CPU "
             f"(median of {args.runs}; load {load})", "",
             f"{cpu_model()}, {torch.get_num_threads()} threads", "",
             "| prompt | tokens | way | seconds | vs padded |", "|---|---|---|---|---|"]
    lines += [f"| {r['prompt']} | {r['tokens']} | {r['way']} | {r['seconds']} | {r['vs_padded']} |" for r in rows]
    report = {"rows": rows, "smoke": args.smoke, "layers": args.layers, "runs": args.runs, "load": load, "cpu": cpu_model(),
              "threads": torch.get_num_threads(), "versions": versions("torch", "transformers", "diffusers")}
    write_report(report, "\n".join(lines) + "\n", args.out, "prompt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
