"""The text encoder loads as a causal LM without changing the images, and writes text as a chat model."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from zimage.llm import ChatModel, Sampling, load_pipeline
from zimage.tiny import ensure_tiny_model


def image(pipe) -> np.ndarray:
    out = pipe("a red fox", width=256, height=256, num_inference_steps=2, guidance_scale=0.0,
               generator=torch.Generator("cpu").manual_seed(1))
    return np.asarray(out.images[0])


def test_the_causal_lm_text_encoder_gives_the_same_images_as_the_bare_encoder():
    from diffusers import ZImagePipeline
    from transformers import Qwen3Model

    folder = str(ensure_tiny_model())
    causal = load_pipeline(folder, torch.float32)
    bare = ZImagePipeline.from_pretrained(folder, text_encoder=Qwen3Model.from_pretrained(folder, subfolder="text_encoder"))
    assert hasattr(causal.text_encoder, "lm_head") and not hasattr(bare.text_encoder, "lm_head")
    # Tied: the head is the embedding matrix, not a second copy of it.
    assert causal.text_encoder.lm_head.weight.data_ptr() == causal.text_encoder.get_input_embeddings().weight.data_ptr()
    head_rows = head_calls(causal.text_encoder)
    assert np.array_equal(image(causal), image(bare))
    assert head_rows == []  # the pipeline reads hidden states only: the head never runs for it
    with pytest.raises(TypeError, match="load_pipeline"):
        ChatModel.from_pipeline(bare, threading.Lock())


def head_calls(text_encoder) -> list[int]:
    """Filled with the prompt positions the LM head computes logits for, one entry a call."""
    rows: list[int] = []
    text_encoder.lm_head.register_forward_hook(lambda _m, args, _out: rows.append(args[0].shape[1]))
    return rows


def test_generate_still_asks_the_head_for_one_logit_a_step(pipe):
    # transformers' generate reads the forward's signature to pass logits_to_keep; the prompt must not cost
    # logits at every position (bench/gpu.py times generate).
    rows = head_calls(pipe.text_encoder)
    ids = pipe.tokenizer("a red fox in the snow", return_tensors="pt").input_ids
    out = pipe.text_encoder.generate(ids, max_new_tokens=3, min_new_tokens=3, do_sample=False,
                                     pad_token_id=pipe.tokenizer.pad_token_id)
    assert out.shape[1] == ids.shape[1] + 3
    assert rows == [1, 1, 1]


def test_a_reader_that_stops_early_stops_the_decode_and_frees_the_model(tiny_engine):
    chat = tiny_engine.chat()
    pieces = chat.stream("system", "user", Sampling(1000, 30.0, seed=1, temperature=0.7))
    next(pieces)
    pieces.close()
    # The model is free again for the next caller long before the abandoned call's 30 s limit.
    started = time.monotonic()
    assert len(chat.complete("system", "user", Sampling(5, 30.0))) <= 5
    assert time.monotonic() - started < 10
