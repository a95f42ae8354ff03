"""The public /generate endpoint through gradio_client, against a launched app on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zimage.metadata import read_request, read_text_check
from zimage.request import GenerationRequest

from devtools.apphost import running_app

from .test_textcheck import render

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("api")


@pytest.fixture(scope="module")
def app_url(app_dir):
    with running_app(app_dir) as url:
        yield url


@pytest.fixture(scope="module")
def client(app_url):
    return gradio_client.Client(app_url, verbose=False)


@pytest.fixture
def app_log(app_dir):
    return next(app_dir.glob("app-*.log"))


def test_only_the_api_endpoints_are_public(client):
    endpoints = client.view_api(print_info=False, return_format="dict")
    assert sorted(endpoints["named_endpoints"]) == ["/check_text", "/edit", "/enhance", "/generate"]
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
    (("x", 1000, 256, 1, 1, 2, 3.0), "width must be a multiple of 16, got 1000."),
    (("", 256, 256, 1, 1, 2, 3.0), "A prompt is required."),
    (("x", 256, 256, -3, 1, 2, 3.0), "seed must be between 0 and 4294967295, got -3."),
    (("x", 256, 256, 1, 99, 2, 3.0), "count must be between 1 and 8, got 99."),
    (("x", 256, 256, 1, 1, 2, 99.0), "shift must be between 1.0 and 10.0, got 99.0."),
    (("x" * 5000, 256, 256, 1, 1, 2, 3.0), "The prompt has 5000 characters; the limit is 2000."),
    # Wrong types reach our validation too, not Gradio's preprocessing.
    (("x", 256, 256, "abc", 1, 2, 3.0), "seed must be a number, got 'abc'."),
    (("x", 256, 256, 1, 1, None, 3.0), "steps must be a number, got None."),
    (("x", 256, 256, 1, 1.5, 2, 3.0), "count must be a whole number, got 1.5."),
    (("x", [256], 256, 1, 1, 2, 3.0), "width must be a number, got [256]."),
    ((["x"], 256, 256, 1, 1, 2, 3.0), "The prompt must be text."),
])
def test_bad_input_is_one_clear_line_and_the_app_keeps_serving(client, args, message):
    with pytest.raises(gradio_client.exceptions.AppError) as caught:
        client.predict(*args, api_name="/generate")
    assert str(caught.value) == message
    gallery, info = client.predict("still alive", 256, 256, 1, 1, 2, 3.0, api_name="/generate")
    assert info["seeds"] == [1]


def test_schema_is_typed_named_and_described(client):
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/generate"]
    params = {p["parameter_name"]: p for p in endpoint["parameters"]}
    # LoRAs and variations came later: optional trailing parameters, so positional callers keep working.
    assert list(params) == ["prompt", "width", "height", "seed", "count", "steps", "shift", "loras", "variations"]
    assert {name: p["type"]["type"] for name, p in params.items()} == {
        "prompt": "string", "width": "integer", "height": "integer", "seed": "integer", "count": "integer",
        "steps": "integer", "shift": "number", "loras": "string", "variations": "boolean"}
    assert params["loras"]["parameter_has_default"] and params["loras"]["parameter_default"] == ""
    assert params["variations"]["parameter_has_default"]
    assert all(p["type"]["description"] for p in params.values())
    assert params["steps"]["parameter_default"] == 8 and "tuned for 8" in params["steps"]["type"]["description"]
    assert [r["label"] for r in endpoint["returns"]] == ["images", "info"]


def test_errors_follow_the_callers_language(app_url):
    zh = gradio_client.Client(app_url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    with pytest.raises(gradio_client.exceptions.AppError) as caught:
        zh.predict("x", 1000, 256, 1, 1, 2, 3.0, api_name="/generate")
    assert str(caught.value) == "宽度必须是 16 的倍数，当前为 1000。"


def test_bad_input_leaves_no_traceback_in_the_server_log(client, app_log):
    with pytest.raises(gradio_client.exceptions.AppError):
        client.predict("x", 256, 256, "abc", 1, 2, 3.0, api_name="/generate")
    assert "Traceback" not in app_log.read_text()


def test_keyword_call_takes_the_documented_defaults_and_reports_a_real_model_hash(client):
    gallery, info = client.predict(prompt="defaults", width=256, height=256, steps=2, api_name="/generate")
    assert info["seeds"] == [42] and info["steps"] == 2 and info["shift"] == 3.0 and len(gallery) == 1
    model_hash = info["model"]["model_hash"]
    assert len(model_hash) == 10 and int(model_hash, 16) >= 0
    assert f"Model hash: {model_hash}" in Image.open(gallery[0]["image"]).info["parameters"]
