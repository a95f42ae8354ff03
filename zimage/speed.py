"""Speed and memory levers for the Z-Image pipeline, and `apply`, which the engine calls once after loading.

    report = speed.apply(pipe, settings, device)     # -> SpeedReport; report.summary() for the status line

Every lever checks what this machine and its packages allow first. A lever that cannot apply (no CUDA, no
torchao, ZeroGPU, an attention package missing, a compile error at warm-up) logs one clear line and the report
says what ran instead, so an optional speed-up never stops the app from starting. Combinations that could
only fail later, at a request, are refused up front by `Settings.checked()` with a ValidationError.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import torch

from .attention import AUTO, NATIVE_BACKEND, set_attention_backend  # noqa: F401 - bench.gpu reads the first two
from .config import RESIDENT_TRANSFORMER_MODES, on_zero_gpu
from .devices import free_memory
from .errors import ValidationError, exception_summary
from .request import GUIDANCE_SCALE
from .memory import footprint, place, resolve_memory_mode
from .prompt_cache import prompt_embeds
from .rope import use_complex_rope, use_real_rope
from .speed_text import describe

log = logging.getLogger(__name__)

COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_CUDA_GRAPH_MODES = frozenset({"reduce-overhead", "max-autotune"})
ZERO_GPU_ENV = "SPACES_ZERO_GPU"
# Ahead-of-time compiled Z-Image blocks that Hugging Face publishes for ZeroGPU, as the official Space loads them.
AOTI_REPO = "zerogpu-aoti/Z-Image"
AOTI_VARIANT = "fa3"

FP8_MIN_CAPABILITY = (8, 9)  # Ada and Hopper are the first GPUs with fp8 tensor cores.
# fp8 pays only on big matmuls; the blocks' attention and feed-forward linears are 3840 wide or more. The adaLN
# modulation (256 in) and the embedders and final layer are small and precision-sensitive, so they stay bf16.
FP8_MIN_FEATURES = 1024
_FP8_SKIP_NAMES = ("adaLN_modulation", "t_embedder", "cap_embedder", "all_x_embedder", "all_final_layer")
# Dynamo's cache per code object. The block class runs three ways (noise refiner, context refiner, main layers),
# each once static and once dynamic, and masked batches add static and dynamic graphs of their own: the warm-up
# leaves 9 entries (tests/test_speed.py counts them). Torch's default of 8 would be passed, and with
# fullgraph=True passing it raises instead of falling back (at a request, eager_if_compile_fails then reruns the
# call eagerly).
RECOMPILE_LIMIT = 16
# Prompts of the warm-up calls (see warm_up): of different lengths, so dynamo marks the prompt length dynamic, and
# batches of them build an attention mask, now instead of at a user's first such request.
WARM_PROMPTS = ("warm-up", "a long warm-up prompt " * 12, "a warm-up prompt of middle length " * 4)
_GUARDED = "_zimage_guarded"  # on eager_if_compile_fails' wrapper: the instance forward it replaced, or None
_FALLBACK = "_zimage_speed_fallback"  # on the transformer: why compiled blocks were undone at a request


@dataclass(frozen=True)
class SpeedReport:
    """What `apply` did. Every `*_note` says why a lever was skipped or undone, or is empty."""

    memory_mode: str
    attention: str
    compiled: bool = False
    compile_note: str = ""
    fp8: bool = False
    fp8_note: str = ""
    aoti: bool = False
    aoti_note: str = ""
    warmup_seconds: float | None = None
    real_rope: bool = False
    rope_note: str = ""
    attention_note: str = ""

    def notes(self) -> str:
        """Why levers were skipped or undone, "; "-joined; "" when everything asked for runs."""
        notes = (self.compile_note, self.attention_note, self.fp8_note, self.aoti_note, self.rope_note)
        return "; ".join(note for note in notes if note)

    def summary(self, lang: str = "en") -> str:
        """One line for the log and the model status: what runs, then what was skipped and why."""
        return describe(self, self.notes(), lang)


# --- torch.compile -----------------------------------------------------------------------------------------


def compile_repeated_blocks(transformer: Any, mode: str | None = None, backend: Any = "inductor") -> bool:
    """Regionally compile the transformer's repeated blocks with torch.compile(fullgraph=True).

    Compiling the one block class that repeats 32 times gives nearly the full-model speed-up at a fraction of
    the compile time. Compilation is lazy: errors appear at the first call, so `apply` warms up and undoes the
    compile (`uncompile`) if that fails. Returns False, with a log line, where torch.compile cannot work.
    """
    if mode not in COMPILE_MODES:
        raise ValidationError(
            f"Unknown compile mode {mode!r}. Valid: {', '.join(str(m) for m in COMPILE_MODES)}.",
            code="unknown_compile_mode", value=str(mode))
    problem = compile_unavailable_reason()
    if problem:
        log.warning("torch.compile skipped: %s.", problem)
        return False
    if mode in _CUDA_GRAPH_MODES and not torch.cuda.is_available():
        log.info("Compile mode %r needs CUDA graphs; compiling with the default mode instead.", mode)
        mode = None
    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
    options: dict[str, Any] = {"mode": None if mode == "default" else mode}
    if backend != "inductor":
        options = {"backend": backend}  # a test backend; torch.compile's modes belong to inductor
    try:
        transformer.compile_repeated_blocks(fullgraph=True, **options)
    except (RuntimeError, ValueError) as exc:
        log.warning("torch.compile skipped: %s", exc)
        return False
    log.info("Compiled the repeated transformer blocks (mode=%s).", mode or "default")
    return True


def uncompile(transformer: Any) -> None:
    """Undo compile_repeated_blocks, the real-valued RoPE and the request guard that go with it: the blocks run
    eagerly again, as diffusers wrote them, and dynamo forgets their graphs."""
    use_complex_rope(transformer)
    _unguard(transformer)
    torch.compiler.set_stance("default")  # eager_if_compile_fails may have changed it
    vars(transformer).pop(_FALLBACK, None)
    for module in transformer.modules():
        if getattr(module, "_compiled_call_impl", None) is not None:
            module._compiled_call_impl = None
    torch._dynamo.reset()


def eager_if_compile_fails(transformer: Any, warmed_up: bool) -> None:
    """Guard the compiled transformer's calls at requests, as the warm-up's fallback guards them at start.

    Without a warm-up (off, or skipped after running out of memory), the first request is the first compiled call.
    When a call fails, it reruns eagerly (`torch.compiler.set_stance("force_eager")`). If no compiled call had
    worked yet and the eager rerun works, compile is undone for good and `fallback_note` says why, for the
    status line and the images' metadata. A failure later (a new shape that cannot compile) keeps the graphs that
    work and runs every call that would need a new one eagerly (stance "eager_on_recompile": a failed compile is
    not cached, so the same shape would otherwise try again at every step). An error the eager rerun repeats is the
    request's, not compile's: it is raised and compile stays.
    """
    forward = transformer.forward
    worked = [warmed_up]

    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            output = forward(*args, **kwargs)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - logged in full below once eager has succeeded
            with torch.compiler.set_stance("force_eager"):
                output = forward(*args, **kwargs)
            if worked[0]:
                # A failed compile is not cached: the same shape would try again at every step. From now on, the
                # graphs that work keep running and any call that would need a new one runs eagerly.
                torch.compiler.set_stance("eager_on_recompile")
                log.warning("A compiled transformer call failed; it ran eagerly, and so will any call that needs a "
                            "new graph from now on", exc_info=exc)
                return output
            log.error("torch.compile failed at its first call; the transformer runs eagerly from now on", exc_info=exc)
            uncompile(transformer)  # removes this guard too
            setattr(transformer, _FALLBACK, _compile_failed_note(transformer, "the first request", exc))
            return output
        worked[0] = True
        return output

    setattr(guarded, _GUARDED, vars(transformer).get("forward"))
    transformer.forward = guarded


def _unguard(transformer: Any) -> None:
    """Remove `eager_if_compile_fails`'s guard, restoring the forward it wrapped."""
    current = vars(transformer).get("forward")
    if not hasattr(current, _GUARDED):
        return
    previous = getattr(current, _GUARDED)
    if previous is None:
        del transformer.forward
    else:
        transformer.forward = previous


