"""Masks and the composite: outside the mask and its feather band, the original comes back pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zimage.errors import ValidationError
from zimage.masks import Mask, combine_layers, composite, model_mask, prepare_mask

SIZE = (96, 64)


def noise(seed: int, size=SIZE) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def square_mask(blur: int, box=(30, 20, 60, 40)) -> Mask:
    array = np.zeros((SIZE[1], SIZE[0]), dtype=np.uint8)
    array[box[1]:box[3], box[0]:box[2]] = 255
    return prepare_mask(Image.fromarray(array), SIZE, blur)


def near_mask(mask: Mask, radius: int) -> np.ndarray:
    """Pixels within `radius` (Chebyshev) of a mask pixel, by brute-force shifting: independent of masks.dilate."""
    inside = np.asarray(mask.shape) > 0
    padded = np.pad(inside, radius)
    out = np.zeros_like(inside)
    height, width = inside.shape
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy:dy + height, dx:dx + width]
    return out


@pytest.mark.parametrize("blur", [0, 1, 4, 9])
def test_pixels_beyond_the_feather_band_are_identical(blur):
    original, generated = noise(1), noise(2)
    mask = square_mask(blur)
    result = np.asarray(composite(original, generated, mask), dtype=int)
    outside = ~near_mask(mask, blur)
    difference = np.abs(result - np.asarray(original, dtype=int)).max(axis=-1)
    assert outside.sum() > 0 and difference[outside].max() == 0
    # ...and the mask's own centre is the generated image.
    assert np.array_equal(result[28:32, 40:50], np.asarray(generated)[28:32, 40:50])


def test_the_feather_makes_a_gradual_edge():
    original = Image.new("RGB", SIZE, (0, 0, 0))
    generated = Image.new("RGB", SIZE, (255, 255, 255))
    row = np.asarray(composite(original, generated, square_mask(8)))[30, :, 0].astype(int)
    edge = row[22:38]  # across the left edge at x=30
    assert edge[0] == 0 and edge[-1] == 255 and len(set(edge.tolist())) > 5
    assert np.all(np.diff(edge) >= 0)


def test_a_result_at_another_size_is_scaled_back_to_the_original():
    original = noise(1)
    result = composite(original, noise(2, (128, 80)), square_mask(4))
    assert result.size == original.size


def test_a_painted_layer_is_a_mask():
    layer = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    layer.paste((255, 0, 0, 255), (10, 10, 20, 20))
    mask = prepare_mask(combine_layers([layer, Image.new("RGBA", SIZE, (0, 0, 0, 0))], SIZE), SIZE)
    assert np.asarray(mask.shape).sum() == 100 * 255


def test_an_opaque_black_and_white_upload_is_a_mask():
    upload = Image.new("RGB", SIZE, "black")
    upload.paste((255, 255, 255), (0, 0, 8, 8))
    assert np.asarray(prepare_mask(upload, SIZE).shape).sum() == 64 * 255


def test_a_drawn_and_an_uploaded_copy_of_one_shape_hash_alike():
    layer = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    layer.paste((9, 9, 9, 255), (10, 10, 20, 20))
    upload = Image.new("L", SIZE, 0)
    upload.paste(255, (10, 10, 20, 20))
    assert prepare_mask(layer, SIZE).sha256 == prepare_mask(upload, SIZE).sha256


def test_an_empty_mask_is_refused():
    with pytest.raises(ValidationError) as caught:
        prepare_mask(Image.new("RGBA", SIZE, (0, 0, 0, 0)), SIZE)
    assert caught.value.code == "mask_empty"
    with pytest.raises(ValidationError):
        combine_layers([], SIZE)


def test_a_mask_of_the_wrong_size_is_refused_with_both_sizes():
    with pytest.raises(ValidationError) as caught:
        prepare_mask(Image.new("L", (50, 50), 255), SIZE)
    assert caught.value.code == "mask_size" and "50x50" in str(caught.value) and "96x64" in str(caught.value)


def test_mask_blur_outside_its_range_is_refused():
    with pytest.raises(ValidationError) as caught:
        prepare_mask(Image.new("L", SIZE, 255), SIZE, blur=65)
    assert caught.value.code == "out_of_range"


def test_the_model_repaints_at_least_the_feather_band_even_when_scaled():
    mask = square_mask(4)
    repainted = np.asarray(model_mask(mask, (48, 32)).resize(SIZE, Image.Resampling.NEAREST)) > 0
    assert repainted[near_mask(mask, 4)].all()
