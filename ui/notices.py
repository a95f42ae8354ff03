"""The notice box above the form, and turning domain errors into Gradio errors."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from zimage import i18n
from zimage.errors import ZImageError


def show(message: str) -> dict[str, Any]:
    return gr.update(value=message, visible=True)


def hide() -> dict[str, Any]:
    return gr.update(value="", visible=False)


def error_notice(error: ZImageError, lang: str) -> dict[str, Any]:
    return show(i18n.error_message(error, lang))


def user_error(error: ZImageError, lang: str) -> gr.Error:
    """The toast for a failed event: translated, titled in the user's language, and HTML-escaped (gr.Error
    renders HTML, so hostile text from prompts and links must stay plain text; quotes are harmless in element
    text and left as they are, so API clients read them plainly)."""
    return gr.Error(html.escape(i18n.error_message(error, lang), quote=False), title=i18n.text("error_title", lang),
                    print_exception=False)