def fallback_note(transformer: Any) -> str:
    """Why compiled blocks were undone at a request (`eager_if_compile_fails`, `_eager_if_aoti_fails`), or ""."""
    return str(getattr(transformer, _FALLBACK, ""))


def _compile_failed_note(transformer: Any, when: str, exc: BaseException) -> str:
    stays = " (the fp8 weights stay: eager fp8 is slower than bf16)" if is_fp8(transformer) else ""
    return f"compile failed at {when}, running eager{stays}: {exception_summary(exc)}"


def compile_unavailable_reason() -> str | None:
    """Why torch.compile cannot run here, or None when it can."""
    if on_zero_gpu():
        return f"ZeroGPU ({ZERO_GPU_ENV} is set) does not support it"
    if not torch._dynamo.is_dynamo_supported():
        return "TorchDynamo does not support this Python build"
    if torch.cuda.is_available():
        from torch.utils._triton import has_triton

        if not has_triton():
            return "Triton, which inductor needs on CUDA, is not installed"
    return None


# --- ZeroGPU: ahead-of-time compiled blocks ----------------------------------------------------------------


def load_aoti_blocks(transformer: Any, repo_id: str = AOTI_REPO, variant: str | None = AOTI_VARIANT) -> str:
    """Swap the 30 main blocks for Hugging Face's ahead-of-time compiled ones; return "" or why not.

    ZeroGPU cannot run torch.compile, but it can run AoTInductor packages (`spaces.aoti_blocks_load`, which
    downloads them from the Hub and loads their attention kernels through `kernels`). Only `transformer.layers`,
    as the official Space does: the refiners are the same class, but the context refiner has no modulation, so
    the compiled block's weights do not fit it. spaces loads a package lazily, at a block's first call in the GPU
    worker, so `_eager_if_aoti_fails` guards the calls too. Any failure here leaves every block eager.
    """
    layers = transformer.layers
    try:
        import spaces

        layers._repeated_blocks = list(transformer._repeated_blocks)
        spaces.aoti_blocks_load(layers, repo_id, variant=variant)
    except Exception as exc:  # noqa: BLE001 - no Hub access, no matching build: eager still works
        _back_to_eager(layers)  # spaces patches block by block: a failure midway leaves some patched
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0][:200] if text else ''}"
    _eager_if_aoti_fails(transformer)
    log.info("Loaded ahead-of-time compiled blocks from %s (variant %s).", repo_id, variant)
    return ""


