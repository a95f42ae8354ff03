"""Benchmark Z-Image-Turbo's speed levers on one GPU, with random weights at the real model's size.

    python bench/gpu.py --out bench/results/h100 [--quick]     # needs a CUDA GPU; --quick: under 5 min on an H100
    python bench/gpu.py --out /tmp/smoke --smoke                # tiny model on the CPU: checks the script only

Random weights give the same speed as the real ones (same shapes, same kernels) and need no download. Each
variant (memory mode, attention kernel, compile, fp8) goes through zimage.speed.apply, as the app does, and is
measured at 1024x1024, 8 steps, batch 1 (and 4 without --quick): the median of N warm runs after one warm-up
run of the same shape, split into text encoding, denoising and VAE decode, with peak allocated and reserved
VRAM and the graphs compiled during the timed runs. A row also times 200 new tokens from the text encoder as
a causal LM (Qwen3ForCausalLM, batch 1). A variant that fails is recorded and the rest still run; results.json
and results.md are rewritten after every variant, and a hard deadline ends the process, so a run cut short
keeps its finished rows.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import threading
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python bench/gpu.py` puts bench/ first on the path, not the repository.
from bench.report import write_report  # noqa: E402 - needs the repository on the path first

from zimage import attention, devices, memory, prompt_cache, rope, speed  # noqa: E402
from zimage.config import Settings as SpeedSettings  # noqa: E402
from zimage.llm import skip_head_when_encoding  # noqa: E402
from zimage.tiny import CONFIGS as TINY_CONFIGS  # noqa: E402
from zimage.tiny import build_tokenizer  # noqa: E402

log = logging.getLogger("bench.gpu")

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
GIB = 1024**3
PROMPT = (
    'A weathered wooden sign reading "OPEN ALL NIGHT" hangs above a noodle stall in a rainy alley at dusk, '
    "warm lanterns reflected in puddles, steam rising from the pots, a cat asleep on a stool, 35mm photograph."
)


@dataclass(frozen=True)
class Variant:
    """One combination of levers. `setup_s` and `est_s` are rough H100 costs (measured on the H200 where there
    are figures), for the time-budget guard."""

    name: str
    memory: str = "full"
    attention: str = "native"
    compile: bool = False
    compile_mode: str | None = None
    fp8: bool = False
    complex_rope: bool = False  # keep diffusers' complex RoPE in the compiled blocks, to measure zimage.rope
    required: bool = True
    quick: bool = True
    est_s: float = 15.0  # per batch size: the timed runs
    setup_s: float = 0.0  # once: quantization, and the warm-up that compiles


# Order matters: fp8 quantization cannot be undone, so the fp8 rows run last (prepare() refuses any other row
# after one); eager rows run before compiled ones. An optional row that would squeeze out a later required one
# is skipped by the time budget, so the RoPE row never costs the fp8 target its measurement.
VARIANTS = (
    Variant("eager-native", est_s=10.0),
    Variant("eager-best-attn", attention="auto", required=False, est_s=10.0),
    # cuDNN left "auto" after the H200 measured it slower than SDPA (1.42 s against 1.35 s): this row rechecks that.
    Variant("eager-cudnn", attention="_native_cudnn", required=False, est_s=10.0),
    Variant("stream", memory="stream", est_s=25.0),  # the 16 GB mode: text encoder streamed, the rest resident
    Variant("offload", memory="offload", required=False, quick=False, est_s=45.0),  # model offload, for comparison
    Variant("compile-native-attn", compile=True, required=False, quick=False, setup_s=25.0),
    Variant("compile", attention="auto", compile=True, setup_s=25.0),  # H200: warm-up 16.7 s, runs 3 x 0.97 s
    # Only measures the RoPE lever (zimage.rope): its denoise time against the compile row's.
    Variant("compile-complex-rope", attention="auto", compile=True, complex_rope=True, required=False,
            setup_s=25.0),
    Variant("cudagraphs", attention="auto", compile=True, compile_mode="reduce-overhead", required=False,
            quick=False, setup_s=40.0),
    # The H200's fp8 warm-up alone took 169 s (inductor's coordinate-descent tuning).
    Variant("fp8-compile", attention="auto", compile=True, fp8=True, setup_s=185.0),
)

# The targets: H100 or H200, 1024x1024, 8 steps, warm, batch 1, end to end. `ratio_to` compares the
# variant's metric with the best batch-1 row of the named variants (the 16 GB mode against full placement).
TARGETS = (
    {"id": "compile_e2e", "what": "end-to-end, bf16 with compile", "metric": "total_s", "limit": 0.60,
     "unit": "s", "variants": ("compile", "compile-native-attn", "cudagraphs")},
    {"id": "fp8_e2e", "what": "end-to-end, fp8 with compile", "metric": "total_s", "limit": 0.45, "unit": "s",
     "variants": ("fp8-compile",)},
    {"id": "stream_vram", "what": "16 GB mode (stream): peak reserved VRAM", "metric": "reserved_vram_gib",
     "limit": 15.0, "unit": "GiB", "variants": ("stream",)},
    {"id": "stream_time", "what": "16 GB mode (stream): time vs full placement", "metric": "total_s",
     "limit": 1.5, "unit": "x", "variants": ("stream",), "ratio_to": ("eager-native", "eager-best-attn")},
)
LLM_TOKENS = 200


class Skip(Exception):
    """A variant that cannot run here; recorded with its reason, not as a failure."""


@dataclass(frozen=True)
class Settings:
    smoke: bool
    device: torch.device
    dtype: torch.dtype
    height: int
    width: int
    steps: int
    batches: tuple[int, ...]
    runs: int
    budget_s: float
    est_scale: float  # smoke mode shrinks the H100 estimates to the tiny model
    quick: bool = False


def make_settings(args: argparse.Namespace) -> Settings:
    quick_batches, quick_runs = (1,), 3
    batches = quick_batches if args.quick else (1, 4)
    runs = args.runs or (quick_runs if args.quick else 5)
    if args.smoke:
        return Settings(True, torch.device("cpu"), torch.float32, 256, 256, 2, quick_batches if args.quick else (1, 2),
                        args.runs or (2 if args.quick else 3), args.budget_s or 50.0, 0.05, args.quick)
    return Settings(False, torch.device("cuda"), torch.bfloat16, 1024, 1024, 8, batches, runs,
                    args.budget_s or (240.0 if args.quick else 500.0), 1.0, args.quick)


def selected_variants(s: Settings) -> tuple[Variant, ...]:
    return tuple(v for v in VARIANTS if v.quick or not s.quick)


# --- Building the random-weights pipeline -------------------------------------------------------------------


def load_configs(smoke: bool) -> dict[str, dict[str, Any]]:
    """Constructor arguments of the three models: the real sizes, or zimage.tiny's for --smoke."""
    if smoke:
        return TINY_CONFIGS
    return {name: json.loads((CONFIG_DIR / f"{name}.json").read_text())
            for name in ("transformer", "text_encoder", "vae")}


