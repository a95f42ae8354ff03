"""Text-rendering design presets: turn a title (and optional subtitle) into a full prompt.

Templates live in assets/presets.json. The user's text is inserted verbatim between quotation marks,
because the model's authors advise quoting the exact text to render. Quoting rule: the first pair of
QUOTE_PAIRS whose marks do not occur in the text wraps it, so the text is always exactly what lies between
the opening and the closing mark. Line breaks (with the spaces around them) become one space, since the
prompt is one paragraph and the text box may hold pasted line breaks; nothing else in the text is changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Mapping

from .assets import load_json
from .errors import ValidationError, unknown_choice
from .i18n import check_language
from .request import check_prompt, is_forbidden_char

MAX_TITLE_CHARS = 80
MAX_SUBTITLE_CHARS = 120
QUOTE_PAIRS = (('"', '"'), ("「", "」"), ("“", "”"), ("『", "』"))

# One pass over the template only, so text containing "{subtitle}" is never substituted again.
_PLACEHOLDER = re.compile(r"\{(title|subtitle)\}")


@dataclass(frozen=True)
class Preset:
    """One design preset; `name`, `description` and `templates` are keyed by language ("en", "zh")."""

    id: str
    name: Mapping[str, str]
    description: Mapping[str, str]
    templates: Mapping[str, Mapping[str, str]]  # lang -> {"with_subtitle": ..., "title_only": ...}


@lru_cache(maxsize=None)
def _catalogue() -> dict[str, Preset]:
    presets = {}
    for entry in load_json("presets.json")["presets"]:
        templates = {lang: MappingProxyType(dict(pair)) for lang, pair in entry["prompt"].items()}
        presets[entry["id"]] = Preset(
            id=entry["id"],
            name=MappingProxyType(dict(entry["name"])),
            description=MappingProxyType(dict(entry["description"])),
            templates=MappingProxyType(templates),
        )
    return presets


def list_presets() -> list[Preset]:
    """Every preset, in the order of the data file."""
    return list(_catalogue().values())


def get_preset(preset_id: str) -> Preset:
    """The preset with this id; an unknown id raises ValidationError listing the valid ones."""
    catalogue = _catalogue()
    if isinstance(preset_id, str) and preset_id in catalogue:
        return catalogue[preset_id]
    raise unknown_choice("preset", preset_id, catalogue, code="unknown_preset")


def compose_prompt(preset_id: str, title: str, subtitle: str = "", lang: str = "en") -> str:
    """The preset's prompt with the title (and subtitle, if any) quoted exactly; see the module docstring."""
    preset = get_preset(preset_id)
    language = check_language(lang)
    title_text = clean_text("title", title, MAX_TITLE_CHARS)
    if not title_text:
        raise ValidationError("Enter the title text to render.", code="title_missing")
    subtitle_text = clean_text("subtitle", subtitle, MAX_SUBTITLE_CHARS)
    values = {"title": quote("title", title_text), "subtitle": quote("subtitle", subtitle_text)}
    template = preset.templates[language]["with_subtitle" if subtitle_text else "title_only"]
    body = _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
    suffix = load_json("presets.json")["suffix"][language]
    # Chinese sentences join without a space.
    return check_prompt(body + ("" if language == "zh" else " ") + suffix)


def clean_text(field: str, text: Any, limit: int) -> str:
    """The text as it will appear in the prompt: trimmed, line breaks joined with one space, bounded."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise ValidationError(f"The {field} must be text.", code="text_type", field=field)
    # splitlines() knows every Unicode line break, and unlike a regex it cannot backtrack on long input.
    cleaned = " ".join(line.strip() for line in text.splitlines() if line.strip())
    if any(is_forbidden_char(ch) for ch in cleaned):
        raise ValidationError(f"The {field} contains control characters or invalid Unicode.", code="text_control", field=field)
    if len(cleaned) > limit:
        raise ValidationError(
            f"The {field} has {len(cleaned)} characters; the limit is {limit}.",
            code="text_long",
            field=field,
            length=len(cleaned),
            limit=limit,
        )
    return cleaned


def quote(field: str, text: str) -> str:
    """Wrap text in the first quotation-mark pair it does not itself contain."""
    for opening, closing in QUOTE_PAIRS:
        if opening not in text and closing not in text:
            return f"{opening}{text}{closing}"
    raise ValidationError(
        f"The {field} uses every kind of quotation mark; remove some so it can be quoted.", code="text_quotes", field=field
    )
