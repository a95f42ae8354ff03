"""Handlers for the UI language and the model status, which is shown in it."""

from __future__ import annotations

import logging

import gradio as gr

from zimage import i18n

from zimage.runner import Runner

from .choices import preset_choices, preset_description
from .layout import Page
from .status import status_line, tiny_banner
from .updates import merge_updates, unique

log = logging.getLogger("zimage.app")


class Language:
    def __init__(self, page: Page, runner: Runner) -> None:
        self.page = page
        self.runner = runner

    @property
    def outputs(self) -> list:
        p = self.page
        return unique([p.session.lang, p.header.language, *p.translator.components, p.inputs.preset,
                       p.inputs.preset_info, p.header.status, p.header.tiny_banner])

    def switch(self, lang: str, preset_id: str | None) -> dict:
        lang = i18n.normalize_language(lang)
        p = self.page
        status = self.runner.status()
        return merge_updates(p.translator.updates(lang), {
            p.session.lang: lang, p.header.language: lang,
            p.inputs.preset: gr.update(choices=preset_choices(lang)),
            p.inputs.preset_info: preset_description(preset_id, lang),
            p.header.status: status_line(status, lang), p.header.tiny_banner: tiny_banner(status, lang),
        })

    def refresh_status(self, lang: str) -> tuple:
        status = self.runner.status()
        return status_line(status, lang), tiny_banner(status, lang), gr.Timer(active=status.state == "loading")
