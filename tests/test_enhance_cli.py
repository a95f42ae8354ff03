"""The CLI's enhance command and generate --enhance, as functions ready for zimage.cli to call."""

from __future__ import annotations

import argparse

import pytest

from tests.conftest import SHARED_CACHE
from tests.fake_openai import FakeOpenAI
from zimage.config import EnhancerSettings, Settings
from zimage.enhance import build_enhancer
from zimage.enhance_cli import add_enhance_command, enhanced_requests, run_enhance
from zimage.request import GenerationRequest

TINY = Settings(model="tiny", cache_dir=SHARED_CACHE, warmup="off")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_enhance_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(["enhance", *argv])


def test_enhance_prints_the_prompt_from_the_api(monkeypatch, capsys):
    server = FakeOpenAI()
    server.reply = "A lighthouse on a cliff at dusk, warm light in the window, oil painting."
    monkeypatch.setenv("ZIMAGE_ENHANCER_API_BASE", server.base_url)
    monkeypatch.setenv("ZIMAGE_ENHANCER_MODEL", "fake-llm")
    try:
        assert run_enhance(parse("lighthouse", "--enhancer", "api", "--seed", "4"), TINY) == 0
    finally:
        server.shutdown()
    assert capsys.readouterr().out == server.reply + "\n" and server.requests[0]["seed"] == 4


def test_enhance_variations_on_the_local_model_print_one_prompt_each(monkeypatch, capsys):
    monkeypatch.setenv("ZIMAGE_ENHANCER_MAX_TOKENS", "20")
    assert run_enhance(parse('sign "OPEN"', "--enhancer", "local", "--variations", "2"), TINY) == 0
    captured = capsys.readouterr()
    assert captured.out.count('"OPEN"') == 2 and "added back verbatim: OPEN" in captured.err


def test_auto_on_the_tiny_model_says_the_enhancer_is_off():
    from zimage.errors import EnhanceError

    with pytest.raises(EnhanceError, match="ZIMAGE_ENHANCER=local or api"):
        run_enhance(parse("lighthouse"), TINY)


def test_generate_with_variations_gives_each_image_its_own_prompt_and_seed(tiny_engine):
    from zimage.llm import ChatModel

    chat = ChatModel.from_pipeline(tiny_engine.load().pipe, tiny_engine.run_lock)
    enhancer = build_enhancer(EnhancerSettings(backend="local", max_new_tokens=20), chat, False)
    batch = GenerationRequest("a cat", seed=10, count=3, width=256, height=256)
    varied = enhanced_requests(enhancer, batch, variations=True)
    assert [(r.seed, r.count) for r, _ in varied] == [(10, 1), (11, 1), (12, 1)]
    assert len({r.prompt for r, _ in varied}) == 3
    assert all(r.prompt == e.prompt and e.idea == "a cat" for r, e in varied)
    [(single, result)] = enhanced_requests(enhancer, batch, variations=False)
    assert single.count == 3 and single.prompt == result.prompt == varied[0][0].prompt