def _back_to_eager(blocks: Any) -> None:
    for block in blocks:
        vars(block).pop("forward", None)


def _eager_if_aoti_fails(transformer: Any) -> None:
    """Guard the compiled blocks' calls. Before any compiled call has worked, a failure means the package does not
    fit (weights, a kernel missing on this GPU): every block goes back to eager in this worker, the call is rerun
    eagerly, so the request still gets its image, and `fallback_note` says so (the images' metadata and, through
    them, the main process's status line). Later, a failure is one call's (a shape the package was not exported
    for): that call alone runs eagerly. Out of memory is raised as it is: eager would need more.
    Each new ZeroGPU worker starts from the main process's blocks, so it tries the package once itself."""
    patched = [block for block in transformer.layers if "forward" in vars(block)]
    worked = [False]

    for block in patched:
        compiled = vars(block)["forward"]

        def guarded(*args: Any, _block: Any = block, _compiled: Any = compiled, **kwargs: Any) -> Any:
            try:
                output = _compiled(*args, **kwargs)
            except torch.OutOfMemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged in full; eager gives the same result
                if not worked[0]:
                    log.exception("Ahead-of-time compiled blocks failed at their first call; running eagerly")
                    _back_to_eager(patched)
                    setattr(transformer, _FALLBACK, "ahead-of-time blocks failed at their first call, running eager: "
                            + exception_summary(exc))
                else:
                    log.exception("An ahead-of-time compiled block failed; this call runs eagerly")
                return type(_block).forward(_block, *args, **kwargs)
            worked[0] = True
            return output

        block.forward = guarded


# --- fp8 weights -------------------------------------------------------------------------------------------


def quantize_fp8(transformer: Any) -> bool:
    """Quantize the transformer's big linears to fp8 with torchao: dynamic per-row activation scales and
    per-row weight scales (the recipe of torchao's and flux-fast's benchmarks).

    Halves those weights' memory and, with torch.compile, speeds up their matmuls. Needs a CUDA GPU of compute
    capability 8.9 or more and `torchao`; otherwise returns False with a log line. In place, cannot be undone.
    """
    problem = fp8_unavailable_reason()
    if problem:
        log.warning("fp8 quantization skipped: %s.", problem)
        return False
    try:
        from torchao.quantization import quantize_

        quantize_(transformer, fp8_config(), filter_fn=fp8_filter)
    except Exception as exc:  # noqa: BLE001 - old torchao lacks the config; errors vary by version
        log.warning("fp8 quantization failed: %s", exc)
        if _partly_quantized(transformer):  # it cannot be undone: treat it as fp8, so no offload mode takes it
            log.warning("fp8 quantization stopped partway; the layers already quantized stay fp8.")
            transformer._zimage_fp8 = True
        return False
    transformer._zimage_fp8 = True
    try:
        tune_inductor_for_fp8()
    except Exception as exc:  # noqa: BLE001 - only slower kernels without it; the weights are fp8 already
        log.warning("fp8: inductor's tuning settings could not be applied: %s", exc)
    log.info("Quantized the transformer's large linear layers to fp8 (per-row scales) with torchao.")
    return True