def _init_on(device: torch.device, dtype: torch.dtype, factory: Any) -> torch.nn.Module:
    """Build a model straight on `device`: random init of 6B parameters takes seconds on a GPU, minutes on a CPU."""
    with torch.device(device):
        module = factory()
    return module.to(dtype).eval().requires_grad_(False)


def build_pipeline(configs: dict[str, dict[str, Any]], device: torch.device, dtype: torch.dtype) -> Any:
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    if len(tokenizer) > configs["text_encoder"]["vocab_size"]:
        raise ValueError(f"tokenizer has {len(tokenizer)} ids, more than the text encoder's vocabulary")
    # A causal LM with the head tied to the embeddings, as the app loads it (zimage.llm.load_pipeline): prompt
    # encodes skip the head, and the "stream" mode streams the rest, as in the app.
    text_encoder = _init_on(device, dtype, lambda: Qwen3ForCausalLM(Qwen3Config(**configs["text_encoder"])))
    skip_head_when_encoding(text_encoder)
    transformer = _init_on(device, dtype, lambda: ZImageTransformer2DModel(**configs["transformer"]))
    with torch.no_grad():  # these start as uninitialised memory in some diffusers versions
        transformer.x_pad_token.normal_(std=0.02)
        transformer.cap_pad_token.normal_(std=0.02)
    vae = _init_on(device, dtype, lambda: AutoencoderKL(**configs["vae"]))
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False)
    pipe = ZImagePipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                          transformer=transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --- Timing -------------------------------------------------------------------------------------------------


