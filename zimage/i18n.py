"""UI strings and error messages in English and Chinese, from assets/i18n/ui.json."""

from __future__ import annotations

import re
from typing import Any

from .assets import load_json
from .errors import ZImageError

LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"
FIELD_NAMES_ZH = {"width": "宽度", "height": "高度", "seed": "种子", "count": "张数", "steps": "步数",
                  "shift": "时间偏移", "prompt": "提示词", "title": "标题", "subtitle": "副标题"}


def normalize_language(value: str | None) -> str:
    """Map a browser locale such as "zh-CN" or "en-US" to a supported UI language."""
    code = (value or "").strip().lower()
    return "zh" if code.startswith("zh") else DEFAULT_LANGUAGE


def text(key: str, lang: str = DEFAULT_LANGUAGE, **params: Any) -> str:
    strings = load_json("i18n/ui.json")[normalize_language(lang)]
    template = strings.get(key) or load_json("i18n/ui.json")[DEFAULT_LANGUAGE][key]
    return _fill(template, params)


def error_message(error: ZImageError, lang: str = DEFAULT_LANGUAGE) -> str:
    """The error in the user's language; English errors keep their precise original wording."""
    lang = normalize_language(lang)
    if lang == DEFAULT_LANGUAGE:
        return error.message
    templates = load_json("i18n/ui.json")[lang]["errors"]
    template = templates.get(error.code)
    if template is None:
        return error.message
    params = dict(error.params)
    if "field" in params:
        params["field"] = FIELD_NAMES_ZH.get(str(params["field"]), params["field"])
    return _fill(template, {"message": error.message, **params})


def _fill(template: str, params: dict[str, Any]) -> str:
    """Replace {name} placeholders without str.format, so braces in user text cannot break it."""
    return re.sub(r"\{(\w+)\}", lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), template)
