"""zimage.speed, zimage.attention and zimage.memory on the CPU: every lever degrades to a clear, safe answer
when it cannot apply, and the combinations that would fail at a request are refused up front."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from zimage import attention, memory, speed
from zimage.config import Settings
from zimage.errors import ValidationError
from zimage.tiny import CONFIGS, build_pipeline

GIB = memory.GIB
MIXED_PROMPTS = ["a", "a much longer prompt with many more tokens than the first, so the batch needs a mask " * 2]


def _image(pipeline, prompt="a cat", size=64) -> np.ndarray:
    with torch.inference_mode():
        return pipeline(prompt=prompt, height=size, width=size, num_inference_steps=1, guidance_scale=0.0,
                        generator=torch.Generator("cpu").manual_seed(0), output_type="np").images


# --- Attention ---------------------------------------------------------------------------------------------


def test_unavailable_backend_falls_back_to_native(pipe, caplog):
    expected = _image(pipe)
    with caplog.at_level(logging.WARNING, logger="zimage.attention"):
        assert attention.set_attention_backend(pipe.transformer, "flash") == "native"
    assert "'flash' is unavailable" in caplog.text
    np.testing.assert_array_equal(_image(pipe), expected)


def test_backend_failing_diffusers_check_falls_back(pipe, monkeypatch):
    # Pretend CUDA exists, so the request reaches diffusers' own requirements check (flash-attn is not installed).
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert attention.set_attention_backend(pipe.transformer, "flash") == "native"


def test_flash_kernel_serves_a_batch_that_needs_a_mask(pipe, monkeypatch):
    """Prompts of different lengths make Z-Image build a mask, which flash kernels refuse; the wrapper sends
    those calls to SDPA instead. `_native_flash` stands in for FA2/FA3: it runs on the CPU in bf16."""
    pipe.to(torch.bfloat16)
    pipe.transformer.set_attention_backend("_native_flash")  # diffusers alone: the masked batch fails
    with pytest.raises(ValueError, match="attn_mask"):
        _image(pipe, MIXED_PROMPTS)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # let the CUDA-only name through our check
    assert attention.set_attention_backend(pipe.transformer, "_native_flash") == "_native_flash"
    monkeypatch.undo()
    assert _image(pipe, MIXED_PROMPTS).shape == (2, 64, 64, 3)
    assert _image(pipe, "one prompt").shape == (1, 64, 64, 3)  # no mask: the flash kernel itself


def test_a_fast_kernel_that_cannot_run_falls_back_at_its_first_call(pipe, monkeypatch):
    """diffusers accepts a backend once its package imports; on ZeroGPU no warm-up runs it before the first user.
    A kernel that fails there must cost that layer its fast kernel, not the user their image."""
    pipe.to(torch.bfloat16)
    native = _image(pipe, "one prompt")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert attention.set_attention_backend(pipe.transformer, "_native_flash") == "_native_flash"
    monkeypatch.undo()
    wrapped = [m.processor for m in attention.attention_modules(pipe.transformer)
               if isinstance(m.processor, attention.MaskAwareProcessor)]

    def no_kernel(*args, **kwargs):
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device")

    no_kernel._attention_backend = wrapped[0].fast._attention_backend
    for processor in wrapped:
        processor.fast = no_kernel
    assert attention.fallback_note(pipe.transformer) == ""
    np.testing.assert_array_equal(_image(pipe, "one prompt"), native)
    assert wrapped and all(processor.fast is processor.masked for processor in wrapped)
    # The status line and the images' metadata say so (ZeroGPU shows the worker's facts).
    from zimage.model_info import ModelInfo
    from zimage.model_loader import LoadedModel

    info = LoadedModel(pipe, ModelInfo("m", "r", attention="_native_flash")).info
    assert info.attention == "_native_flash" and info.speed.endswith(
        "(attention kernel _native_flash failed when first run, using native: RuntimeError: CUDA error: no kernel "
        "image is available for execution on the device)")
    attention.set_attention_backend(pipe.transformer, "native")
    assert attention.fallback_note(pipe.transformer) == ""


def test_auto_backend_on_cpu_is_native(pipe):
    assert attention.set_attention_backend(pipe.transformer, " AUTO ") == "native"


def test_auto_tries_fa3_and_its_hub_kernel_on_hopper_but_not_the_slower_cudnn(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: (9, 0))
    assert attention.auto_candidates() == ["_flash_3", "_flash_3_hub", "flash"]
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: (7, 5))
    assert attention.auto_candidates() == []


def test_unknown_backend_lists_valid_names(pipe):
    with pytest.raises(ValidationError, match="Choose one of: auto, .*native") as info:
        attention.set_attention_backend(pipe.transformer, "fastest")
    assert info.value.code == "unknown_attention_backend"


# --- Memory modes ------------------------------------------------------------------------------------------


def test_unknown_memory_mode_raises_with_valid_modes(pipe):
    with pytest.raises(ValidationError, match="Choose one of: auto, full, stream, offload, sequential") as info:
        memory.apply_memory_mode(pipe, "turbo", "cpu")
    assert info.value.code == "unknown_memory_mode"


@pytest.mark.parametrize("mode", ["auto", "full", "stream", "offload", "sequential"])
def test_memory_modes_on_cpu_are_full(pipe, mode):
    assert memory.apply_memory_mode(pipe, mode, "cpu") == "full"
    assert not pipe.vae.use_tiling  # tiling belongs to the offload modes only


# The real model's weights in bf16 (bytes): transformer 11.5 GiB, text encoder 7.5 GiB, VAE 0.16 GiB.
BF16 = memory.Footprint({"transformer": int(11.5 * GIB), "text_encoder": int(7.5 * GIB), "vae": int(0.16 * GIB)})
FP32 = memory.Footprint({name: 2 * size for name, size in BF16.sizes.items()})


@pytest.mark.parametrize(("needs", "free_gib", "expected"), [
    (BF16, 40, "full"), (BF16, 24, "full"), (BF16, 16, "stream"), (BF16, 13.6, "offload"),
    (BF16, 12, "sequential"),  # a 12 GB card: the transformer alone does not fit with room to run
    (FP32, 40, "stream"), (FP32, 44.5, "full"), (FP32, 24, "sequential"),
])
def test_auto_memory_mode_follows_component_sizes(free_vram, needs, free_gib, expected):
    free_vram(free_gib)
    assert memory.choose_memory_mode("cuda", needs) == expected


def test_footprint_counts_dtype_and_fp8(pipe):
    fp32 = memory.footprint(pipe)
    assert set(fp32.sizes) == {"transformer", "text_encoder", "vae"}
    pipe.to(torch.bfloat16)
    assert memory.footprint(pipe).total * 2 == fp32.total
    big = torch.nn.Sequential(torch.nn.Linear(1024, 2048, bias=False), torch.nn.Linear(32, 32))
    plain, fp8 = memory.module_bytes(big), memory.module_bytes(big, lambda n, m: 0.25 if n == "0" else 1.0)
    assert plain - fp8 == 1024 * 2048 * 4 * 3 // 4


def test_auto_memory_mode_is_full_on_zero_gpu(monkeypatch):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert memory.choose_memory_mode("cuda", FP32) == "full"


def test_offload_enables_vae_tiling_and_slicing():
    calls = []

    class FakeVae:
        def enable_tiling(self):
            calls.append("tiling")

        def enable_slicing(self):
            calls.append("slicing")

    class FakePipe:
        vae = FakeVae()

        def enable_model_cpu_offload(self, device):
            calls.append(("offload", str(device)))

    memory.place(FakePipe(), "offload", "cuda")
    assert calls == [("offload", "cuda"), "slicing", "tiling"]


# --- fp8 ---------------------------------------------------------------------------------------------------


def test_fp8_is_false_on_cpu(pipe, caplog):
    with caplog.at_level(logging.WARNING, logger="zimage.speed"):
        assert speed.quantize_fp8(pipe.transformer) is False
    assert "needs a CUDA GPU" in caplog.text
    assert all(type(p) is torch.nn.Parameter for p in pipe.transformer.parameters())  # untouched


def test_fp8_says_where_it_tunes_inductor_and_marks_the_transformer(pipe, monkeypatch):
    """torchao's quantize_ would switch on inductor's coordinate-descent tuning process-wide by itself; the app asks
    it not to and switches it on in its own named step, and marks the transformer, which cannot be unquantized."""
    import torch._inductor.config as inductor_config
    import torchao.quantization

    seen = []
    monkeypatch.setattr(speed, "fp8_unavailable_reason", lambda: None)
    monkeypatch.setattr(torchao.quantization, "quantize_", lambda model, config, filter_fn: seen.append(config))
    saved = inductor_config.save_config()
    try:
        inductor_config.coordinate_descent_tuning = False
        assert not speed.is_fp8(pipe.transformer)
        assert speed.quantize_fp8(pipe.transformer) is True
        assert [config.set_inductor_config for config in seen] == [False]
        assert speed.is_fp8(pipe.transformer) and inductor_config.coordinate_descent_tuning is True
    finally:
        inductor_config.load_config(saved)


@pytest.mark.parametrize("cuda, fast", [("12.9", False), ("12.6", True), ("13.0", True), (None, True)])
def test_fp8_turns_fast_accumulation_off_only_on_cuda_12_9(monkeypatch, cuda, fast):
    monkeypatch.setattr(torch.version, "cuda", cuda)
    config = speed.fp8_config()
    assert config.mm_config.use_fast_accum is fast and config.set_inductor_config is False


def test_fp8_leaves_modulation_and_small_linears_in_bf16():
    big = torch.nn.Linear(3840, 10240)
    assert speed.fp8_filter(big, "layers.3.feed_forward.w1")
    assert not speed.fp8_filter(big, "layers.3.adaLN_modulation.0")
    assert not speed.fp8_filter(torch.nn.Linear(256, 15360), "layers.3.ffn")  # 256 wide: too small to pay
    assert not speed.fp8_filter(big, "all_final_layer.2-1.linear")


@pytest.mark.parametrize(("changes", "code"), [
    ({"memory": "offload", "compile": True}, "fp8_offload"),
    ({"memory": "sequential", "compile": True}, "fp8_offload"),
    ({"memory": "full", "compile": False}, "fp8_needs_compile"),
])
def test_fp8_combinations_that_would_fail_later_are_refused_up_front(pipe, changes, code):
    settings = Settings(fp8=True, **changes)
    with pytest.raises(ValidationError) as info:
        speed.apply(pipe, settings, "cpu")
    assert info.value.code == code
    Settings(fp8=True, compile=True, memory="auto").checked()  # the working combination passes


def test_a_failed_fp8_quantization_rechooses_the_memory_mode_for_bf16_weights(pipe, monkeypatch):
    """"auto" picks the mode from the fp8 footprint before quantizing; if quantizing then fails, the bf16 weights
    (about twice the transformer) need their own choice, or a card sized for fp8 runs out of memory."""
    filters = []
    measure = speed.footprint

    def footprint(pipeline, fp8_filter=None):
        filters.append(fp8_filter)
        return measure(pipeline, fp8_filter)

    monkeypatch.setattr(speed, "fp8_unavailable_reason", lambda: None)
    monkeypatch.setattr(speed, "compile_unavailable_reason", lambda: None)
    monkeypatch.setattr(speed, "quantize_fp8", lambda transformer: False)
    monkeypatch.setattr(speed, "compile_repeated_blocks", lambda transformer, mode=None: False)
    monkeypatch.setattr(speed, "footprint", footprint)
    report = speed.apply(pipe, Settings(fp8=True, compile=True, warmup="off"), "cpu")
    assert not report.fp8 and report.fp8_note == "fp8 skipped: quantization failed, see the log"
    assert filters == [speed.fp8_filter, None], "chosen again, from the bf16 weights' size"


def test_fp8_quantization_that_stops_partway_keeps_a_resident_mode(pipe, monkeypatch):
    """torchao quantizes layer by layer and cannot undo it: a failure partway leaves fp8 layers, which an offload
    mode would move inside inference mode and fail at every request. So the fp8-sized mode stays."""
    import torchao.quantization

    def fails_partway(transformer, config, filter_fn=None):
        raise RuntimeError("CUBLAS_STATUS_NOT_SUPPORTED")

    modes = iter(["stream", "offload"])
    monkeypatch.setattr(speed, "fp8_unavailable_reason", lambda: None)
    monkeypatch.setattr(speed, "compile_unavailable_reason", lambda: None)
    monkeypatch.setattr(speed, "compile_repeated_blocks", lambda transformer, mode=None: False)
    monkeypatch.setattr(speed, "fp8_config", lambda: None)
    monkeypatch.setattr(torchao.quantization, "quantize_", fails_partway)
    monkeypatch.setattr(speed, "_partly_quantized", lambda transformer: True)
    monkeypatch.setattr(speed, "resolve_memory_mode", lambda mode, device, needs: next(modes))
    monkeypatch.setattr(speed, "place", lambda pipeline, mode, device: None)
    report = speed.apply(pipe, Settings(fp8=True, compile=True, warmup="off"), "cpu")
    assert report.memory_mode == "stream" and speed.is_fp8(pipe.transformer)
    assert report.fp8_note == "fp8 skipped: quantization failed partway, some layers stay fp8, see the log"


def test_fp8_without_gpu_is_reported_not_fatal(pipe):
    report = speed.apply(pipe, Settings(fp8=True, compile=True, warmup="off"), "cpu")
    assert not report.fp8 and report.fp8_note.startswith("fp8 skipped")
    assert "fp8 skipped" in report.summary()


# --- Compile and warm-up ------------------------------------------------------------------------------------


def test_compile_is_false_on_zero_gpu(pipe, monkeypatch, caplog):
    monkeypatch.setenv(speed.ZERO_GPU_ENV, "true")
    with caplog.at_level(logging.WARNING, logger="zimage.speed"):
        assert speed.compile_repeated_blocks(pipe.transformer) is False
    assert "ZeroGPU" in caplog.text


def test_compile_rejects_unknown_mode(pipe):
    with pytest.raises(ValidationError, match="compile mode"):
        speed.compile_repeated_blocks(pipe.transformer, mode="fastest")


def test_compile_failure_at_warm_up_falls_back_to_eager(pipe, monkeypatch, caplog):
    """torch.compile is lazy: a broken compiler shows only at the first call. apply must survive it."""
    expected = _image(pipe)

    def broken_compiler(graph, inputs):
        raise RuntimeError("inductor exploded")

    _compile_with(monkeypatch, broken_compiler)
    with caplog.at_level(logging.ERROR, logger="zimage.speed"):
        report = speed.apply(pipe, Settings(compile=True, warmup="on"), "cpu")
    assert not report.compiled
    assert report.compile_note.startswith("compile failed at warm-up, running eager")
    assert "compile failed at warm-up" in report.summary()
    assert "torch.compile failed at warm-up" in caplog.text
    np.testing.assert_array_equal(_image(pipe), expected)  # and generation works, eagerly


def _compile_with(monkeypatch, backend) -> None:
    original = speed.compile_repeated_blocks
    monkeypatch.setattr(speed, "compile_repeated_blocks",
                        lambda transformer, mode=None: original(transformer, backend=backend))


def _compiled_blocks(transformer) -> int:
    return sum(getattr(m, "_compiled_call_impl", None) is not None for m in transformer.modules())


def test_compile_failing_at_the_first_request_without_warm_up_falls_back_and_says_so(pipe, monkeypatch, caplog):
    """With the warm-up off, the first request is compile's first call. It must still get its image, and the
    status line and the images' metadata must stop claiming compile."""
    from zimage.model_info import ModelInfo
    from zimage.model_loader import LoadedModel

    expected = _image(pipe)

    def broken_compiler(graph, inputs):
        raise RuntimeError("inductor exploded")

    _compile_with(monkeypatch, broken_compiler)
    report = speed.apply(pipe, Settings(compile=True, warmup="off"), "cpu")
    assert report.compiled and report.warmup_seconds is None
    loaded = LoadedModel(pipe, ModelInfo("m", "r", compiled=True, real_rope=report.real_rope,
                                         speed=report.summary(), speed_notes=report.notes()))
    assert loaded.info.compiled
    with caplog.at_level(logging.ERROR, logger="zimage.speed"):
        np.testing.assert_array_equal(_image(pipe), expected)
    assert "torch.compile failed at its first call" in caplog.text
    assert speed.fallback_note(pipe.transformer).startswith(
        "compile failed at the first request, running eager: BackendCompilerFailed")
    assert _compiled_blocks(pipe.transformer) == 0 and "forward" not in vars(pipe.transformer)
    info = loaded.info
    assert not info.compiled and not info.real_rope
    assert "compiled" not in info.speed.split(" (")[0] and "compile failed at the first request" in info.speed
    np.testing.assert_array_equal(_image(pipe), expected)  # later requests: eager, no retry of the compile


