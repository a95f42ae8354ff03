"""`python -m zimage enhance` and `generate --enhance`, and the engine's safety filter, end to end on the tiny
model (in process, through zimage.cli.main)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.conftest import SHARED_CACHE
from tests.fake_openai import FakeOpenAI
from tests.test_safety import tiny_checker
from zimage.cli import main
from zimage.config import SafetySettings, Settings
from zimage.engine import Engine
from zimage.errors import BlockedError
from zimage.request import GenerationRequest


def test_enhance_prints_the_prompt_from_the_api(monkeypatch, capsys):
    server = FakeOpenAI()
    server.reply = "A lighthouse on a cliff at dusk, warm light in the window, oil painting."
    monkeypatch.setenv("ZIMAGE_ENHANCER_API_BASE", server.base_url)
    monkeypatch.setenv("ZIMAGE_ENHANCER_MODEL", "fake-llm")
    try:
        assert main(["enhance", "lighthouse", "--enhancer", "api", "--seed", "4", "--model", "tiny"]) == 0
    finally:
        server.shutdown()
    assert capsys.readouterr().out == server.reply + "\n" and server.requests[0]["seed"] == 4


def test_enhance_variations_on_the_local_model_print_one_prompt_each(monkeypatch, capsys):
    monkeypatch.setenv("ZIMAGE_ENHANCER_MAX_TOKENS", "20")
    assert main(["enhance", 'sign "OPEN"', "--enhancer", "local", "--variations", "2", "--model", "tiny"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count('"OPEN"') == 2 and "added back verbatim: OPEN" in captured.err


def test_auto_on_the_tiny_model_says_the_enhancer_is_off(capsys):
    assert main(["enhance", "lighthouse", "--model", "tiny"]) == 1
    assert "Error: The prompt enhancer is turned off" in capsys.readouterr().err


def test_generate_with_variations_gives_each_png_its_own_prompt_idea_and_backend(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("ZIMAGE_ENHANCER_MAX_TOKENS", "20")
    argv = ["generate", "a cat", "--enhance", "--variations", "--enhancer", "local", "--count", "2", "--seed", "10",
            "--size", "256x256", "--steps", "2", "--model", "tiny", "--out", str(tmp_path)]
    assert main(argv) == 0
    paths = capsys.readouterr().out.split()
    records = [json.loads(Image.open(path).info["zimage"]) for path in paths]
    assert [r["request"]["seed"] for r in records] == [10, 11]
    assert all(r["enhanced"]["idea"] == "a cat" and r["enhanced"]["enhancer"] == "local" for r in records)
    assert all(r["request"]["prompt"] == r["enhanced"]["enhanced_prompt"] for r in records)
    assert records[0]["request"]["prompt"] != records[1]["request"]["prompt"]
    assert [r["enhanced"]["enhance_seed"] for r in records] == [10, 11]


def test_full_safety_blocks_flagged_images_with_no_image_returned(tmp_path):
    settings = Settings(model="tiny", cache_dir=SHARED_CACHE, warmup="off",
                        safety=SafetySettings("full", tiny_checker(tmp_path / "strict", flags_everything=True)))
    with pytest.raises(BlockedError) as caught:
        Engine(settings).generate(GenerationRequest("a cat", width=256, height=256, steps=1))
    assert caught.value.code == "blocked_image"


def test_full_safety_that_cannot_load_its_checker_refuses_to_load_the_engine():
    from zimage.errors import ModelLoadError

    engine = Engine(Settings(model="tiny", cache_dir=SHARED_CACHE, warmup="off", safety=SafetySettings("full")))
    with pytest.raises(ModelLoadError, match="ZIMAGE_SAFETY=full needs the image safety checker"):
        engine.prepare_safety()