class Clock:
    """Times named sections: CUDA events on a GPU (no host sync inside a section), perf_counter on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.seconds: dict[str, float] = {}
        self._events: list[tuple[str, Any, Any]] = []

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        if not self.cuda:
            started = time.perf_counter()
            yield
            self.seconds[name] = time.perf_counter() - started
            return
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        yield
        end.record()
        self._events.append((name, start, end))

    def read(self) -> dict[str, float]:
        if self.cuda:
            torch.cuda.synchronize()
            self.seconds.update({name: s.elapsed_time(e) / 1000 for name, s, e in self._events})
        return dict(self.seconds)


class CallCounter:
    """Counts transformer forward passes, to report how many an 8-step run really makes."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.calls = 0
        module.register_forward_hook(self._hook)

    def _hook(self, *_: Any) -> None:
        self.calls += 1


def decode(pipe: Any, latents: torch.Tensor) -> list[Any]:
    """The pipeline's own decode step (unscale, VAE decode, to PIL), run apart from it so it can be timed."""
    config = pipe.vae.config
    latents = latents.to(pipe.vae.dtype) / config.scaling_factor + config.shift_factor
    image = pipe.vae.decode(latents, return_dict=False)[0]
    return pipe.image_processor.postprocess(image, output_type="pil")


@torch.inference_mode()
def timed_run(pipe: Any, s: Settings, batch: int, seed: int) -> dict[str, float]:
    """One generation in three timed sections; `total_s` is the wall clock across all three."""
    clock = Clock(s.device)
    started = time.perf_counter()
    with clock.section("encode_s"):  # a new prompt, as the app encodes it (the cache would skip a repeated one)
        embeds = [prompt_cache.encode(pipe, PROMPT)]
    with clock.section("denoise_s"):
        latents = pipe(prompt_embeds=embeds, height=s.height, width=s.width, num_inference_steps=s.steps,
                       guidance_scale=0.0, num_images_per_prompt=batch, output_type="latent",
                       generator=torch.Generator("cpu").manual_seed(seed)).images
    with clock.section("decode_s"):
        images = decode(pipe, latents)
    times = clock.read()
    times["total_s"] = time.perf_counter() - started
    assert len(images) == batch, f"expected {batch} images, got {len(images)}"
    return times


