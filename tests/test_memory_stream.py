"""The "stream" memory mode (transformer and VAE resident, text encoder group-offloaded) on the CPU.

diffusers refuses CUDA streams on the CPU, so here the same leaf-level hooks run without them (onload and offload
device both the CPU): that checks which modules are hooked, that outputs are unchanged, and that the causal LM
still writes text through the hooks. Streams, pinned memory and speed need a GPU: see bench/gpu.py's "stream"
row and the CUDA test at the end.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from zimage import memory, speed
from zimage.config import Settings
from zimage.engine import LoadedModel
from zimage.errors import ValidationError
from zimage.generate import run
from zimage.llm import ChatModel, Sampling
from zimage.model_info import ModelInfo
from zimage.request import GenerationRequest
from zimage.tiny import build_pipeline

from .test_llm import head_calls

GIB = memory.GIB
# The real model in bf16: transformer 11.5 GiB, text encoder 7.5 GiB, VAE 0.16 GiB; the largest piece the
# text encoder streams is Qwen3-4B's embedding table, 151936 x 2560 x 2 bytes.
EMBEDDING = 151936 * 2560 * 2
BF16 = memory.Footprint({"transformer": int(11.5 * GIB), "text_encoder": int(7.5 * GIB), "vae": int(0.16 * GIB)},
                        EMBEDDING)
FP32 = memory.Footprint({name: 2 * size for name, size in BF16.sizes.items()}, 2 * EMBEDDING)
# fp8 transformer (speed.fp8_filter's linears at one byte a weight): about 6.2 GiB.
FP8 = memory.Footprint({**BF16.sizes, "transformer": int(6.2 * GIB)}, EMBEDDING)
# Free VRAM of a card with its CUDA context (about 0.5 GiB) taken.
CARDS = {12: 11.5, 16: 15.5, 24: 23.5, 80: 79.5}


@pytest.mark.parametrize(("needs", "card", "expected"), [
    (BF16, 80, "full"), (BF16, 24, "full"),
    (BF16, 16, "stream"),  # 11.7 GiB resident + 2 x 0.72 GiB streamed + 2 GiB headroom = 15.1 GiB
    (BF16, 12, "sequential"),  # the transformer alone does not fit with room to run
    (FP8, 12, "stream"), (FP8, 16, "stream"), (FP8, 24, "full"),
    (FP32, 80, "full"), (FP32, 24, "sequential"), (FP32, 16, "sequential"), (FP32, 12, "sequential"),
])
def test_auto_picks_the_fastest_mode_that_fits_each_card(free_vram, needs, card, expected):
    free_vram(CARDS[card])
    assert memory.choose_memory_mode("cuda", needs) == expected


@pytest.mark.parametrize(("needs", "free_gib", "expected"), [
    (BF16, 15.2, "stream"), (BF16, 15.0, "offload"),  # the band where only whole-model offload fits
    (BF16, 13.6, "offload"), (BF16, 13.4, "sequential"),
    (FP32, 29.0, "stream"), (FP32, 26.0, "offload"),
])
def test_thresholds_come_from_the_footprint(free_vram, needs, free_gib, expected):
    # transformer + VAE + 2 x embedding table + 2 GiB: 11.5 + 0.16 + 1.45 + 2 in bf16, the weights doubled in fp32
    assert needs.stream_needs() == pytest.approx(15.11 if needs is BF16 else 28.22, abs=0.01)
    free_vram(free_gib)
    assert memory.choose_memory_mode("cuda", needs) == expected


def test_footprint_measures_the_largest_streamed_piece(pipe):
    embedding = pipe.text_encoder.get_input_embeddings().weight
    assert memory.footprint(pipe).streamed_group == embedding.numel() * embedding.element_size()
    pipe.to(torch.bfloat16)
    assert memory.footprint(pipe).streamed_group == embedding.numel() * 2


def test_stream_hooks_every_text_encoder_layer_and_nothing_else(pipe):
    memory.place(pipe, "stream", "cpu")
    assert memory.is_streamed(pipe.text_encoder)
    assert not memory.is_streamed(pipe.transformer) and not memory.is_streamed(pipe.vae)
    for name in ("transformer", "vae"):
        assert not any(hasattr(m, "_diffusers_hook") for m in getattr(pipe, name).modules()), name
    leaves = {name: module for name, module in pipe.text_encoder.named_modules()
              if isinstance(module, (torch.nn.Linear, torch.nn.Embedding))}
    assert "lm_head" in leaves and "model.embed_tokens" in leaves  # tied: the head needs its own onload
    for name, module in leaves.items():
        hook = module._diffusers_hook.get_hook("group_offloading")
        assert hook is not None and hook.group.modules == [module], name
    assert pipe.vae.use_tiling  # headroom for "stream" counts on the tiled decode, as for "offload"
    assert pipe._execution_device == torch.device("cpu")


def test_stream_on_cuda_asks_diffusers_for_pinned_streams(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "_remove_hooks", lambda module, names: calls.append(("remove", names)))

    class FakeModule:
        def to(self, device):
            calls.append(("text_encoder.to", str(device)))

    class FakePipe:
        text_encoder = FakeModule()
        vae = type("Vae", (), {"enable_tiling": lambda self: calls.append("tiling"),
                               "enable_slicing": lambda self: calls.append("slicing")})()

        def enable_group_offload(self, **options):
            calls.append(options)

        def encode_prompt(self, prompt, device, do_classifier_free_guidance):
            calls.append(("encode_prompt", str(device)))

    memory.place(FakePipe(), "stream", "cuda")
    assert calls[0] == ("text_encoder.to", "cpu") and calls[4:] == ["slicing", "tiling"]
    # The first call after hooking fixes diffusers' prefetch order: a prompt encode, which leaves the LM head out.
    assert calls[2] == ("encode_prompt", "cuda")
    assert calls[3] == ("remove", ("layer_execution_tracker",)), "the untraced head's tracker would grow forever"
    options = calls[1]
    assert options["onload_device"] == torch.device("cuda") and options["offload_device"] == torch.device("cpu")
    assert options["offload_type"] == "leaf_level"
    assert options["use_stream"] and options["record_stream"] and not options["low_cpu_mem_usage"]
    assert sorted(options["exclude_modules"]) == ["transformer", "vae"]


def _embeds(pipeline) -> list[torch.Tensor]:
    with torch.inference_mode():
        embeds, _ = pipeline.encode_prompt(["a red fox in snow", "雪中的红狐"], device="cpu",
                                           do_classifier_free_guidance=False)
    return embeds


def _identical(expected: list[torch.Tensor], actual: list[torch.Tensor]) -> bool:
    return len(expected) == len(actual) and all(torch.equal(a, b) for a, b in zip(expected, actual))


def test_prompt_embeddings_are_identical_when_streamed(pipe):
    plain = _embeds(pipe)
    memory.place(pipe, "stream", "cpu")
    for _ in range(2):  # the second call runs the hooks' steady state, after the first traced the layers
        assert _identical(plain, _embeds(pipe))


def _as_causal_lm(patch: pytest.MonkeyPatch, pipeline) -> None:
    """Give the text encoder its causal LM forward back, head included, as before prompt encodes skipped it."""
    if "forward" in vars(pipeline.text_encoder):
        patch.delattr(pipeline.text_encoder, "forward")


@pytest.mark.parametrize("mode", ["full", "stream", "offload"])
def test_prompt_encodes_skip_the_lm_head_and_keep_the_causal_lms_embeddings(pipe, monkeypatch, mode):
    head = head_calls(pipe.text_encoder)
    with monkeypatch.context() as patch:
        _as_causal_lm(patch, pipe)
        causal = _embeds(pipe)  # the full causal LM's hidden_states[-2], masked by the pipeline
    assert head  # that reference did run the head
    head.clear()
    memory.place(pipe, mode, "cpu")  # on the CPU too, each mode's hooks wrap the text encoder's forward
    for _ in range(2):
        assert _identical(causal, _embeds(pipe))
    assert head == []  # in "stream" on a GPU, that is 0.72 GiB of tied head weight not copied per prompt


def test_whole_model_offload_still_moves_the_text_encoder_for_a_prompt_encode(pipe, monkeypatch):
    memory.place(pipe, "offload", "cpu")
    hook = pipe.text_encoder._hf_hook
    moved = []

    def spy(module, *args, **kwargs):
        moved.append(module)
        return type(hook).pre_forward(hook, module, *args, **kwargs)

    monkeypatch.setattr(hook, "pre_forward", spy)
    _embeds(pipe)
    assert moved == [pipe.text_encoder]


def test_generate_works_and_matches_when_streamed(pipe):
    loaded = LoadedModel(pipe, ModelInfo(model_id="tiny", revision="", is_tiny=True))
    request = GenerationRequest(prompt="a lighthouse at dusk", width=256, height=256, steps=2, seed=7, count=2)
    pipe.vae.enable_tiling()  # as "stream" does; tiling alone changes the tiny model's pixels
    pipe.vae.enable_slicing()  # as every mode does; decoding one image at a time moves some pixels by 1
    expected = [np.asarray(image.image) for image in run(loaded, request)]
    memory.place(pipe, "stream", "cpu")
    images = run(loaded, request)
    assert [image.image.size for image in images] == [(256, 256)] * 2
    for image, reference in zip(images, expected):
        np.testing.assert_array_equal(np.asarray(image.image), reference)


@pytest.mark.parametrize("mode", ["full", "stream"])
def test_the_text_encoder_still_writes_text_with_its_head(pipe, monkeypatch, mode):
    sampling = Sampling(max_new_tokens=12, seconds=30, seed=3, temperature=0.7)
    with monkeypatch.context() as patch:
        _as_causal_lm(patch, pipe)
        before = ChatModel.from_pipeline(pipe, threading.Lock()).complete("You rewrite prompts.", "a cat", sampling)
    memory.place(pipe, mode, "cpu")
    head = head_calls(pipe.text_encoder)
    chat = ChatModel.from_pipeline(pipe, threading.Lock())
    assert chat.device() == torch.device("cpu")
    assert chat.complete("You rewrite prompts.", "a cat", sampling) == before
    assert head and set(head) == {1}  # one logit per decode step, from the head


def test_unstream_removes_the_hooks(pipe):
    plain = _embeds(pipe)
    memory.place(pipe, "stream", "cpu")
    memory.unstream(pipe.text_encoder)
    assert not memory.is_streamed(pipe.text_encoder)
    assert not any(m._diffusers_hook.hooks for m in pipe.text_encoder.modules() if hasattr(m, "_diffusers_hook"))
    assert _identical(plain, _embeds(pipe))


def test_stream_is_full_on_cpu_and_on_zero_gpu(monkeypatch, free_vram):
    assert memory.resolve_memory_mode("stream", "cpu", BF16) == "full"
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    free_vram(15.5)
    assert memory.resolve_memory_mode("stream", "cuda", BF16) == "full"
    assert memory.resolve_memory_mode("auto", "cuda", BF16) == "full"


def test_fp8_is_allowed_with_stream_and_still_refused_with_offload():
    Settings(fp8=True, compile=True, memory="stream").checked()
    with pytest.raises(ValidationError, match="'full', 'stream' or 'auto'") as info:
        Settings(fp8=True, compile=True, memory="offload").checked()
    assert info.value.code == "fp8_offload"


def test_status_line_says_what_stream_costs():
    report = speed.SpeedReport("stream", "native")
    assert report.summary().startswith("memory stream (text encoder streamed from the CPU at each prompt)")
    assert speed.SpeedReport("full", "native").summary().startswith("memory full, attention native")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="streams and pinned memory need CUDA")
def test_stream_on_cuda_matches_full_placement():
    pipeline = build_pipeline()
    pipeline.set_progress_bar_config(disable=True)
    pipeline.vae.enable_tiling()
    memory.place(pipeline, "full", "cuda")
    pipeline.vae.enable_tiling()
    with torch.inference_mode():
        full, _ = pipeline.encode_prompt("a red fox", device="cuda", do_classifier_free_guidance=False)
    pipeline.text_encoder.to("cpu")
    memory.place(pipeline, "stream", "cuda")
    assert next(pipeline.transformer.parameters()).is_cuda and next(pipeline.vae.parameters()).is_cuda
    # A decode before any prompt: the layer order diffusers prefetches in was already traced by place().
    ChatModel.from_pipeline(pipeline, threading.Lock()).complete("system", "a cat", Sampling(4, 30.0))
    head = head_calls(pipeline.text_encoder)
    for _ in range(3):  # later calls prefetch on the side stream
        with torch.inference_mode():
            streamed, _ = pipeline.encode_prompt("a red fox", device="cuda", do_classifier_free_guidance=False)
        torch.testing.assert_close(streamed[0], full[0])
    assert head == []
    trackers = [name for name, module in pipeline.text_encoder.named_modules()
                if "layer_execution_tracker" in getattr(getattr(module, "_diffusers_hook", None), "hooks", {})]
    assert trackers == [], "a tracker left on a layer records every later call into a list nothing reads"
    weights = list(pipeline.text_encoder.parameters())
    assert all(not w.is_cuda and w.is_pinned() for w in weights)  # back in pinned CPU memory between calls


def test_removing_a_hook_by_name_reaches_every_layer(pipe):
    from diffusers.hooks import HookRegistry, ModelHook

    for module in (pipe.text_encoder.lm_head, pipe.text_encoder.model.norm):
        HookRegistry.check_if_exists_or_initialize(module).register_hook(ModelHook(), "layer_execution_tracker")
    memory._remove_hooks(pipe.text_encoder, ("layer_execution_tracker",))
    left = [name for name, module in pipe.text_encoder.named_modules()
            if "layer_execution_tracker" in getattr(getattr(module, "_diffusers_hook", None), "hooks", {})]
    assert left == []
    assert pipe.text_encoder.lm_head(torch.zeros(1, pipe.text_encoder.config.hidden_size)).shape[-1] > 0