def test_a_compiled_call_failing_after_others_worked_reruns_that_call_eagerly(pipe, monkeypatch, caplog):
    """A new shape that cannot compile costs its calls their speed, not the image, and compile stays for the shapes
    that work. A failed compile is not cached, so calls needing a new graph run eagerly from then on instead of
    trying to compile again at every step."""
    expected = _image(pipe)
    state = {"broken": False, "attempts": 0}

    def flaky_compiler(graph, inputs):
        if state["broken"]:
            state["attempts"] += 1
            raise RuntimeError("cannot compile this shape")
        return graph.forward

    _compile_with(monkeypatch, flaky_compiler)
    speed.apply(pipe, Settings(compile=True, warmup="off"), "cpu")
    _image(pipe)  # the first request compiles and works
    state["broken"] = True
    torch._dynamo.reset()  # the next call needs new graphs, as a shape outside the compiled ones would
    with caplog.at_level(logging.WARNING, logger="zimage.speed"):
        np.testing.assert_allclose(_image(pipe), expected, atol=1e-5)
    assert "it ran eagerly, and so will any call that needs a new graph" in caplog.text
    assert speed.fallback_note(pipe.transformer) == "" and _compiled_blocks(pipe.transformer) > 0
    assert state["attempts"] == 1, "one failed attempt, not one per block call and step"
    speed.uncompile(pipe.transformer)
    assert "forward" not in vars(pipe.transformer)


