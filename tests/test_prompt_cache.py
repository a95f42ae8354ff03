"""Prompt embeddings: encoded once per prompt, at the prompt's own length, alone, and reused by later requests."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from zimage import edit, prompt_cache
from zimage.errors import GenerationError
from zimage.request import GenerationRequest
from zimage.tiny import build_pipeline

SMALL = dict(width=256, height=256, steps=2)


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@contextlib.contextmanager
def encoder_batches(pipe):
    """The batch size of every text encoder call made inside the block."""
    seen: list[int] = []
    handle = pipe.text_encoder.register_forward_pre_hook(
        lambda _m, args, kwargs: seen.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    try:
        yield seen
    finally:
        handle.remove()


def test_a_prompt_used_again_skips_the_text_encoder_and_keeps_its_images(tiny_engine):
    pipe = tiny_engine.load().pipe
    request = GenerationRequest("cache: a lighthouse at dusk, sign reading OPEN", seed=3, count=2, **SMALL)
    with encoder_batches(pipe) as calls:
        first = tiny_engine.generate(request)
        other_seed = tiny_engine.generate(GenerationRequest(request.prompt, seed=40, count=1, **SMALL))
        again = tiny_engine.generate(request)
    assert calls == [1], "one encoder pass for the prompt, none for the requests that repeat it"
    assert pixels(other_seed[0].image).tolist() != pixels(first[0].image).tolist()
    for a, b in zip(first, again):
        assert np.array_equal(pixels(a.image), pixels(b.image))


def test_images_match_diffusers_own_prompt_encoding(tiny_engine):
    pipe = tiny_engine.load().pipe
    request = GenerationRequest("cache: 春节海报，写着“新年快乐”", seed=11, count=1, **SMALL)
    ours = tiny_engine.generate(request)[0].image
    generator = torch.Generator("cpu").manual_seed(request.seed)
    with torch.inference_mode():
        theirs = pipe(prompt=request.prompt, width=256, height=256, num_inference_steps=2, guidance_scale=0.0,
                      generator=generator).images[0]
    assert np.abs(pixels(ours) - pixels(theirs)).max() <= 1


@pytest.mark.parametrize("prompt", ["a red fox in snow", "雪中的红狐，招牌写着“你好”", "a poster, " * 300])
def test_a_prompt_encoded_at_its_own_length_equals_the_padded_encoding(pipe, prompt):
    with torch.inference_mode():
        padded, _ = pipe.encode_prompt(prompt, device="cpu", do_classifier_free_guidance=False)
        own = prompt_cache.encode(pipe, prompt)
    assert own.shape == padded[0].shape
    assert torch.allclose(own, padded[0], rtol=0, atol=1e-6)
    expected = min(len(padded[0]), prompt_cache.MAX_TOKENS)
    assert prompt_cache.token_count(pipe.tokenizer, prompt) == expected


def test_a_left_padding_tokenizer_keeps_the_full_length(pipe):
    pipe.tokenizer.padding_side = "left"
    assert prompt_cache.token_count(pipe.tokenizer, "a red fox") == prompt_cache.MAX_TOKENS


def test_a_batch_encodes_each_new_prompt_once_and_alone(tiny_engine):
    pipe = tiny_engine.load().pipe
    known = GenerationRequest("cache: batch known prompt", seed=1, count=1, **SMALL)
    tiny_engine.generate(known)
    batch = [known, GenerationRequest("cache: batch new prompt", seed=2, count=2, **SMALL),
             GenerationRequest("cache: batch new prompt", seed=9, count=1, **SMALL),
             GenerationRequest("cache: another new prompt", seed=3, count=1, **SMALL)]
    with encoder_batches(pipe) as calls:
        results = tiny_engine.generate_many(batch)
    assert calls == [1, 1]
    assert [len(images) for images in results] == [1, 2, 1, 1]


def test_the_cache_keeps_the_most_recent_prompts(pipe):
    cache = prompt_cache.PromptEmbeddings(size=2)
    with torch.inference_mode():
        for prompts in (["a"], ["b"], ["a"], ["c"]):
            cache.get(pipe, prompts)
        assert cache.encoded == 3
        cache.get(pipe, ["a", "c"])
        assert cache.encoded == 3
        cache.get(pipe, ["b"])
    assert cache.encoded == 4, "b was the least recently used when c came, so it had to be encoded again"


def test_more_new_prompts_than_the_cache_holds_still_come_back_in_order(pipe):
    cache = prompt_cache.PromptEmbeddings(size=1)
    with torch.inference_mode():
        found = cache.get(pipe, ["a", "bb", "a"])
        alone = [prompt_cache.encode(pipe, p) for p in ("a", "bb", "a")]
    assert [torch.equal(x, y) for x, y in zip(found, alone)] == [True, True, True]


def test_an_edit_reuses_the_prompt_of_the_image_it_edits(tiny_engine):
    from tests.test_edit import source

    pipe = tiny_engine.load().pipe
    request = GenerationRequest("cache: a blue door", width=320, height=256, seed=4, count=1, steps=2)
    tiny_engine.generate(request)
    with encoder_batches(pipe) as calls:
        images = edit.run(pipe, GenerationRequest(request.prompt, width=320, height=256, seed=4, count=1, steps=2,
                                                  strength=0.5), source())
    assert calls == [] and images[0].size == (320, 256)
    assert edit.edit_pipeline(pipe, edit.IMG2IMG).text_encoder is pipe.text_encoder


def test_a_failed_encode_is_reported_kept_nowhere_and_the_next_request_works(tiny_engine, monkeypatch):
    pipe = tiny_engine.load().pipe
    real = pipe.text_encoder.forward

    def out_of_memory(*args, **kwargs):
        monkeypatch.setattr(pipe.text_encoder, "forward", real)
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(pipe.text_encoder, "forward", out_of_memory)
    request = GenerationRequest("cache: a failing prompt", seed=1, count=1, **SMALL)
    with pytest.raises(GenerationError, match="Out of GPU memory"):
        tiny_engine.generate(request)
    with encoder_batches(pipe) as calls:
        assert tiny_engine.generate(request)[0].image.size == (256, 256)
    assert calls == [1], "the failed prompt was not kept, so it is encoded again"


def test_a_run_leaves_the_kept_embeddings_as_they_were(tiny_engine):
    pipe = tiny_engine.load().pipe
    request = GenerationRequest("cache: untouched embeddings", seed=1, count=2, **SMALL)
    tiny_engine.generate(request)
    with torch.inference_mode():
        kept = prompt_cache.prompt_embeds(pipe, [request.prompt])[0].clone()
    tiny_engine.generate(request)
    with torch.inference_mode():
        assert torch.equal(prompt_cache.prompt_embeds(pipe, [request.prompt])[0], kept)


def test_another_text_encoder_has_its_own_cache():
    first, second = build_pipeline(), build_pipeline()
    assert prompt_cache.cache_for(first) is prompt_cache.cache_for(first)
    assert prompt_cache.cache_for(first) is not prompt_cache.cache_for(second)