def _partly_quantized(transformer: Any) -> bool:
    return any(type(param).__module__.startswith("torchao") for param in transformer.parameters())


def fp8_config() -> Any:
    """torchao's per-row fp8 recipe, without its process-wide inductor settings (`tune_inductor_for_fp8` sets
    them where it is said). On CUDA 12.9, whose cuBLASLt fails some per-row shapes with fast accumulation
    (CUBLAS_STATUS_NOT_SUPPORTED, torchao issue 4582; 12.6 and 13.0 are fine), fast accumulation is off: torchao
    only warns, and the failing shape could first come with a user's request."""
    from torchao.float8.inference import Float8MMConfig
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow

    cuda_12_9 = (torch.version.cuda or "").startswith("12.9")
    mm_config = Float8MMConfig(use_fast_accum=False) if cuda_12_9 else None
    return Float8DynamicActivationFloat8WeightConfig(granularity=PerRow(), set_inductor_config=False,
                                                     mm_config=mm_config)


def is_fp8(transformer: Any) -> bool:
    """Whether `quantize_fp8` has run on this transformer (it cannot be undone)."""
    return bool(getattr(transformer, "_zimage_fp8", False))


def tune_inductor_for_fp8() -> None:
    """torchao's recommended inductor settings for quantized models: coordinate-descent tuning of the generated
    kernels. torchao's `quantize_` would set them by itself; they are process-wide and outlive the call (every
    later compile tunes too), so they are set here, where it is said: with them the H200's fp8 warm-up took 169 s
    (docs/benchmarks.md)."""
    from torchao.quantization.utils import recommended_inductor_config_setter

    recommended_inductor_config_setter()


def fp8_unavailable_reason() -> str | None:
    """Why fp8 quantization cannot run here, or None when it can."""
    if not torch.cuda.is_available():
        return "it needs a CUDA GPU"
    capability = torch.cuda.get_device_capability()
    if capability < FP8_MIN_CAPABILITY:
        return f"the GPU's compute capability {capability[0]}.{capability[1]} is below 8.9"
    try:
        import torchao  # noqa: F401
    except ImportError:
        return "torchao is not installed (pip install torchao)"
    return None


def fp8_filter(module: torch.nn.Module, fqn: str) -> bool:
    """The linears worth fp8: inside the blocks, big, and with dimensions the fp8 kernels accept."""
    if not isinstance(module, torch.nn.Linear) or any(name in fqn for name in _FP8_SKIP_NAMES):
        return False
    small = min(module.in_features, module.out_features) < FP8_MIN_FEATURES
    return not small and module.in_features % 16 == 0 and module.out_features % 16 == 0


# --- Warm-up -----------------------------------------------------------------------------------------------


def warm_up(pipe: Any, device: str | torch.device, *, height: int = 1024, width: int = 1024, steps: int = 2,
            count: int = 2) -> float:
    """Run throwaway generations the way requests run, so compilation happens now, not for the first user.

    Same grad mode (inference_mode), prompt embeddings (zimage.prompt_cache), per-image CPU generators and step
    callback as zimage.generate. Four calls: one image at the given size; `count` images of a longer prompt at a
    slightly different size, so one recompile makes batch, prompt length and size dynamic; then the same twice
    with prompts of different lengths in one batch (2, then 3), which makes Z-Image build an attention mask, with
    graphs of their own and MaskAwareProcessor's other kernel, as a batch of enhanced variations or a Ray Serve
    batch of users does. Returns the seconds taken.
    """
    target = torch.device(device)
    started = time.perf_counter()
    other = (width + 64, max(64, height - 64))  # another token count, as a user's next size would have
    calls = ((width, height, [WARM_PROMPTS[0]], 1), (*other, [WARM_PROMPTS[1]], max(count, 2)),
             (width, height, list(WARM_PROMPTS[:2]), 1), (*other, list(WARM_PROMPTS), 1))
    for call_width, call_height, prompts, per_prompt in calls:
        images = len(prompts) * per_prompt
        with torch.inference_mode():
            pipe(prompt_embeds=prompt_embeds(pipe, prompts), height=call_height, width=call_width,
                 num_inference_steps=steps, guidance_scale=GUIDANCE_SCALE, num_images_per_prompt=per_prompt,
                 generator=[torch.Generator("cpu").manual_seed(i) for i in range(images)],
                 callback_on_step_end=lambda _pipe, _step, _t, tensors: tensors)
    if target.type == "cuda":
        torch.cuda.synchronize(target)
    seconds = time.perf_counter() - started
    log.info("Warm-up (%dx%d, a batch of %d, masked batches of 2 and 3; %d steps) took %.2f s.", width, height,
             count, steps, seconds)
    return seconds