def test_an_error_eager_repeats_is_the_requests_and_compile_stays(pipe, monkeypatch):
    calls = []
    forward = type(pipe.transformer).forward
    monkeypatch.setattr(type(pipe.transformer), "forward", lambda self, *a, **k: calls.append(1) or forward(self, *a, **k))
    _compile_with(monkeypatch, lambda graph, inputs: graph.forward)
    speed.apply(pipe, Settings(compile=True, warmup="off"), "cpu")
    wrong = torch.zeros(3, 5)  # not a latent: fails compiled and eagerly alike
    with pytest.raises(Exception) as info:
        pipe.transformer([wrong], torch.zeros(1), [torch.zeros(4, CONFIGS["transformer"]["cap_feat_dim"])])
    assert len(calls) == 2, "tried, then rerun eagerly, which failed the same way"
    assert "BackendCompilerFailed" not in type(info.value).__name__
    assert speed.fallback_note(pipe.transformer) == "" and _compiled_blocks(pipe.transformer) > 0


def _fast_kernel_that_fails(pipe, monkeypatch) -> None:
    """Make "auto" pick a fast kernel that diffusers accepts but that fails when it runs; native works."""
    state = {"backend": ""}

    def accept_without_running(transformer, name):
        state["backend"] = "flash" if name == "auto" else name
        return state["backend"]

    def kernel(*_):
        if state["backend"] != "native":
            raise RuntimeError("CUDA error: no kernel image is available for execution on the device")

    monkeypatch.setattr(speed, "set_attention_backend", accept_without_running)
    pipe.transformer.register_forward_pre_hook(kernel)


