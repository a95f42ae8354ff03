"""Saving outputs: lossless PNGs that keep their settings, light previews, parallel and in order."""

from __future__ import annotations

import numpy as np
from PIL import Image

from zimage import outputs
from zimage.metadata import read_request
from zimage.model_info import ModelInfo
from zimage.request import GenerationRequest
from zimage.runner import GeneratedImage


def _items(count=3, seed=5):
    request = GenerationRequest(prompt="灯笼 lanterns", width=256, height=256, seed=seed, count=count)
    rng = np.random.default_rng(0)
    model = ModelInfo(model_id="tiny", revision="none")
    return [GeneratedImage(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), request.single(i),
                           model) for i in range(count)]


def test_pngs_are_lossless_with_settings_and_previews_are_jpeg(tmp_path):
    items = _items()
    saved = outputs.save_previews_first(items, tmp_path)
    for entry in saved:
        outputs.wait_written(entry.path)
    assert [s.request for s in saved] == [i.request for i in items]  # order kept
    for entry, item in zip(saved, items):
        with Image.open(entry.path) as png:
            assert png.format == "PNG"
            np.testing.assert_array_equal(np.asarray(png), np.asarray(item.image))
        assert read_request(entry.path) == item.request
        with Image.open(entry.preview) as preview:
            assert preview.format == "JPEG" and preview.size == item.image.size


def test_same_seed_twice_gets_two_files(tmp_path):
    items = _items(count=1) * 2
    saved = outputs.save(items, tmp_path)
    assert len({s.path for s in saved}) == 2 and all(Image.open(s.path).size == (64, 64) for s in saved)


def test_faster_level_keeps_pixels():
    item = _items(count=1)[0]
    fast, default = outputs.png_bytes(item, level=1), outputs.png_bytes(item, level=6)
    from io import BytesIO
    assert np.array_equal(np.asarray(Image.open(BytesIO(fast))), np.asarray(Image.open(BytesIO(default))))
