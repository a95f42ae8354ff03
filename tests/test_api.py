"""The public /generate endpoint through gradio_client, against a launched app on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zimage.metadata import read_request
from zimage.request import GenerationRequest

from .apphost import running_app

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("api")) as url:
        yield gradio_client.Client(url, verbose=False)


def test_only_generate_and_enhance_are_public(client):
    endpoints = client.view_api(print_info=False, return_format="dict")
    assert sorted(endpoints["named_endpoints"]) == ["/enhance", "/generate"]
    assert not endpoints["unnamed_endpoints"]


def test_generate_returns_png_images_captioned_with_seeds(client):
    prompt = '店铺招牌写着"老王面馆 Noodles"'
    gallery, info = client.predict(prompt, 320, 256, 11, 3, 3, 3.0, api_name="/generate")
    assert info["seeds"] == [11, 12, 13]
    assert info["model"]["is_tiny"] is True
    assert [item["caption"] for item in gallery] == ["seed 11", "seed 12", "seed 13"]
    for seed, item in zip((11, 12, 13), gallery):
        with Image.open(item["image"]) as image:
            assert image.format == "PNG" and image.size == (320, 256)
        assert read_request(item["image"]) == GenerationRequest(prompt, width=320, height=256, seed=seed, steps=3)


def test_same_request_gives_the_same_pixels(client):
    first, _ = client.predict("lighthouse", 256, 256, 99, 1, 2, 3.0, api_name="/generate")
    second, _ = client.predict("lighthouse", 256, 256, 99, 1, 2, 3.0, api_name="/generate")
    assert np.array_equal(np.asarray(Image.open(first[0]["image"])), np.asarray(Image.open(second[0]["image"])))


@pytest.mark.parametrize("args,message", [
    (("x", 1000, 256, 1, 1, 2, 3.0), "width must be a multiple of 16"),
    (("", 256, 256, 1, 1, 2, 3.0), "A prompt is required"),
    (("x", 256, 256, -3, 1, 2, 3.0), "seed must be between 0 and 4294967295"),
    # Sliders are range-checked by Gradio itself before the handler runs, with its own clear message.
    (("x", 256, 256, 1, 20, 2, 3.0), "greater than maximum value 8"),
    (("x", 256, 256, 1, 1, 2, 99.0), "greater than maximum value 10.0"),
    (("x" * 5000, 256, 256, 1, 1, 2, 3.0), "the limit is 2000"),
])
def test_bad_input_is_a_clear_error_and_the_app_keeps_serving(client, args, message):
    with pytest.raises(gradio_client.exceptions.AppError, match=message) as caught:
        client.predict(*args, api_name="/generate")
    assert "Traceback" not in str(caught.value)
    gallery, info = client.predict("still alive", 256, 256, 1, 1, 2, 3.0, api_name="/generate")
    assert info["seeds"] == [1]