def should_warm_up(settings: Any, device: str | torch.device) -> bool:
    """"on" always; "auto" on a real CUDA device. Never on ZeroGPU: its main process has no GPU, only an
    emulation, and each worker is fresh, so a warm-up there would only burn start-up time."""
    if on_zero_gpu():
        return False
    mode = str(getattr(settings, "warmup", "auto")).lower()
    return mode == "on" or (mode == "auto" and torch.device(device).type == "cuda")


# --- Everything together -----------------------------------------------------------------------------------


def apply(pipe: Any, settings: Any, device: str | torch.device) -> SpeedReport:
    """Place the pipeline and apply the levers `settings` asks for, in an order that works; warm up.

    Order: check, fp8 (on the device, before the rest moves there), memory mode, attention, compile (with the
    real-valued RoPE) or ahead-of-time blocks, warm-up. A compile that fails at warm-up is undone, the RoPE
    too, and the warm-up rerun eagerly. fp8 and compile touch only the transformer, which "full" and "stream"
    keep on the GPU with no hooks on it ("stream" hooks the text encoder alone), so both levers combine with
    either mode.
    """
    settings.checked()  # refuses fp8 combinations that would fail at the first request
    target = torch.device(device)
    fp8_note = _fp8_blocker(settings)
    memory_mode = resolve_memory_mode(settings.memory, target,
                                      footprint(pipe, fp8_filter if settings.fp8 and not fp8_note else None))
    if settings.fp8 and not fp8_note and memory_mode not in RESIDENT_TRANSFORMER_MODES:
        fp8_note = (f"fp8 skipped: memory mode {memory_mode!r} is needed here and fp8 works with "
                    f"{' or '.join(repr(m) for m in RESIDENT_TRANSFORMER_MODES)} only")
    fp8 = False
    if settings.fp8 and not fp8_note:
        fp8, fp8_note = _quantize_on(pipe.transformer, target)
        if not fp8 and not is_fp8(pipe.transformer):  # the mode was chosen for fp8 weights; bf16 may need another
            pipe.transformer.to("cpu")
            free_memory()
            memory_mode = resolve_memory_mode(settings.memory, target, footprint(pipe))
    place(pipe, memory_mode, target)
    attention = set_attention_backend(pipe.transformer, settings.attention)
    compiled, compile_note, aoti, aoti_note = False, "", False, ""
    if on_zero_gpu():
        aoti_note = _aoti_blocker(settings) or load_aoti_blocks(pipe.transformer)
        aoti = not aoti_note
        aoti_note = f"ahead-of-time blocks unavailable, running eager: {aoti_note}" if aoti_note else ""
    elif settings.compile:
        compiled = compile_repeated_blocks(pipe.transformer, getattr(settings, "compile_mode", None))
        compile_note = "" if compiled else f"compile skipped: {compile_unavailable_reason() or 'see the log'}"
    rope_note = _real_rope_for_compile(pipe.transformer) if compiled else ""
    warmup_seconds, attention_note = None, ""
    if should_warm_up(settings, target):
        warmup_seconds, failed_note, attention, attention_note = _warm_up_or_fall_back(pipe, target, compiled,
                                                                                        attention)
        compiled, compile_note = compiled and not failed_note, failed_note or compile_note
    if compiled:
        eager_if_compile_fails(pipe.transformer, warmed_up=warmup_seconds is not None)
    report = SpeedReport(memory_mode, attention, compiled, compile_note, fp8, fp8_note, aoti, aoti_note,
                         None if warmup_seconds is None else round(warmup_seconds, 2),
                         real_rope=compiled and not rope_note, rope_note=rope_note if compiled else "",
                         attention_note=attention_note)
    log.info("Speed levers: %s", report.summary())
    return report