def test_an_attention_kernel_failing_at_warm_up_falls_back_to_native(pipe, monkeypatch):
    """diffusers accepts a backend without running it: a build with no kernel for this GPU fails only at the
    first call. The load must survive it on native attention, and say so."""
    expected = _image(pipe)
    _fast_kernel_that_fails(pipe, monkeypatch)
    report = speed.apply(pipe, Settings(attention="auto", warmup="on"), "cpu")
    assert report.attention == "native" and report.warmup_seconds is not None
    assert report.attention_note.startswith("attention kernel failed at warm-up, using native: RuntimeError")
    assert "attention kernel failed at warm-up" in report.summary()
    np.testing.assert_array_equal(_image(pipe), expected)


def test_a_kernel_failing_under_compile_costs_the_kernel_not_the_compile(pipe, monkeypatch):
    """Compile is worth far more than an attention kernel: when the warm-up fails with both, the kernel goes first,
    and compile stays if the warm-up then works."""
    _fast_kernel_that_fails(pipe, monkeypatch)
    _compile_with(monkeypatch, lambda graph, inputs: graph.forward)
    report = speed.apply(pipe, Settings(attention="auto", compile=True, warmup="on"), "cpu")
    assert report.compiled and report.compile_note == "" and report.attention == "native"
    assert report.attention_note.startswith("attention kernel failed at warm-up, using native")
    assert _compiled_blocks(pipe.transformer) > 0


