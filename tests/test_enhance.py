"""The prompt enhancer: language, quoted text, determinism, limits, Stop, and the api backend's failures."""

from __future__ import annotations

import threading
import time

import pytest

from tests.fake_openai import FakeOpenAI
from zimage import i18n
from zimage.assets import load_text
from zimage.config import EnhancerSettings
from zimage.enhance import Enhancer, build_enhancer
from zimage.errors import CancelledError, EnhanceError, ValidationError
from zimage.generate import GeneratedImage
from zimage.quotes import missing_spans, quoted_spans
from zimage.request import GenerationRequest


@pytest.fixture
def server():
    fake = FakeOpenAI()
    yield fake
    fake.shutdown()


def api_enhancer(server: FakeOpenAI, timeout: float = 5.0) -> Enhancer:
    settings = EnhancerSettings(backend="api", api_base=server.base_url, api_key="sk-test", api_model="fake-llm",
                                max_new_tokens=200, timeout=timeout).checked()
    return build_enhancer(settings, chat=None, real_weights=False)


def local_enhancer(engine, tokens: int = 24, timeout: float = 20.0) -> Enhancer:
    chat = engine.chat()
    return build_enhancer(EnhancerSettings(backend="local", max_new_tokens=tokens, timeout=timeout), chat, False)


def test_quoted_spans_cover_straight_curly_and_cjk_quotes_but_not_apostrophes():
    idea = 'a sign saying "OPEN" next to “Café Luna”, 招牌写着「欢迎光临」, don\'t smile'
    assert [q.text for q in quoted_spans(idea)] == ["OPEN", "Café Luna", "欢迎光临"]
    assert [q.text for q in missing_spans(idea, "A sign “OPEN” by a café, 欢迎光临 in red")] == ["Café Luna"]


def test_api_streams_a_prompt_in_the_ideas_language_with_the_settings_sent(server):
    server.reply = "一只橘猫坐在窗台上，阳光洒落，招牌写着“欢迎光临”，暖色调摄影。"
    updates = list(api_enhancer(server).stream("橘猫，招牌“欢迎光临”", seed=7))
    assert [u.done for u in updates] == [False] * (len(updates) - 1) + [True]
    assert updates[-1].prompt == server.reply and updates[-1].repaired == ()
    assert updates[-1].metadata() == {"idea": "橘猫，招牌“欢迎光临”", "enhanced_prompt": server.reply,
                                      "enhancer": "api:fake-llm", "enhance_seed": 7}
    sent = server.requests[-1]
    assert sent["auth"] == "Bearer sk-test" and sent["model"] == "fake-llm" and sent["seed"] == 7
    assert sent["max_tokens"] == 200 and sent["stream"] is True
    assert sent["messages"] == [{"role": "system", "content": load_text("prompts/enhance.zh.txt")},
                                {"role": "user", "content": "橘猫，招牌“欢迎光临”"}]


def test_a_dropped_quoted_span_is_put_back_verbatim_and_reported(server):
    server.reply = "A neon sign above a bar at night, pink glow."
    result = api_enhancer(server).enhance('neon sign "Open 24/7" and “Last Call”', seed=1)
    assert '"Open 24/7"' in result.prompt and "“Last Call”" in result.prompt
    assert result.prompt.startswith(server.reply) and result.repaired == ("Open 24/7", "Last Call")


def test_same_idea_and_seed_give_the_same_text(server):
    enhancer = api_enhancer(server)
    first = enhancer.enhance("a red fox", seed=3)
    server.reply = "Something else entirely."
    assert enhancer.enhance("a red fox", seed=3).prompt == first.prompt
    assert enhancer.enhance("a red fox", seed=4).prompt == "Something else entirely."


@pytest.mark.parametrize("mode,code,words", [
    ("error", "enhance_http", "HTTP 500"),
    ("garbage", "enhance_garbage", "could not be read"),
    ("html", "enhance_garbage", "no usable text"),
])
def test_a_broken_endpoint_gives_one_clear_message_and_the_next_call_works(server, mode, code, words):
    enhancer = api_enhancer(server)
    server.mode = mode
    with pytest.raises(EnhanceError) as caught:
        enhancer.enhance("a lighthouse", seed=1)
    assert caught.value.code == code and words in str(caught.value) and "idea was left as it is" in str(caught.value)
    assert "想法保持不变" in i18n.error_message(caught.value, "zh")
    server.mode = "ok"
    assert enhancer.enhance("a lighthouse", seed=1).prompt == server.reply


