"""Choice lists for dropdowns and radios, built from the data in assets/."""

from __future__ import annotations

from zimage import i18n, presets, sizes
from zimage.errors import ValidationError

LANGUAGE_CHOICES = [(i18n.text("language_name", lang), lang) for lang in i18n.LANGUAGES]


def preset_choices(lang: str) -> list[tuple[str, str]]:
    lang = i18n.normalize_language(lang)
    return [(preset.name[lang], preset.id) for preset in presets.list_presets()]


def size_value(option: sizes.SizeOption) -> str:
    return f"{option.width}x{option.height}"


def size_choices(tier: int) -> list[tuple[str, str]]:
    return [(option.label, size_value(option)) for option in sizes.sizes(tier)]


def preset_description(preset_id: str | None, lang: str) -> str:
    """What the preset looks like, in the UI language; empty for an unknown id."""
    try:
        return presets.get_preset(preset_id).description[i18n.normalize_language(lang)]
    except ValidationError:
        return ""
