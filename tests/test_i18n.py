"""UI strings exist in both languages, and errors reach users in their language."""

from __future__ import annotations

import re

import pytest

from zimage import i18n
from zimage.assets import load_json
from zimage.errors import ValidationError
from zimage.request import GenerationRequest

STRINGS = load_json("i18n/ui.json")


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_every_string_and_error_exists_in_both_languages_with_the_same_placeholders():
    for section in (None, "errors"):
        en = STRINGS["en"] if section is None else STRINGS["en"][section]
        zh = STRINGS["zh"] if section is None else STRINGS["zh"][section]
        assert set(en) == set(zh)
        for key, value in en.items():
            if isinstance(value, str):
                assert placeholders(value) == placeholders(zh[key]), key


@pytest.mark.parametrize("browser,expected", [("zh-CN", "zh"), ("zh-TW", "zh"), ("en-US", "en"), ("fr", "en"), ("", "en"), (None, "en")])
def test_browser_locale_maps_to_a_ui_language(browser, expected):
    assert i18n.normalize_language(browser) == expected


def test_validation_errors_are_translated_with_their_values():
    with pytest.raises(ValidationError) as caught:
        GenerationRequest("x", width=1000)
    assert i18n.error_message(caught.value, "zh") == "宽度必须是 16 的倍数，当前为 1000。"
    assert i18n.error_message(caught.value, "en") == "width must be a multiple of 16, got 1000."


def test_braces_in_values_are_not_substituted_twice():
    assert i18n.text("link_invalid", "en", message="{message} {x}") == "This link could not be used: {message} {x}"
