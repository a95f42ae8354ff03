"""Cross-user batching (a replica's `serve.batch`): requests of one size, step count and shift from different
users run as one pipeline call, and every image still equals its own single run within 1/255."""

from __future__ import annotations

import numpy as np
import pytest

from zimage.request import GenerationRequest


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_each_user_gets_the_images_of_their_own_single_run(tiny_engine):
    requests = [
        GenerationRequest(prompt="a red fox in snow", width=256, height=256, seed=5, count=1, steps=3),
        GenerationRequest(prompt="一只猫坐在月光下的屋顶上，招牌写着“你好”", width=256, height=256, seed=77, count=2,
                          steps=3),
        GenerationRequest(prompt="a poster, " * 40, width=256, height=256, seed=9, count=1, steps=3),
    ]
    batched = tiny_engine.generate_many(requests)
    for request, images in zip(requests, batched):
        single = tiny_engine.generate(request)
        assert [item.request.seed for item in images] == list(range(request.seed, request.seed + request.count))
        assert [item.request.prompt for item in images] == [request.prompt] * request.count
        for mine, alone in zip(images, single):
            assert mine.image.size == (256, 256)
            assert np.abs(pixels(mine.image) - pixels(alone.image)).max() <= 1


def test_requests_of_different_shapes_are_never_mixed_in_one_call(tiny_engine):
    requests = [GenerationRequest(prompt="a", width=256, height=256, seed=1, count=1, steps=2),
                GenerationRequest(prompt="b", width=256, height=320, seed=1, count=1, steps=2)]
    with pytest.raises(ValueError, match="one size"):
        tiny_engine.generate_many(requests)
