"""Design presets put the designer's exact text, quoted, into a prompt the model accepts."""

import re

import pytest

from zimage import presets
from zimage.errors import ValidationError
from zimage.request import check_prompt

IDS = [p.id for p in presets.list_presets()]
TITLES = [
    "开业大吉",
    "GRAND OPENING",
    "咖啡 Coffee 2025",
    'Say "hello"',
    "「老字号」",
    "“Best” Deals",
    "It's {title} & {subtitle}",
    "{0} {} {!r} {x.y}",
    "C:\\path\\to\\n",
    "🎉 Party 🥳",
    "Ünïcödé ñ ß",
]
SUBTITLES = ["", "欢迎光临", "Since 1998", '副标题 "quoted"', "{subtitle}", "back\\slash", "😀 emoji"]


def quoted_segments(prompt):
    """Every span the quoting rule could have produced."""
    spans = []
    for opening, closing in presets.QUOTE_PAIRS:
        pattern = re.escape(opening) + "(.*?)" + re.escape(closing)
        spans += re.findall(pattern, prompt)
    return spans


def assert_quoted(prompt, text):
    assert any(f"{o}{text}{c}" in prompt for o, c in presets.QUOTE_PAIRS), (text, prompt)


def without_user_text(prompt, *texts):
    for text in texts:
        prompt = prompt.replace(text, "")
    return prompt


def test_at_least_ten_bilingual_presets():
    assert len(IDS) >= 10
    assert len(set(IDS)) == len(IDS)
    for preset in presets.list_presets():
        for lang in ("en", "zh"):
            assert preset.name[lang].strip()
            assert preset.description[lang].strip()
        assert re.search(r"[\u4e00-\u9fff]", preset.name["zh"]), preset.id


def test_required_presets_exist():
    required = {"poster", "shop_sign", "book_cover", "packaging", "greeting_card", "neon_sign",
                "chalkboard_menu", "couplet", "slide_title", "logo"}
    assert required <= set(IDS)


@pytest.mark.parametrize("preset_id", IDS)
def test_templates_use_only_known_placeholders(preset_id):
    preset = presets.get_preset(preset_id)
    for lang in ("en", "zh"):
        with_sub = preset.templates[lang]["with_subtitle"]
        title_only = preset.templates[lang]["title_only"]
        assert set(re.findall(r"\{([^}]*)\}", with_sub)) == {"title", "subtitle"}
        assert set(re.findall(r"\{([^}]*)\}", title_only)) == {"title"}


@pytest.mark.parametrize("preset_id", IDS)
def test_exact_text_is_quoted_and_prompt_validates(preset_id):
    for lang in ("en", "zh"):
        for title in TITLES:
            for subtitle in SUBTITLES:
                prompt = presets.compose_prompt(preset_id, title, subtitle, lang)
                assert check_prompt(prompt) == prompt
                assert_quoted(prompt, title)
                if subtitle:
                    assert_quoted(prompt, subtitle)
                rest = without_user_text(prompt, title, subtitle)
                assert "{" not in rest and "}" not in rest, prompt  # no template placeholder left over


def test_english_prompt_is_english_and_chinese_prompt_is_chinese():
    en = presets.compose_prompt("poster", "开业大吉")
    zh = presets.compose_prompt("poster", "GRAND OPENING", lang="zh")
    assert not re.search(r"[\u4e00-\u9fff]", without_user_text(en, "开业大吉"))
    assert re.search(r"[\u4e00-\u9fff]", zh)
    assert presets.compose_prompt("poster", "X", lang="zh-CN") == presets.compose_prompt("poster", "X", lang="zh")
    assert presets.compose_prompt("poster", "X", lang="en-US") == presets.compose_prompt("poster", "X")


def test_default_quotes_are_plain_double_quotes():
    prompt = presets.compose_prompt("poster", "GRAND OPENING", "Since 1998")
    assert '"GRAND OPENING"' in prompt and '"Since 1998"' in prompt
    assert "large bold" in prompt


def test_text_with_double_quotes_gets_corner_quotes():
    prompt = presets.compose_prompt("neon_sign", 'Say "hi"')
    assert '「Say "hi"」' in prompt


def test_text_with_double_and_corner_quotes_gets_typographic_quotes():
    assert presets.quote("title", '"a" 「b」') == '“"a" 「b」”'
    assert presets.quote("title", '"a" 「b」 “c”') == '『"a" 「b」 “c”』'


