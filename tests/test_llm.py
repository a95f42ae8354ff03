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
    head_rows = []  # prompt positions the LM head computes logits for, per call
    causal.text_encoder.lm_head.register_forward_hook(lambda _m, args, _out: head_rows.append(args[0].shape[1]))
    assert np.array_equal(image(causal), image(bare))
    assert head_rows == [1]  # the pipeline reads hidden states only: no logits over the whole prompt
    with pytest.raises(TypeError, match="load_pipeline"):
        ChatModel.from_pipeline(bare, threading.Lock())


def test_a_reader_that_stops_early_stops_the_decode_and_frees_the_model(tiny_engine):
    chat = tiny_engine.chat()
    pieces = chat.stream("system", "user", Sampling(1000, 30.0, seed=1, temperature=0.7))
    next(pieces)
    pieces.close()
    # The model is free again for the next caller long before the abandoned call's 30 s limit.
    started = time.monotonic()
    assert len(chat.complete("system", "user", Sampling(5, 30.0))) <= 5
    assert time.monotonic() - started < 10