def _graphs_compiled() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def measure(pipe: Any, s: Settings, variant: Variant, batch: int, counter: CallCounter) -> dict[str, Any]:
    """Warm up with the timed call itself (same prompt, size and batch: a new shape recompiles), then take
    medians over `s.runs` runs. VRAM is the peak of the timed runs: allocated, and reserved by the allocator."""
    warmups = 2 if variant.compile_mode == "reduce-overhead" else 1  # CUDA graphs record on the second call
    warm_started = time.perf_counter()
    for index in range(warmups):
        timed_run(pipe, s, batch, seed=100 + index)
    warm_s = time.perf_counter() - warm_started
    if s.device.type == "cuda":
        torch.cuda.empty_cache()  # reserved VRAM should be this variant's, not what earlier ones left cached
        torch.cuda.reset_peak_memory_stats()
    calls_before, graphs_before = counter.calls, _graphs_compiled()
    runs = [timed_run(pipe, s, batch, seed=index) for index in range(s.runs)]
    row: dict[str, Any] = {key: round(statistics.median(run[key] for run in runs), 4) for key in runs[0]}
    row["per_image_s"] = round(row["total_s"] / batch, 4)
    cuda = s.device.type == "cuda"
    row["peak_vram_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 2) if cuda else None
    row["reserved_vram_gib"] = round(torch.cuda.max_memory_reserved() / GIB, 2) if cuda else None
    row["transformer_calls"] = (counter.calls - calls_before) // len(runs)
    row["graphs_compiled_in_runs"] = _graphs_compiled() - graphs_before
    row["warmup_s"] = round(warm_s, 2)
    return row


# --- Variants -----------------------------------------------------------------------------------------------


def reset(pipe: Any, s: Settings) -> None:
    """Undo the previous variant's placement, attention wrapper and compiled graphs, and free cached VRAM, so
    each row's reserved VRAM is its own."""
    pipe.remove_all_hooks()
    if memory.is_streamed(pipe.text_encoder):
        memory.unstream(pipe.text_encoder)  # back on the CPU; the next variant's placement moves it
    pipe.vae.disable_tiling()
    attention.unwrap_processors(pipe.transformer)
    speed.uncompile(pipe.transformer)
    if s.device.type == "cuda":
        torch.cuda.empty_cache()


def prepare(pipe: Any, s: Settings, variant: Variant) -> dict[str, Any]:
    """Switch the pipeline to `variant` through zimage.speed.apply, as the app does; raise Skip where a lever
    is not available here."""
    if variant.memory != "full" and s.device.type != "cuda":
        raise Skip(f"memory mode {variant.memory!r} needs a GPU; on {s.device.type} it would equal 'full'")
    if variant.compile and s.smoke:
        raise Skip("smoke mode: compiling on the CPU takes about a minute, longer than the whole smoke run")
    if variant.fp8 and speed.fp8_unavailable_reason():
        raise Skip(f"fp8 unavailable: {speed.fp8_unavailable_reason()}")
    if not variant.fp8 and speed.is_fp8(pipe.transformer):
        raise Skip("an earlier row quantized the transformer to fp8, which cannot be undone")
    reset(pipe, s)
    torch._dynamo.reset()  # drop the previous variant's graphs and recompile counts
    settings = SpeedSettings(memory=variant.memory, attention=variant.attention, compile=variant.compile,
                             fp8=variant.fp8, warmup="off")
    report = _apply(pipe, settings, s.device, variant.compile_mode)
    if variant.attention == speed.AUTO and report.attention == speed.NATIVE_BACKEND:
        raise Skip("no faster attention kernel here: 'auto' resolved to native, as in the native rows")
    if variant.attention not in (speed.AUTO, report.attention):
        raise Skip(f"attention {variant.attention!r} is unavailable here (see the log)")
    if variant.compile and not report.compiled:
        raise Skip(report.compile_note or "torch.compile unavailable")
    if variant.fp8 and not report.fp8:
        raise Skip(report.fp8_note or "fp8 unavailable")
    if variant.complex_rope:
        rope.use_complex_rope(pipe.transformer)  # compilation is lazy: the first call traces the complex form
    real = report.real_rope and not variant.complex_rope
    return {"memory": report.memory_mode, "attention": report.attention, "rope": "real" if real else "complex"}


def _apply(pipe: Any, settings: Any, device: torch.device, compile_mode: str | None) -> Any:
    """speed.apply with a compile mode: the app's Settings has no such field, so it rides on a subclass."""
    if compile_mode is None:
        return speed.apply(pipe, settings, device)

    @dataclass(frozen=True)
    class WithMode(SpeedSettings):
        compile_mode: str | None = None

    fields = {name: getattr(settings, name) for name in settings.__dataclass_fields__}
    return speed.apply(pipe, WithMode(**fields, compile_mode=compile_mode), device)


def budget_problem(s: Settings, index: int, started: float) -> str | None:
    """Why variant `index` would break the time budget; optional variants leave room for later required ones."""
    variants = selected_variants(s)
    variant = variants[index]
    later = [] if variant.required else [v for v in variants[index + 1:] if v.required]
    needed = sum(v.setup_s + v.est_s * len(s.batches) for v in [variant, *later]) * s.est_scale
    elapsed = time.perf_counter() - started
    if elapsed + needed <= s.budget_s:
        return None
    return f"time budget: {elapsed:.0f} s spent, about {needed:.0f} s more needed, budget {s.budget_s:.0f} s"


def base_row(variant: Variant, batch: int, **extra: Any) -> dict[str, Any]:
    return {"variant": variant.name, "batch": batch, "memory": variant.memory, "attention": variant.attention,
            "compile": variant.compile_mode or ("default" if variant.compile else None), "fp8": variant.fp8,
            **extra}


def run_variant(pipe: Any, s: Settings, index: int, started: float, counter: CallCounter) -> list[dict[str, Any]]:
    """All batch sizes of one variant. Any failure is recorded in the rows; nothing propagates."""
    with inductor_settings_kept():
        return _variant_rows(pipe, s, selected_variants(s)[index], index, started, counter)


def _variant_rows(pipe: Any, s: Settings, variant: Variant, index: int, started: float,
                  counter: CallCounter) -> list[dict[str, Any]]:
    try:
        reason = budget_problem(s, index, started)
        if reason:
            raise Skip(reason)
        setup = prepare(pipe, s, variant)
    except Skip as skip:
        log.info("%s: skipped (%s)", variant.name, skip)
        return [base_row(variant, b, status="skipped", note=str(skip)) for b in s.batches]
    except Exception as exc:  # one broken lever must not stop the others
        log.exception("%s: setup failed", variant.name)
        return [base_row(variant, b, status="failed", note=_short(exc)) for b in s.batches]
    return [_run_batch(pipe, s, variant, batch, setup, started, counter) for batch in s.batches]


@contextmanager
def inductor_settings_kept() -> Iterator[None]:
    """Undo what a variant changed in inductor's process-wide settings (fp8 turns on coordinate-descent tuning),
    so a later row compiles the way it would alone."""
    import torch._inductor.config as inductor_config

    saved = inductor_config.save_config()
    try:
        yield
    finally:
        inductor_config.load_config(saved)


def _run_batch(pipe: Any, s: Settings, variant: Variant, batch: int, setup: dict[str, Any], started: float,
               counter: CallCounter) -> dict[str, Any]:
    if time.perf_counter() - started > s.budget_s:
        return base_row(variant, batch, status="skipped", note="time budget spent")
    try:
        row = base_row(variant, batch, **setup, status="ok", note="", **measure(pipe, s, variant, batch, counter))
    except Exception as exc:  # out of memory, a compile error: record it and go on
        log.exception("%s, batch %d: failed", variant.name, batch)
        row = base_row(variant, batch, **setup, status="failed", note=_short(exc))
        if s.device.type == "cuda":
            torch.cuda.empty_cache()
    log.info("%s, batch %d: %s %s", variant.name, batch, row["status"], row.get("total_s", row["note"]))
    return row


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


# --- The text encoder as a causal LM --------------------------------------------------------------------------


LLM_EST_S = 25.0


def last_llm_row(pipe: Any, s: Settings, started: float) -> dict[str, Any]:
    """The text encoder row, after the image rows and only on the time left: on scarce device time the rows with
    targets come first. The text encoder goes back on the GPU, unhooked, whatever the last row did with it."""
    if time.perf_counter() - started + LLM_EST_S * s.est_scale > s.budget_s:
        return {"what": "text encoder as Qwen3ForCausalLM", "status": "skipped", "note": "time budget spent"}
    try:
        reset(pipe, s)
        pipe.text_encoder.to(s.device)
    except Exception as exc:  # noqa: BLE001 - the final write must still happen
        return {"what": "text encoder as Qwen3ForCausalLM", "status": "failed", "note": _short(exc)}
    return llm_row(pipe, s)


@torch.no_grad()
def llm_row(pipe: Any, s: Settings) -> dict[str, Any]:
    """200 new tokens at batch 1 from the text encoder as Qwen3ForCausalLM (the official demo's prompt screen).

    The pipeline's text encoder is that causal LM (head tied to the embeddings as in Qwen3-4B), resident.
    Greedy decoding with the end token ignored, so exactly 200 come.
    """
    try:
        llm = pipe.text_encoder
        ids = pipe.tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                                 return_tensors="pt", return_dict=True)["input_ids"].to(s.device)
        options = dict(max_new_tokens=LLM_TOKENS, min_new_tokens=LLM_TOKENS, do_sample=False,
                       pad_token_id=pipe.tokenizer.pad_token_id)
        llm.generate(ids, **{**options, "max_new_tokens": 8, "min_new_tokens": 8})  # warm-up
        times = []
        for _ in range(2 if s.smoke else 3):
            _sync(s)
            started = time.perf_counter()
            out = llm.generate(ids, **options)
            _sync(s)
            times.append(time.perf_counter() - started)
        new = out.shape[1] - ids.shape[1]
        seconds = statistics.median(times)
        return {"what": f"text encoder as Qwen3ForCausalLM, {new} new tokens, batch 1, greedy, eager",
                "status": "ok", "prompt_tokens": ids.shape[1], "new_tokens": new, "total_s": round(seconds, 3),
                "tokens_per_s": round(new / seconds, 1)}
    except Exception as exc:  # noqa: BLE001 - a broken row must not stop the image variants
        log.exception("LLM row failed")
        return {"what": "text encoder as Qwen3ForCausalLM", "status": "failed", "note": _short(exc)}