def test_text_with_every_quote_mark_is_rejected():
    with pytest.raises(ValidationError) as info:
        presets.compose_prompt("poster", '" 「 ” 』')
    assert info.value.code == "text_quotes"
    assert info.value.params == {"field": "title"}


def test_quoted_span_recovers_the_text():
    for text in ['a"b', "「x」", "plain", "{title}"]:
        prompt = presets.compose_prompt("logo", text)
        assert text in quoted_segments(prompt)


def test_braces_in_text_are_not_formatted():
    prompt = presets.compose_prompt("poster", "{subtitle}", "{title}")
    assert '"{subtitle}"' in prompt and '"{title}"' in prompt
    assert prompt.count('"{subtitle}"') == 1 and prompt.count('"{title}"') == 1


def test_subtitle_changes_the_layout():
    with_sub = presets.compose_prompt("poster", "A", "B")
    without = presets.compose_prompt("poster", "A")
    assert "subtitle" in with_sub and "subtitle" not in without
    assert presets.compose_prompt("poster", "A", "   ") == without
    assert presets.compose_prompt("poster", "A", None) == without


def test_surrounding_whitespace_is_trimmed():
    prompt = presets.compose_prompt("poster", "  开业大吉\t ", "  Since 1998 ")
    assert '"开业大吉"' in prompt and '"Since 1998"' in prompt


@pytest.mark.parametrize("text", ["Line one\nLine two", "Line one \r\n  Line two", "Line one\u2028Line two",
                                  "Line one\n\n\nLine two"])
def test_line_breaks_collapse_to_one_space(text):
    prompt = presets.compose_prompt("greeting_card", text)
    assert '"Line one Line two"' in prompt
    assert "\n" not in prompt


def test_inner_spacing_is_kept():
    assert '"开  业"' in presets.compose_prompt("shop_sign", "开  业")


@pytest.mark.parametrize("title", ["", "   ", "\n\n"])
def test_empty_title_is_rejected(title):
    with pytest.raises(ValidationError) as info:
        presets.compose_prompt("poster", title, "subtitle")
    assert info.value.code == "title_missing"


def test_length_limits():
    presets.compose_prompt("poster", "字" * presets.MAX_TITLE_CHARS, "字" * presets.MAX_SUBTITLE_CHARS)
    with pytest.raises(ValidationError) as info:
        presets.compose_prompt("poster", "字" * (presets.MAX_TITLE_CHARS + 1))
    assert info.value.code == "text_long"
    assert info.value.params == {"field": "title", "length": 81, "limit": 80}
    assert "81 characters; the limit is 80" in str(info.value)
    with pytest.raises(ValidationError) as info:
        presets.compose_prompt("poster", "ok", "x" * (presets.MAX_SUBTITLE_CHARS + 1))
    assert info.value.params["field"] == "subtitle"


def test_huge_input_is_rejected_quickly():
    with pytest.raises(ValidationError) as info:
        presets.compose_prompt("poster", " " * 200_000 + "x" + " " * 200_000 + "\n" + "y" * 100_000)
    assert info.value.code == "text_long"


@pytest.mark.parametrize("text", ["bell\x07", "nul\x00", "esc\x1b[31m", "del\x7f", "\ud800"])
def test_control_characters_are_rejected(text):
    with pytest.raises(ValidationError) as info:
        presets.compose_prompt("poster", "ok", text)
    assert info.value.code == "text_control"
    assert info.value.params == {"field": "subtitle"}


def test_non_text_is_rejected():
    with pytest.raises(ValidationError) as info:
        presets.compose_prompt("poster", 123)
    assert info.value.code == "text_type"


@pytest.mark.parametrize("bad", ["nope", "", "POSTER", None, 3])
def test_unknown_preset_lists_valid_ids(bad):
    with pytest.raises(ValidationError) as info:
        presets.get_preset(bad)
    assert info.value.code == "unknown_preset"
    assert "poster" in str(info.value) and "couplet" in str(info.value)
    assert info.value.params["allowed"] == ", ".join(IDS)
    with pytest.raises(ValidationError):
        presets.compose_prompt(bad, "title")


@pytest.mark.parametrize("bad", ["fr", "", None, "chinese"])
def test_unknown_language(bad):
    with pytest.raises(ValidationError) as info:
        presets.compose_prompt("poster", "title", lang=bad)
    assert info.value.code == "unknown_lang"
    assert "en, zh" in str(info.value)
