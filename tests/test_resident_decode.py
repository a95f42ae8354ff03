"""Long decodes in the "stream" memory mode keep the text encoder resident for their duration (on the CPU here:
the hooks are the same, only without CUDA streams). What a user relies on: the same text as before, the
offload hooks intact afterwards, the transformer back where it was, and short decodes streaming as before."""

from __future__ import annotations

import threading

import pytest
import torch
from diffusers.hooks.group_offloading import ModuleGroup

from zimage import memory, resident_decode
from zimage.llm import ChatModel, Sampling
from zimage.tiny import build_pipeline

from .test_memory_stream import _embeds

LONG = Sampling(max_new_tokens=resident_decode.MIN_TOKENS, seconds=60, seed=3, temperature=0.7)
SHORT = Sampling(max_new_tokens=10, seconds=60, seed=3, temperature=0.7)


@pytest.fixture()
def streamed():
    pipe = build_pipeline()
    reference = {name: ChatModel.from_pipeline(pipe, threading.Lock()).complete("You rewrite prompts.", "a cat",
                                                                                 sampling)
                 for name, sampling in (("long", LONG), ("short", SHORT))}
    embeds = _embeds(pipe)
    memory.place(pipe, "stream", "cpu")
    return pipe, reference, embeds


def _count_onloads(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = ModuleGroup.onload_

    def counting(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(ModuleGroup, "onload_", counting)
    return calls


def test_a_long_decode_moves_each_layer_once_and_writes_the_same_text(streamed, monkeypatch):
    pipe, reference, embeds = streamed
    groups = len(resident_decode._offload_groups(pipe.text_encoder))
    onloads = _count_onloads(monkeypatch)
    chat = ChatModel.from_pipeline(pipe, threading.Lock())
    assert chat.complete("You rewrite prompts.", "a cat", LONG) == reference["long"]
    assert len(onloads) == groups, "each layer copied in once, not once a token"
    # Afterwards the hooks are as they were: the next prompt encode streams, with the same embeddings.
    assert not any("onload_" in vars(group) or "offload_" in vars(group)
                   for group in resident_decode._offload_groups(pipe.text_encoder))
    onloads.clear()
    assert all(torch.equal(a, b) for a, b in zip(_embeds(pipe), embeds))
    assert len(onloads) == groups - 1  # every layer streams again, all but the LM head, which encodes skip


def test_a_short_decode_streams_as_before(streamed, monkeypatch):
    pipe, reference, _ = streamed
    groups = len(resident_decode._offload_groups(pipe.text_encoder))
    onloads = _count_onloads(monkeypatch)
    assert ChatModel.from_pipeline(pipe, threading.Lock()).complete("You rewrite prompts.", "a cat",
                                                                    SHORT) == reference["short"]
    assert len(onloads) > 2 * groups  # every token streams the layers again


def test_a_full_gpu_makes_the_transformer_step_aside_and_come_back(streamed, monkeypatch):
    pipe, reference, _ = streamed
    moves: list[str] = []
    original = pipe.transformer.to
    monkeypatch.setattr(pipe.transformer, "to", lambda device: moves.append(str(device)) or original(device))
    monkeypatch.setattr(resident_decode, "_room", lambda p, device, size: p.transformer.to("cpu") and
                        resident_decode.MOVED)
    assert ChatModel.from_pipeline(pipe, threading.Lock()).complete("You rewrite prompts.", "a cat",
                                                                    LONG) == reference["long"]
    assert moves == ["cpu", "cpu"]  # out for the decode, back to the onload device (the CPU here) after it


def test_room_decides_from_free_memory_and_never_moves_fp8_weights(monkeypatch):
    pipe = build_pipeline()
    cuda = torch.device("cuda")
    size = 8 * memory.GIB
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (10 * memory.GIB, 16 * memory.GIB))
    assert resident_decode._room(pipe, cuda, size) == resident_decode.FITS
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (4 * memory.GIB, 16 * memory.GIB))
    pipe.transformer._zimage_fp8 = True
    assert resident_decode._room(pipe, cuda, size) is None  # the decode streams instead
    del pipe.transformer._zimage_fp8
    assert resident_decode._room(pipe, cuda, size) == resident_decode.MOVED
    assert resident_decode._room(pipe, torch.device("cpu"), size) == resident_decode.FITS


@pytest.mark.skipif(not torch.cuda.is_available(), reason="streams, pinned memory and VRAM need CUDA")
@pytest.mark.parametrize("no_room", [False, True])
def test_on_cuda_a_long_decode_matches_full_placement_and_leaves_everything_as_it_was(monkeypatch, no_room):
    if no_room:  # a 16 GB card: the transformer steps aside for the decode and must come back to the GPU
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *_: (0, 16 * memory.GIB))
    pipe = build_pipeline()
    memory.place(pipe, "full", "cuda")
    chat = ChatModel.from_pipeline(pipe, threading.Lock())
    greedy = Sampling(max_new_tokens=resident_decode.MIN_TOKENS, seconds=60)
    expected = chat.complete("You rewrite prompts.", "a cat", greedy)
    pipe.text_encoder.to("cpu")
    memory.place(pipe, "stream", "cuda")
    assert chat.complete("You rewrite prompts.", "a cat", greedy) == expected
    assert all(not w.is_cuda and w.is_pinned() for w in pipe.text_encoder.parameters())
    assert next(pipe.transformer.parameters()).is_cuda
    with torch.inference_mode():
        pipe.encode_prompt("a red fox", device="cuda", do_classifier_free_guidance=False)  # streams again
