"""UI strings and error messages in English and Chinese, from assets/i18n/ui.json."""

from __future__ import annotations

import re
from typing import Any

from .assets import load_json
from .errors import ZImageError, unknown_choice

LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"


def _base(value: Any) -> str:
    # Browser locales arrive as "zh-CN", "zh_TW" or "en-US"; only the language part matters.
    return value.strip().split("-")[0].split("_")[0].lower() if isinstance(value, str) else ""


def normalize_language(value: Any) -> str:
    """Map any browser locale to a supported UI language, English when unsupported."""
    base = _base(value)
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def check_language(value: Any) -> str:
    """Like `normalize_language`, but an unsupported language is an error (for explicit choices)."""
    base = _base(value)
    if base in LANGUAGES:
        return base
    raise unknown_choice("language", value, LANGUAGES, code="unknown_lang")


def _strings(lang: str) -> dict[str, Any]:
    return load_json("i18n/ui.json")[normalize_language(lang)]


def text(key: str, lang: str = DEFAULT_LANGUAGE, **params: Any) -> str:
    template = _strings(lang).get(key) or _strings(DEFAULT_LANGUAGE)[key]
    return _fill(template, params)


def optional_text(key: str, lang: str = DEFAULT_LANGUAGE, **params: Any) -> str:
    """Like `text`, but "" where no language has `key` (keys built from a value, such as a memory mode)."""
    template = _strings(lang).get(key) or _strings(DEFAULT_LANGUAGE).get(key) or ""
    return _fill(template, params)


def field_name(name: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A request field's name as users read it in `lang`."""
    return str(_strings(lang)["fields"].get(name, name))


def error_message(error: ZImageError, lang: str = DEFAULT_LANGUAGE) -> str:
    """The error in the user's language; English errors keep their precise original wording."""
    lang = normalize_language(lang)
    if lang == DEFAULT_LANGUAGE:
        return error.message
    template = _strings(lang)["errors"].get(error.code)
    if template is None:
        return error.message
    params = dict(error.params)
    if "field" in params:
        params["field"] = field_name(str(params["field"]), lang)
    return _fill(template, {"message": error.message, **params})


def _fill(template: str, params: dict[str, Any]) -> str:
    """Replace {name} placeholders without str.format, so braces in user text cannot break it."""
    return re.sub(r"\{(\w+)\}", lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), template)
