"""The public /generate endpoint through gradio_client, against a launched app on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zimage.metadata import read_request, read_text_check
from zimage.request import GenerationRequest

from .apphost import running_app
from .test_textcheck import render

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("api")) as url:
        yield gradio_client.Client(url, verbose=False)


def test_only_generate_and_check_text_are_public(client):
    endpoints = client.view_api(print_info=False, return_format="dict")
    assert list(endpoints["named_endpoints"]) == ["/generate", "/check_text"]
    assert not endpoints["unnamed_endpoints"]


def test_generate_returns_png_images_captioned_with_seeds(client):
    prompt = "a noodle shop sign at night"
    gallery, info = client.predict(prompt, 320, 256, 11, 3, 3, 3.0, api_name="/generate")
    assert info["seeds"] == [11, 12, 13]
    assert info["model"]["is_tiny"] is True
    assert [item["caption"] for item in gallery] == ["seed 11", "seed 12", "seed 13"]
    assert info["text_checks"] == [None, None, None] and info["best_seed"] is None  # nothing quoted, no OCR
    for seed, item in zip((11, 12, 13), gallery):
        with Image.open(item["image"]) as image:
            assert image.format == "PNG" and image.size == (320, 256)
        assert read_request(item["image"]) == GenerationRequest(prompt, width=320, height=256, seed=seed, steps=3)


def test_quoted_text_gets_a_verdict_per_image_best_first(client):
    prompt = '店铺招牌写着"老王面馆 Noodles"'
    gallery, info = client.predict(prompt, 320, 256, 11, 3, 3, 3.0, api_name="/generate")
    assert sorted(info["seeds"]) == [11, 12, 13]
    checks = info["text_checks"]
    # Random weights draw noise, so the sign's text is missing from every image, and each verdict says so.
    assert [check["missing"][0]["text"] for check in checks] == ["老王面馆 Noodles"] * 3
    assert all(check["ocr"].startswith("rapidocr-onnxruntime 1.4.4") for check in checks)
    assert info["best_seed"] == info["seeds"][0]
    assert gallery[0]["caption"] == f"★ seed {info['seeds'][0]} ✗ 0/1"
    assert [item["caption"] for item in gallery[1:]] == [f"seed {seed} ✗ 0/1" for seed in info["seeds"][1:]]
    for seed, item in zip(info["seeds"], gallery):
        assert read_text_check(item["image"]).missing == ("老王面馆 Noodles",)  # recorded in the PNG too
        assert read_request(item["image"]).seed == seed


def test_check_text_reads_an_uploaded_image(client, tmp_path):
    path = tmp_path / "poster.png"
    render(["新年快乐", "HAPY NEW YEAR"]).save(path)
    verdict = client.predict(handle_file(str(path)), "新年快乐\nHappy New Year", api_name="/check_text")
    assert verdict["found"] == ["新年快乐"] and verdict["missing"][0]["text"] == "Happy New Year"
    assert verdict["missing"][0]["read_instead"].startswith("HAPY") and verdict["expected_from"] == "expect"
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(gradio_client.exceptions.AppError, match="as an image"):
        client.predict(handle_file(str(bad)), "x", api_name="/check_text")


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
