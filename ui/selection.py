"""Handlers for the selected image: its settings, download, share link and "use this seed"."""

from __future__ import annotations

import html

import gradio as gr

from zimage import i18n, proofread, sharelink
from zimage.errors import ValidationError
from zimage.outputs import SavedImage, wait_written

from . import notices
from .layout import Page


def text_check_line(item: SavedImage, lang: str) -> str:
    """"**Text check:** …" for a checked image, else nothing (the prompt quoted no text)."""
    if item.text_check is None:
        return ""
    return f"**{i18n.text('text_check_label', lang)}:** {html.escape(proofread.summary(item.text_check, lang))}"


class Selection:
    def __init__(self, page: Page) -> None:
        self.page = page

    @property
    def outputs(self) -> list:
        o = self.page.outputs
        return [self.page.session.selected, o.parameters, o.download, o.share_query, self.page.header.notice,
                o.text_check]

    def select(self, entries: list[dict], lang: str, evt: gr.SelectData) -> dict:
        if not entries or not 0 <= evt.index < len(entries):
            return {}
        item = SavedImage.from_dict(entries[evt.index])
        wait_written(item.path)  # the download is the lossless PNG, which may still be being written
        o = self.page.outputs
        updates = {self.page.session.selected: item.to_dict(), o.parameters: item.parameters_text(),
                   o.download: gr.update(value=item.path), self.page.header.notice: notices.hide(),
                   o.text_check: text_check_line(item, lang)}
        try:
            updates[o.share_query] = sharelink.build_query(item.request)
            if sharelink.needs_source_image(item.request):  # say it plainly: the link brings settings, not the image
                updates[self.page.header.notice] = notices.show(i18n.text("edit_link_note", lang))
        except ValidationError as error:  # too long for a link; the PNG still carries every setting
            updates[o.share_query] = ""
            updates[self.page.header.notice] = notices.error_notice(error, lang)
        return updates

    def reuse_seed(self, selected: dict | None) -> tuple:
        if not selected:
            return gr.skip(), gr.skip()
        return selected["request"]["seed"], False