def test_a_slow_endpoint_times_out_within_the_limit(server):
    server.mode, server.delay = "slow", 5.0
    started = time.monotonic()
    with pytest.raises(EnhanceError) as caught:
        api_enhancer(server, timeout=0.5).enhance("a lighthouse")
    assert time.monotonic() - started < 3.0
    assert caught.value.code == "enhance_timeout" and "0.5 s" in str(caught.value)


def test_an_endpoint_that_is_down_is_reported(server):
    base = server.base_url
    server.shutdown()
    server.server_close()
    settings = EnhancerSettings(backend="api", api_base=base, api_model="m", timeout=2.0)
    with pytest.raises(EnhanceError) as caught:
        build_enhancer(settings, None, False).enhance("a lighthouse")
    assert caught.value.code == "enhance_unreachable"


def test_stop_cancels_between_chunks(server):
    server.reply = "word " * 200
    stop = threading.Event()
    with pytest.raises(CancelledError):
        for update in api_enhancer(server).stream("a lighthouse", cancel=stop.is_set):
            stop.set()


def test_settings_are_checked_and_auto_picks_a_backend(monkeypatch):
    monkeypatch.setenv("ZIMAGE_ENHANCER", "api")
    with pytest.raises(ValidationError, match="ZIMAGE_ENHANCER_API_BASE"):
        EnhancerSettings.from_env()
    monkeypatch.setenv("ZIMAGE_ENHANCER", "gpt")
    with pytest.raises(ValidationError, match="Unknown enhancer 'gpt'"):
        EnhancerSettings.from_env()
    assert EnhancerSettings().resolved(real_weights=True) == "local"
    assert EnhancerSettings().resolved(real_weights=False) == "off"
    assert EnhancerSettings(api_base="http://127.0.0.1:1/v1", api_model="m").resolved(True) == "api"
    assert build_enhancer(EnhancerSettings(backend="off"), None, True) is None


def test_ideas_are_validated_like_prompts(server):
    enhancer = api_enhancer(server)
    for idea, code in [("", "prompt_missing"), ("x" * 1001, "prompt_long"), ("a\x00b", "prompt_control")]:
        with pytest.raises(ValidationError) as caught:
            enhancer.enhance(idea)
        assert caught.value.code == code
    assert server.requests == []


def test_local_enhancer_is_deterministic_bounded_and_keeps_quotes(tiny_engine):
    idea = 'a poster with the title "HELLO 世界"'
    first = local_enhancer(tiny_engine).enhance(idea, seed=5)
    again = local_enhancer(tiny_engine).enhance(idea, seed=5)  # a fresh enhancer: no cache involved
    other = local_enhancer(tiny_engine).enhance(idea, seed=6)
    assert first.prompt == again.prompt and first.prompt != other.prompt and first.backend == "local"
    assert '"HELLO 世界"' in first.prompt  # the tiny model writes gibberish, so the span was put back
    # The tiny tokenizer has one token per byte: 24 new tokens are at most 24 characters before the repair.
    assert len(first.prompt.split("画面中的文字")[0]) <= 24


def test_local_enhancer_streams_and_stops(tiny_engine):
    updates = list(local_enhancer(tiny_engine, tokens=200).stream("a cat", seed=1))
    assert len(updates) > 2 and updates[-1].done and not any(u.done for u in updates[:-1])
    stop = threading.Event()
    with pytest.raises(CancelledError):
        for _ in local_enhancer(tiny_engine, tokens=1000).stream("a cat", seed=2, cancel=stop.is_set):
            stop.set()


def test_local_enhancer_stops_at_its_time_limit(tiny_engine):
    started = time.monotonic()
    local_enhancer(tiny_engine, tokens=1024, timeout=0.3).enhance("a cat", seed=1)
    assert time.monotonic() - started < 3.0


def test_a_generation_waits_for_at_most_one_enhancer_call(tiny_engine):
    """Three variations are three bounded calls; a generation started during the first finishes before the
    last, because the model is handed over between calls rather than held for the whole batch."""
    enhancer = local_enhancer(tiny_engine, tokens=1024, timeout=1.0)
    finished: dict[str, float] = {}
    underway = threading.Event()

    def variations() -> None:
        enhancer.variations("a cat", seed=11, count=3, cancel=lambda: underway.set() or False)
        finished["variations"] = time.monotonic()

    worker = threading.Thread(target=variations)
    worker.start()
    underway.wait(10)
    images = tiny_engine.generate(GenerationRequest("a cat", width=256, height=256, steps=1))
    finished["generation"] = time.monotonic()
    worker.join(30)
    assert isinstance(images[0], GeneratedImage) and finished["generation"] < finished["variations"]
