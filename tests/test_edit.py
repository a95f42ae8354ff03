"""Restyle and fix-a-region on the tiny model: sizes, seeds, progress, Stop, and the untouched outside."""

from __future__ import annotations

import io


import numpy as np
import pytest
from PIL import Image

from zimage import edit
from zimage.cancel import CancelToken
from zimage.errors import CancelledError, ValidationError
from zimage.images import load_source
from zimage.masks import band, prepare_mask
from zimage.request import GenerationRequest

W, H = 320, 256


def source(size=(W, H), seed: int = 0):
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return load_source(buffer.getvalue())


def request(strength: float = 0.6, count: int = 1, seed: int = 7, steps: int = 4, size=(W, H)) -> GenerationRequest:
    return GenerationRequest("a red bicycle", width=size[0], height=size[1], seed=seed, count=count,
                             steps=steps, strength=strength)


def box_mask(size=(W, H), blur: int = 4):
    array = np.zeros((size[1], size[0]), dtype=np.uint8)
    array[size[1] // 3: size[1] // 2, size[0] // 4: size[0] // 2] = 255
    return prepare_mask(Image.fromarray(array), size, blur)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=int)


def test_edit_pipelines_share_the_loaded_weights(tiny_engine):
    pipe = tiny_engine.load().pipe
    for kind in (edit.IMG2IMG, edit.INPAINT):
        built = edit.edit_pipeline(pipe, kind)
        assert built is edit.edit_pipeline(pipe, kind)  # cached
        for name in ("transformer", "text_encoder", "vae"):
            assert getattr(built, name) is getattr(pipe, name)
        assert built.transformer.dtype == pipe.transformer.dtype


def test_restyle_keeps_the_image_size_and_seed_batches_match_single_runs(tiny_engine):
    pipe, src = tiny_engine.load().pipe, source()
    batch = edit.run(pipe, request(0.6, count=2), src)
    assert [image.size for image in batch] == [(W, H), (W, H)]
    second = edit.run(pipe, request(0.6, count=1, seed=8), src)[0]
    assert np.array_equal(pixels(batch[1]), pixels(second))
    assert np.abs(pixels(batch[0]) - pixels(batch[1])).max() > 0


def test_strength_changes_how_far_the_result_moves_from_the_source(tiny_engine):
    pipe, src = tiny_engine.load().pipe, source()
    near = np.abs(pixels(edit.run(pipe, request(0.25), src)[0]) - pixels(src.image)).mean()
    far = np.abs(pixels(edit.run(pipe, request(1.0), src)[0]) - pixels(src.image)).mean()
    assert near < far


def test_progress_counts_the_steps_the_strength_leaves_across_the_batch(tiny_engine):
    seen: list[tuple[int, int]] = []
    edit.run(tiny_engine.load().pipe, request(0.5, steps=8, count=2), source(),
             progress=lambda i, n: seen.append((i, n)))
    assert seen == [(i, 8) for i in range(1, 9)]


@pytest.mark.parametrize("strength,code", [(1.5, "out_of_range"), (-0.1, "out_of_range"), (0, "strength_low"),
                                           ("abc", "not_number")])
def test_bad_strength_is_one_clear_error(tiny_engine, strength, code):
    with pytest.raises(ValidationError) as caught:
        edit.run(tiny_engine.load().pipe, request(strength), source())
    assert caught.value.code == code


def test_a_text_to_image_request_is_not_an_edit(tiny_engine):
    plain = GenerationRequest("a red bicycle", width=W, height=H, steps=4)
    with pytest.raises(ValidationError) as caught:
        edit.run(tiny_engine.load().pipe, plain, source())
    assert caught.value.code == "edit_strength_missing"


def test_fix_a_region_leaves_everything_outside_the_band_identical(tiny_engine):
    pipe, src, mask = tiny_engine.load().pipe, source(), box_mask()
    results = edit.run(pipe, request(1.0, count=2), src, mask=mask)
    outside = ~band(mask)
    for result in results:
        difference = np.abs(pixels(result) - pixels(src.image)).max(axis=-1)
        assert difference[outside].max() == 0
        assert difference[np.asarray(mask.shape) > 0].max() > 0  # the region itself was repainted


def test_fix_a_region_on_an_odd_sized_image_returns_it_at_its_own_size(tiny_engine):
    src = source(size=(300, 250))
    mask = box_mask(size=(300, 250))
    working = edit.edit_size(src)
    assert working == (304, 256)
    result = edit.run(tiny_engine.load().pipe, request(1.0, size=working), src, mask=mask)[0]
    assert result.size == (300, 250)
    assert np.abs(pixels(result) - pixels(src.image)).max(axis=-1)[~band(mask)].max() == 0


def test_stop_interrupts_and_the_next_edit_works(tiny_engine):
    pipe, cancel = tiny_engine.load().pipe, CancelToken()
    cancel.set()
    with pytest.raises(CancelledError):
        edit.run(pipe, request(), source(), cancel=cancel)
    assert edit.run(pipe, request(), source())[0].size == (W, H)


def test_an_edit_does_not_change_text_to_image(tiny_engine):
    plain = GenerationRequest("a red bicycle", width=256, height=256, steps=3)
    before = pixels(tiny_engine.generate(plain)[0].image)
    edit.run(tiny_engine.load().pipe, request(), source(), mask=box_mask())
    assert np.array_equal(before, pixels(tiny_engine.generate(plain)[0].image))
