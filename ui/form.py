"""Handlers that fill and adjust the form: sizes, presets, PNG drops, share links on page load."""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from zimage import i18n, presets, sharelink, sizes
from zimage.errors import ValidationError
from zimage.metadata import read_request
from zimage.request import GenerationRequest, parse_size

from . import notices
from .choices import size_choices, size_value
from .layout import Page
from .updates import merge_updates

log = logging.getLogger("zimage.app")


class Form:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.inputs = page.inputs

    @property
    def fill_outputs(self) -> list[Any]:
        i = self.inputs
        return [i.prompt, i.width, i.height, i.seed, i.random_seed, i.count, i.steps, i.shift, i.tier, i.size]

    def fill(self, req: GenerationRequest) -> dict:
        """Updates that put a request back into every field (share links, PNG drops)."""
        i = self.inputs
        option = sizes.find(req.width, req.height)
        updates = {i.prompt: req.prompt, i.width: req.width, i.height: req.height, i.seed: req.seed,
                   i.random_seed: False, i.count: req.count, i.steps: req.steps, i.shift: req.shift}
        if option is not None:
            updates[i.tier] = str(option.tier)
            updates[i.size] = gr.update(choices=size_choices(option.tier), value=size_value(option))
        else:
            updates[i.size] = gr.update(value=None)
        return updates

    def from_link(self, request: gr.Request, lang: str) -> dict:
        """Fill the form from a share link in the page's URL, and ask for the run to start."""
        notice, autorun = self.page.header.notice, self.page.session.autorun
        try:
            linked = sharelink.parse_query(_query_lists(request))
        except ValidationError as error:
            message = i18n.text("link_invalid", lang, message=i18n.error_message(error, lang))
            return {notice: notices.show(message), autorun: False}
        if linked is None:
            return {autorun: False}
        return merge_updates(self.fill(linked), {notice: notices.show(i18n.text("loaded_from_link", lang)),
                                                 autorun: True})

    def load_png(self, path: str | None, lang: str) -> dict:
        if not path:
            return {}
        notice = self.page.header.notice
        try:
            req = read_request(path)
        except ValidationError as error:
            return {notice: notices.error_notice(error, lang)}
        return merge_updates(self.fill(req), {notice: notices.show(i18n.text("loaded_from_png", lang)),
                                              self.inputs.png: None})

    def pick_tier(self, tier: str) -> tuple:
        first = sizes.sizes(int(tier))[0]
        return gr.update(choices=size_choices(int(tier)), value=size_value(first)), first.width, first.height

    def pick_size(self, value: str) -> tuple:
        try:
            return parse_size(value)
        except ValidationError:
            return gr.skip(), gr.skip()

    def match_size(self, width: float | None, height: float | None) -> tuple:
        """Keep the size picker honest when sides are typed: the listed size, or blank for a custom one."""
        option = sizes.find(int(width or 0), int(height or 0))
        if option is None:
            return gr.skip(), gr.update(value=None)
        return str(option.tier), gr.update(choices=size_choices(option.tier), value=size_value(option))

    def compose_prompt(self, preset_id: str, title: str, subtitle: str, lang: str) -> tuple:
        try:
            return presets.compose_prompt(preset_id, title, subtitle, lang), notices.hide()
        except ValidationError as error:
            return gr.skip(), notices.error_notice(error, lang)


def _query_lists(request: gr.Request) -> dict[str, list[str]]:
    """Query parameters with repeated keys kept, so the share-link parser can reject them."""
    lists: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        lists.setdefault(key, []).append(value)
    return lists