def test_when_compile_was_the_culprit_the_kernel_gets_another_try(pipe, monkeypatch):
    """The kernel is blamed first; if the warm-up then still fails, compile is undone and the chosen kernel is
    tried again eagerly instead of staying on SDPA under a false note."""
    chosen: list[str] = []

    def accept(transformer, name):
        chosen.append("flash" if name == "auto" else name)
        return chosen[-1]

    def broken_compiler(graph, inputs):
        raise RuntimeError("inductor exploded")

    monkeypatch.setattr(speed, "set_attention_backend", accept)
    _compile_with(monkeypatch, broken_compiler)
    report = speed.apply(pipe, Settings(attention="auto", compile=True, warmup="on"), "cpu")
    assert chosen == ["flash", "native", "flash"]
    assert report.attention == "flash" and report.attention_note == "" and not report.compiled
    assert report.compile_note.startswith("compile failed at warm-up")


def test_after_warm_up_requests_of_new_sizes_batches_and_mixed_prompts_compile_nothing(pipe, monkeypatch):
    """Point 8 of issue 9: every graph a request needs is compiled at warm-up, masked batches included (enhanced
    variations and Ray Serve batches put prompts of different lengths in one call)."""
    from zimage.prompt_cache import prompt_embeds

    graphs: list[int] = []

    def counting_backend(module, example_inputs):  # one call per graph dynamo captures
        graphs.append(1)
        return module.forward

    _compile_with(monkeypatch, counting_backend)
    speed.apply(pipe, Settings(compile=True, warmup="off"), "cpu")
    speed.warm_up(pipe, "cpu", height=64, width=64, steps=1)
    compiled = len(graphs)

    def request(prompts: list[str], size: tuple[int, int], per_prompt: int = 1) -> None:
        with torch.inference_mode():
            pipe(prompt_embeds=prompt_embeds(pipe, prompts), width=size[0], height=size[1], num_inference_steps=2,
                 guidance_scale=0.0, num_images_per_prompt=per_prompt, output_type="latent",
                 generator=[torch.Generator("cpu").manual_seed(i) for i in range(len(prompts) * per_prompt)])

    request(["a red poster"], (96, 160))
    request(["a cat " * 20], (64, 64), per_prompt=3)
    request(MIXED_PROMPTS, (96, 96))
    request(["short", "a somewhat longer prompt " * 5, "the longest of the three prompts here " * 9], (160, 96))
    assert compiled > 0 and len(graphs) == compiled


