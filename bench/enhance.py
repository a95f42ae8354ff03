"""Benchmark the local prompt enhancer and the safety verdict on the CPU with the tiny model (plumbing only).

    python -m bench.enhance --out bench/results [--runs 5] [--tokens 200]

- **enhance:** `Enhancer.stream` end to end with the `local` backend at --tokens new tokens (temperature 0.7,
  seeds 0..runs-1, so no cached result is reused): time to the first streamed text, total time, new tokens and
  tokens per second of the decode. The tiny model may stop early at its end token; the tokens column says how
  many it wrote.
- **verdict:** the safety filter's yes/no question (greedy, at most 10 new tokens).
- **memory:** parameter bytes of the pipeline as the engine loads it (bare `Qwen3Model` text encoder, per
  model_index.json of the official weights) and with the causal-LM loader (`zimage.llm.load_pipeline`), and the
  process's peak RSS before and after the enhancer runs. Extra weights for `local` show as a parameter-byte
  difference; the RSS difference is the decode's working memory (KV cache, logits), not weights.

The tiny model's text is gibberish by design: these figures measure the plumbing, not Qwen3-4B's speed.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench.report import write_report

IDEA = 'a bakery window at dawn with a sign saying "Fresh Bread"'
MIB = 2**20


def parameter_bytes(pipe: Any) -> int:
    """Bytes of distinct parameter storage across the pipeline's models (a tied head is counted once)."""
    seen: dict[int, int] = {}
    for component in pipe.components.values():
        for tensor in list(getattr(component, "parameters", lambda: [])()) + list(getattr(component, "buffers", lambda: [])()):
            seen[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
    return sum(seen.values())


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure_enhance(chat: Any, tokens: int, runs: int) -> dict[str, Any]:
    from zimage.enhance import Enhancer, LocalBackend
    from zimage.llm import DecodeStats

    rows = []
    for seed in range(runs):
        stats = DecodeStats()

        class Counting(LocalBackend):  # the local backend, reporting its decode figures to this run
            def stream(self, system, user, sampling, cancel):
                return self.chat.stream(system, user, sampling, cancel, stats)

        enhancer = Enhancer(Counting(chat), max_new_tokens=tokens, timeout=120.0)
        started = time.perf_counter()
        first = None
        for _ in enhancer.stream(IDEA, seed=seed):
            first = first if first is not None else time.perf_counter() - started
        total = time.perf_counter() - started
        rows.append({"seed": seed, "first_s": first, "total_s": total, "tokens": stats.tokens,
                     "tokens_per_s": stats.tokens / stats.seconds if stats.seconds else 0.0})
    return {"runs": rows, **{f"median_{key}": round(statistics.median(r[key] for r in rows), 4)
                              for key in ("first_s", "total_s", "tokens", "tokens_per_s")}}


def measure_verdict(chat: Any, runs: int) -> dict[str, Any]:
    from zimage.safety import LLMPromptClassifier

    classifier = LLMPromptClassifier(chat)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        classifier(IDEA)
        times.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(times), 4), "answer": classifier.answer(IDEA)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench") / "results")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=200)
    args = parser.parse_args()

    import torch
    from diffusers import ZImagePipeline
    from transformers import Qwen3Model

    from zimage.llm import ChatModel, load_pipeline
    from zimage.tiny import ensure_tiny_model

    torch.set_num_threads(1)  # as the app runs the tiny model (docs/benchmarks.md)
    folder = str(ensure_tiny_model())
    bare = ZImagePipeline.from_pretrained(folder, text_encoder=Qwen3Model.from_pretrained(folder, subfolder="text_encoder"))
    bare_bytes = parameter_bytes(bare)
    del bare
    pipe = load_pipeline(folder, torch.float32)
    causal_bytes = parameter_bytes(pipe)
    rss_before = peak_rss_mib()
    chat = ChatModel.from_pipeline(pipe, threading.Lock())
    enhance = measure_enhance(chat, args.tokens, args.runs)
    verdict = measure_verdict(chat, args.runs)
    report = {
        "tokens": args.tokens, "runs": args.runs, "threads": torch.get_num_threads(), "enhance": enhance,
        "verdict": verdict, "memory": {
            "bare_text_encoder_param_bytes": bare_bytes, "causal_lm_param_bytes": causal_bytes,
            "params_after_enhancing_bytes": parameter_bytes(pipe),
            "peak_rss_before_mib": round(rss_before, 1), "peak_rss_after_mib": round(peak_rss_mib(), 1),
        },
    }
    memory = report["memory"]
    markdown = "\n".join([
        f"| tiny model, CPU, 1 thread, {args.runs} runs | median |",
        "|---|---|",
        f"| enhance: first text (s) | {enhance['median_first_s']:.3f} |",
        f"| enhance: total (s), up to {args.tokens} new tokens | {enhance['median_total_s']:.3f} |",
        f"| enhance: new tokens written | {enhance['median_tokens']:.0f} |",
        f"| enhance: decode tokens/s | {enhance['median_tokens_per_s']:.1f} |",
        f"| safety verdict, <=10 tokens (s) | {verdict['median_s']:.3f} |",
        f"| parameter bytes: bare encoder / causal LM / after enhancing | {memory['bare_text_encoder_param_bytes']} / "
        f"{memory['causal_lm_param_bytes']} / {memory['params_after_enhancing_bytes']} |",
        f"| peak RSS before / after enhancing (MiB) | {memory['peak_rss_before_mib']} / {memory['peak_rss_after_mib']} |",
        "",
    ])
    write_report(report, markdown, args.out, "enhance")


if __name__ == "__main__":
    main()