def _quantize_on(transformer: Any, device: torch.device) -> tuple[bool, str]:
    """Quantize on the device (fast, and the bf16 copy never sits beside the rest); return (done, note). The
    memory mode was chosen for fp8 weights, so the bf16 transformer may not fit there: then fp8 is skipped."""
    try:
        transformer.to(device)
    except torch.OutOfMemoryError:  # apply() takes it back to the CPU, as after any failed quantization
        return False, "fp8 skipped: the bf16 transformer does not fit on the GPU to be quantized there"
    if quantize_fp8(transformer):
        return True, ""
    stopped = " partway, some layers stay fp8" if is_fp8(transformer) else ""
    return False, f"fp8 skipped: quantization failed{stopped}, see the log"


def _real_rope_for_compile(transformer: Any) -> str:
    """Swap in the real-valued RoPE for the compiled blocks; return "" or a note on why it stays complex.

    Only with compile: inductor cannot generate code for complex tensors, so there the real form turns eager
    fallback calls into fused code. Eager gains nothing (the complex multiply is one kernel, its real form
    several), and ZeroGPU's ahead-of-time blocks were exported with the complex table as an input.
    Compilation is lazy, so swapping after compile_repeated_blocks still puts the real form in the graphs.
    """
    problem = use_real_rope(transformer)
    if problem:
        log.warning("Real-valued RoPE skipped, the compiled blocks keep the complex one: %s.", problem)
        return f"complex RoPE kept: {problem}"
    return ""


def _aoti_blocker(settings: Any) -> str:
    """Why ZeroGPU's compiled blocks must not be used here, or "": they hold their own copy of the block weights,
    taken when loaded, so a LoRA loaded into the transformer later would silently change nothing."""
    if getattr(settings, "lora_dir", None) or getattr(settings, "lora_hub", ()):
        return "LoRAs are offered, and the compiled blocks would ignore them"
    return ""


def _fp8_blocker(settings: Any) -> str:
    """Why fp8 will not be applied although asked for, or "" (check() has already refused bad combinations)."""
    if not settings.fp8:
        return ""
    problem = compile_unavailable_reason()
    if problem:
        return f"fp8 skipped: it pays only with torch.compile, and {problem}"
    problem = fp8_unavailable_reason()
    return f"fp8 skipped: {problem}" if problem else ""


def _warm_up_or_fall_back(pipe: Any, device: torch.device, compiled: bool,
                          attention: str) -> tuple[float | None, str, str, str]:
    """Warm up; when that fails, undo the riskier levers one at a time and warm up again: a fast attention kernel
    first (diffusers accepts a backend without running it, so a build with no kernel for this GPU, or one that
    cannot be traced, fails only here), then the compiled blocks, which are worth more than the kernel (regional
    compile 1.4x on the H200, an attention kernel a few per cent); once compile is undone the chosen kernel gets
    another try, eagerly, since compile may have been the culprit all along. Out of memory is no lever's fault:
    the warm-up is retried at 256x256, then skipped (requests get their own message with the size that failed).
    Anything left fails the load. Returns (seconds or None, compile note, attention in use, attention note)."""
    side = 1024 if compiled else 256
    compile_note = attention_note = ""
    chosen = attention
    while True:
        try:
            return warm_up(pipe, device, height=side, width=side), compile_note, attention, attention_note
        except torch.OutOfMemoryError:
            free_memory()
            if side == 256:
                log.warning("Warm-up ran out of memory at 256x256; skipped, so the first request warms up instead.")
                return None, compile_note, attention, attention_note
            # A smaller warm-up still compiles most of what requests need.
            log.warning("Warm-up ran out of memory at %dx%d; warming up at 256x256 instead.", side, side)
        except Exception as exc:  # noqa: BLE001 - a lever that cannot run here; eager SDPA must still serve
            if attention != NATIVE_BACKEND:
                log.exception("Attention %r failed at warm-up; using %r instead", attention, NATIVE_BACKEND)
                attention = set_attention_backend(pipe.transformer, NATIVE_BACKEND)
                attention_note = f"attention kernel failed at warm-up, using native: {exception_summary(exc)}"
                if compiled:
                    torch._dynamo.reset()  # the graphs traced with the failed kernel
            elif compiled:
                log.exception("torch.compile failed at warm-up; the transformer runs eagerly instead")
                uncompile(pipe.transformer)
                compiled, compile_note = False, _compile_failed_note(pipe.transformer, "warm-up", exc)
                if attention != chosen:  # the kernel was blamed first; compile was the culprit: try it eagerly
                    attention, attention_note = set_attention_backend(pipe.transformer, chosen), ""
            else:
                raise
            free_memory()
        side = 256