def test_a_warm_up_out_of_memory_is_skipped_not_blamed_on_a_lever(pipe, monkeypatch, caplog):
    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(speed, "warm_up", out_of_memory)
    with caplog.at_level(logging.WARNING, logger="zimage.speed"):
        report = speed.apply(pipe, Settings(warmup="on"), "cpu")
    assert report.warmup_seconds is None and report.compile_note == "" and report.attention_note == ""
    assert "Warm-up ran out of memory at 256x256; skipped" in caplog.text


def test_a_warm_up_out_of_memory_at_full_size_retries_smaller(pipe, monkeypatch, caplog):
    sides = []

    def small_only(pipe, device, *, height, width, **kwargs):
        sides.append(height)
        if height > 256:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return 1.5

    monkeypatch.setattr(speed, "warm_up", small_only)
    with caplog.at_level(logging.WARNING, logger="zimage.speed"):
        assert speed._warm_up_or_fall_back(pipe, torch.device("cpu"), True, "native") == (1.5, "", "native", "")
    assert sides == [1024, 256] and "warming up at 256x256 instead" in caplog.text


def test_a_warm_up_failure_with_nothing_left_to_undo_fails_the_load(pipe, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the VAE is broken")

    monkeypatch.setattr(speed, "warm_up", broken)
    with pytest.raises(RuntimeError, match="the VAE is broken"):
        speed.apply(pipe, Settings(warmup="on"), "cpu")


def test_warm_up_runs_as_requests_do(pipe):
    seen = []

    def record(_module, args, kwargs):
        seen.append((torch.is_inference_mode_enabled(), len(kwargs.get("x", args[0] if args else []))))

    pipe.transformer.register_forward_pre_hook(record, with_kwargs=True)
    assert speed.warm_up(pipe, "cpu", height=64, width=64, steps=1, count=2) > 0
    assert {mode for mode, _ in seen} == {True}  # inference_mode, as zimage.generate runs requests
    assert [batch for _, batch in seen] == [1, 2, 2, 3]  # one image, a batch, then masked batches of 2 and 3


def test_no_warm_up_when_off_or_on_a_cpu_with_auto(pipe):
    calls = []
    pipe.transformer.register_forward_hook(lambda *_: calls.append(1))
    assert speed.apply(pipe, Settings(warmup="auto"), "cpu").warmup_seconds is None
    assert speed.apply(pipe, Settings(warmup="off"), "cpu").warmup_seconds is None
    assert calls == []


def test_tiny_configs_build_the_tiny_model():
    assert build_pipeline().transformer.config.dim == CONFIGS["transformer"]["dim"]
