"""The notice box above the form, and turning domain errors into Gradio errors."""

from __future__ import annotations

import html
import logging
from contextlib import contextmanager
from typing import Any, Iterator

import gradio as gr

from zimage import i18n
from zimage.errors import ZImageError

log = logging.getLogger("zimage.app")


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


@contextmanager
def user_errors(lang: str, what: str) -> Iterator[None]:
    """Whatever fails inside becomes the user's toast: a ZImageError translated, gr.Error as it is (spaces' own
    messages, GPU quota or an aborted task, are meant for users), anything else logged with its traceback and
    shown as one line naming its type, never as a stack trace."""
    try:
        yield
    except ZImageError as error:
        raise user_error(error, lang) from None
    except gr.Error:
        raise
    except Exception as error:  # noqa: BLE001 - the point: no failure reaches users raw
        log.exception("Unexpected failure in %s", what)
        raise user_error(ZImageError(f"Unexpected error ({type(error).__name__}).", code="error"), lang) from None