def _sync(s: Settings) -> None:
    if s.device.type == "cuda":
        torch.cuda.synchronize()


# --- Report -------------------------------------------------------------------------------------------------


def environment(s: Settings, pipe: Any) -> dict[str, Any]:
    cuda = s.device.type == "cuda"
    prompt_ids = pipe.tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False,
                                                    add_generation_prompt=True, enable_thinking=True)
    return {
        "mode": "smoke (tiny random model on the CPU; timings say nothing about speed)" if s.smoke else
                ("quick" if s.quick else "full"),
        "device": torch.cuda.get_device_name() if cuda else f"CPU ({platform.machine()})",
        "compute_capability": ".".join(map(str, torch.cuda.get_device_capability())) if cuda else None,
        "cpu_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cuda_allocator": devices.allocator_settings() or "default",
        **{name: _version(name) for name in ("diffusers", "transformers", "accelerate", "torchao", "triton",
                                             "flash-attn", "flash_attn_3", "kernels")},
        "dtype": str(s.dtype).removeprefix("torch."),
        "size": f"{s.width}x{s.height}",
        "steps": s.steps,
        "batches": list(s.batches),
        "runs_per_median": s.runs,
        "prompt_tokens": len(pipe.tokenizer(prompt_ids).input_ids),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _best(rows: list[dict[str, Any]], variants: tuple[str, ...], metric: str) -> dict[str, Any] | None:
    candidates = [r for r in rows if r["variant"] in variants and r["batch"] == 1 and r["status"] == "ok"
                  and r.get(metric) is not None]
    return min(candidates, key=lambda r: r[metric]) if candidates else None


def evaluate_targets(rows: list[dict[str, Any]], s: Settings, device_name: str) -> list[dict[str, Any]]:
    """Pass or fail per target, from the best batch-1 row of the variants that target is about."""
    results = []
    for target in TARGETS:
        result = {key: target[key] for key in ("id", "what", "metric", "limit", "unit")}
        best = _best(rows, target["variants"], target["metric"])
        base = _best(rows, target["ratio_to"], target["metric"]) if "ratio_to" in target else None
        if s.smoke:
            result.update(status="n/a", note="smoke mode: tiny model on the CPU")
        elif best is None or ("ratio_to" in target and base is None):
            result.update(status="not measured", note="no successful row; see the variants' notes")
        else:
            value = best[target["metric"]] / base[target["metric"]] if base else best[target["metric"]]
            hopper = any(name in device_name for name in ("H100", "H200"))
            note = "" if hopper else f"target is for an H100 or H200; measured on {device_name}"
            if base:
                note = (f"{best[target['metric']]} s vs {base['variant']} {base[target['metric']]} s. " + note).strip()
            result.update(status="pass" if value <= target["limit"] else "fail", value=round(value, 3),
                          variant=best["variant"], note=note)
        results.append(result)
    return results


COLUMNS = (("variant", "variant"), ("batch", "batch"), ("memory", "memory"), ("attention", "attention"),
           ("rope", "RoPE"), ("status", "status"), ("encode_s", "encode s"), ("denoise_s", "denoise s"),
           ("decode_s", "decode s"),
           ("total_s", "total s"), ("per_image_s", "s/image"), ("peak_vram_gib", "allocated GiB"),
           ("reserved_vram_gib", "reserved GiB"), ("transformer_calls", "DiT calls"),
           ("graphs_compiled_in_runs", "recompiles"), ("warmup_s", "warm-up s"), ("target", "target"),
           ("note", "note"))


def mark_rows(rows: list[dict[str, Any]], targets: list[dict[str, Any]]) -> None:
    """Each row that a target judged carries that target's verdict, so the table shows pass or fail inline."""
    for row in rows:
        verdicts = [f"{t['id']}: {t['status']}" for t in targets if t.get("variant") == row["variant"]
                    and row["batch"] == 1 and row["status"] == "ok"]
        row["target"] = ", ".join(verdicts) or None


def to_markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [f"# Z-Image-Turbo GPU benchmark: {env['device']}", "",
             f"Mode: {env['mode']}. {env['size']}, {env['steps']} steps, {env['dtype']}, guidance 0, "
             f"median of {env['runs_per_median']} warm runs. Random weights, real shapes.", "",
             "| " + " | ".join(title for _, title in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for row in report["rows"]:
        lines.append("| " + " | ".join(_cell(row.get(key)) for key, _ in COLUMNS) + " |")
    lines += ["", "## Targets (H100 or H200, 1024x1024, 8 steps, warm, batch 1, end to end)", "",
              "| target | limit | measured | variant | status | note |", "|---|---|---|---|---|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['what']} | ≤ {t['limit']} {t['unit']} | {_cell(t.get('value'))} | "
                     f"{_cell(t.get('variant'))} | {t['status']} | {t.get('note', '')} |")
    llm = report.get("llm")
    if llm:
        lines += ["", "## Text encoder as a causal LM", "", f"- {llm.get('what')}: {llm.get('status')}, "
                  f"{_cell(llm.get('total_s'))} s, {_cell(llm.get('tokens_per_s'))} tokens/s {llm.get('note', '')}"]
    lines += ["", "## Environment", ""] + [f"- {key}: {value}" for key, value in env.items()]
    lines += [f"- build_s: {report['build_s']}", f"- elapsed_s: {report['elapsed_s']}",
              f"- finished: {report['finished']}"]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "–"
    return str(value).replace("|", "/")


def write(out: Path, s: Settings, env: dict[str, Any], build_s: float, started: float, rows: list[dict[str, Any]],
          llm: dict[str, Any] | None, finished: bool) -> None:
    """Rewrite results.json and results.md with what is finished so far."""
    targets = evaluate_targets(rows, s, env["device"])
    mark_rows(rows, targets)
    report = {"environment": env, "build_s": build_s, "elapsed_s": round(time.perf_counter() - started, 2),
              "finished": finished, "rows": rows, "targets": targets, "llm": llm}
    write_report(report, to_markdown(report), out, "results")


# --- Entry point --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for results.json and results.md")
    parser.add_argument("--smoke", action="store_true", help="tiny model on the CPU, 256x256, 2 steps")
    parser.add_argument("--quick", action="store_true", help="batch 1 only, fewer variants, 3 runs per median")
    parser.add_argument("--runs", type=int, default=0, help="warm runs per median (default 5, 3 with --quick)")
    parser.add_argument("--budget-s", type=float, default=0.0,
                        help="soft budget: no variant starts that would end past it (default 240 quick, 500 full)")
    parser.add_argument("--deadline-s", type=float, default=0.0,
                        help="hard deadline: the process exits (code 3) this many seconds after start, keeping "
                             "the rows written so far (default: budget + 60)")
    return parser.parse_args(argv)


def arm_deadline(seconds: float) -> threading.Timer:
    """End the process at the deadline whatever it is doing (a compile can run for minutes)."""

    def expire() -> None:
        log.error("Hard deadline of %.0f s reached; exiting with the rows written so far.", seconds)
        logging.shutdown()
        os._exit(3)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    devices.prefer_expandable_segments()  # as the app does, before the first CUDA allocation
    if not args.smoke and not torch.cuda.is_available():
        print("Error: no CUDA GPU found; use --smoke to check the script on the CPU.", file=sys.stderr)
        return 1
    s = make_settings(args)
    timer = arm_deadline(args.deadline_s or s.budget_s + 60)
    if s.smoke:
        # The tiny model's ops are so small that waking a second thread costs more than the math
        # (10-20x slower with 2 threads on the 2-core VM this was written on).
        torch.set_num_threads(1)
    started = time.perf_counter()
    configs = load_configs(s.smoke)
    pipe = build_pipeline(configs, s.device, s.dtype)
    build_s = round(time.perf_counter() - started, 2)
    counter = CallCounter(pipe.transformer)
    env = environment(s, pipe)
    rows: list[dict[str, Any]] = []
    write(args.out, s, env, build_s, started, rows, None, finished=False)
    for index in range(len(selected_variants(s))):
        rows += run_variant(pipe, s, index, started, counter)
        write(args.out, s, env, build_s, started, rows, None, finished=False)
    write(args.out, s, env, build_s, started, rows, last_llm_row(pipe, s, started), finished=True)
    timer.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(main())
