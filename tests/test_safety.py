"""The safety filter: settings, the text encoder's yes/no verdict, the image checker, and blocked requests."""

from __future__ import annotations

import logging

import pytest
from PIL import Image

from zimage import i18n
from zimage.config import SafetySettings
from zimage.errors import BlockedError, ModelLoadError, ValidationError
from zimage.safety import (ImageChecker, LLMPromptClassifier, SafetyFilter, build_safety, load_image_checker,
                           parse_verdict)

SECRET = "a prompt whose words must never reach the log"


def tiny_checker(folder, flags_everything: bool) -> str:
    """A random-weights CompVis checker: the real class, with thresholds that flag every image or none."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=8,
    )
    torch.manual_seed(0)
    model = StableDiffusionSafetyChecker(config)
    with torch.no_grad():  # cosine similarity lies in [-1, 1]: a threshold of -2 is always passed, 2 never
        model.concept_embeds_weights.fill_(-2.0 if flags_everything else 2.0)
        model.special_care_embeds_weights.fill_(2.0)
    model.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("answer,verdict", [
    ("yes", True), ("Yes.", True), ("  YES, it is", True), ("是", True), ("<think>\n\n</think>\n\nyes", True),
    ("no", False), ("No.", False), ("否", False), ("不是", False), ("", None), ("maybe", None), ("ÿ\x03z", None),
])
def test_the_classifiers_first_word_decides(answer, verdict):
    assert parse_verdict(answer) is verdict


def test_the_text_encoder_answers_in_at_most_ten_tokens_and_its_answer_decides(tiny_engine):
    classifier = LLMPromptClassifier(tiny_engine.chat())
    answer = classifier.answer("a cat on a sofa")
    assert len(answer) <= 10  # the tiny tokenizer has one token per byte
    assert answer == classifier.answer("a cat on a sofa")  # greedy: one prompt, one verdict
    assert classifier("a cat on a sofa") is parse_verdict(answer)


def test_a_blocked_prompt_raises_a_translated_error_and_the_log_omits_the_text(caplog):
    safety = SafetyFilter("prompt", classify=lambda prompt: "forbidden" in prompt)
    safety.check_prompt("a harmless lighthouse")
    with caplog.at_level(logging.WARNING), pytest.raises(BlockedError) as caught:
        safety.check_prompt(f"forbidden {SECRET}")
    assert caught.value.code == "blocked_prompt" and "blocked by the safety filter" in str(caught.value)
    assert i18n.error_message(caught.value, "zh") == "该提示词被安全过滤器拦截，请换一种说法。"
    assert "blocked a prompt" in caplog.text and SECRET not in caplog.text and "forbidden" not in caplog.text


def test_an_unclear_verdict_lets_the_prompt_through_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        SafetyFilter("prompt", classify=lambda prompt: None).check_prompt(SECRET)
    assert "unclear" in caplog.text and SECRET not in caplog.text


def test_off_and_prompt_modes_load_no_image_checker_and_check_no_images():
    assert load_image_checker(SafetySettings("prompt")) is None
    SafetyFilter("off").check_prompt(SECRET)
    SafetyFilter("prompt", classify=lambda prompt: False).check_images([Image.new("RGB", (64, 64))])


def test_full_mode_refuses_to_start_when_the_checker_cannot_be_loaded():
    with pytest.raises(ModelLoadError) as caught:  # HF_HUB_OFFLINE is set by the test fixture
        load_image_checker(SafetySettings(mode="full"))
    message = str(caught.value)
    assert caught.value.code == "safety_unavailable" and "CompVis/stable-diffusion-safety-checker" in message
    assert "ZIMAGE_SAFETY=prompt" in message
    assert "无法加载图像安全检查器" in i18n.error_message(caught.value, "zh")


def test_full_mode_blocks_flagged_images_and_passes_clean_ones(tiny_engine, tmp_path):
    chat = tiny_engine.chat()
    images = [Image.new("RGB", (256, 256), "white"), Image.new("RGB", (320, 256), "black")]
    settings = SafetySettings("full", tiny_checker(tmp_path / "strict", True))
    strict = build_safety(settings, chat, load_image_checker(settings))
    with pytest.raises(BlockedError) as caught:
        strict.check_images(images)
    assert caught.value.code == "blocked_image" and caught.value.params == {"blocked": 2, "total": 2}
    settings = SafetySettings("full", tiny_checker(tmp_path / "lenient", False))
    lenient = build_safety(settings, chat, load_image_checker(settings))
    lenient.check_images(images)
    assert ImageChecker.load(tiny_checker(tmp_path / "again", True)).flagged(images[:1]) == [True]


def test_safety_defaults_to_prompt_on_a_space_and_off_elsewhere(monkeypatch):
    monkeypatch.delenv("ZIMAGE_SAFETY", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert SafetySettings.from_env().mode == "off"
    monkeypatch.setenv("SPACE_ID", "someone/zimage")
    assert SafetySettings.from_env().mode == "prompt"
    monkeypatch.setenv("ZIMAGE_SAFETY", "off")
    assert SafetySettings.from_env().mode == "off"
    monkeypatch.setenv("ZIMAGE_SAFETY", "strict")
    with pytest.raises(ValidationError, match="Unknown safety mode 'strict'"):
        SafetySettings.from_env()
