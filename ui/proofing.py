"""Proof-reading any image against expected text: the /check_text endpoint (an MCP tool too, with --mcp) and the
page's "Proof-read images" section."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from zimage import i18n
from zimage.errors import ZImageError
from zimage.proofread import UploadCheck, check_files, check_uploads, summary
from zimage.textcheck import LINE_SEPARATOR, best_index, mark

from . import api, notices
from .layout import Page

CHECK_DOC = ("Proof-read an image with OCR (PP-OCRv6: Chinese, English, Japanese kana): is the expected text in it? "
             "Comparison ignores spacing, case, full/half-width forms, punctuation and the look-alikes O/0 and I/l/1, "
             "and is strict on every other character. Returns found and missing texts, what was read instead, texts "
             "in scripts the OCR cannot read (not judged), all text read, and the OCR version.")
CHECK_PARAMS = (
    api.Param("image", "string", "The image to check: a PNG, JPEG or WebP file (URL or upload)."),
    api.Param("expect", "string", "The expected texts, one per line; empty: the quoted text of the prompt stored "
                                  "in a PNG made by this app.", ""),
)


def check_text(image: str | None, expect: str = "", request: gr.Request = None) -> dict[str, Any]:
    """The verdict for one uploaded image (a file path, as gr.File gives it: the PNG arrives byte for byte)."""
    with notices.user_errors(api.request_language(request), "check_text"):
        if not image:
            raise ZImageError("Upload an image to check.", code="image_missing")
        result = check_files([image], (expect or "").splitlines()).to_dict()["images"][0]
    # The upload's server path means nothing to the caller (and gradio_client would take a "path" for a file).
    result.pop("image")
    return result


def wire_check_api() -> None:
    """The public /check_text endpoint and MCP tool; call inside the app's gr.Blocks.

    The image arrives through a hidden gr.File, byte for byte (its PNG metadata intact): an API client uploads
    it, an MCP client sends a URL or a data URL.
    """
    check_text.__doc__ = api.docstring(CHECK_DOC, CHECK_PARAMS)
    image = gr.File(visible=False, file_types=["image"], type="filepath", label="image")
    expect = CHECK_PARAMS[1].component()
    # OCR runs on the CPU: its own queue slot, so checks never wait behind (or hold up) a generation.
    gr.on(triggers=[], fn=check_text, inputs=[image, expect], outputs=[gr.JSON(visible=False, label="verdict")],
          api_name="check_text", api_visibility="public", concurrency_id="ocr", concurrency_limit=1)


def proofread_uploads(paths: list[str] | None, expect: str, lang: str) -> tuple[list[tuple[str, str]], str]:
    """The section's answer: the images best-reading first (captioned like the results gallery), and per image
    its verdict and the text read. Expected text: the box's lines, else each PNG's own quoted prompt text."""
    with notices.user_errors(lang, "the proof-reading section"):
        checks = check_uploads(paths or [], (expect or "").splitlines())
    best = best_index([item.verdict for item in checks])
    gallery = [(item.path, caption(item, index == best)) for index, item in enumerate(checks) if item.check]
    return gallery, "\n".join(report_line(item, lang) for item in checks)


def caption(item: UploadCheck, best: bool) -> str:
    return " ".join(part for part in ("★" if best else "", item.name, mark(item.verdict)) if part)


def report_line(item: UploadCheck, lang: str) -> str:
    """One Markdown list item; file names and text read are escaped like the results' text check (plain text)."""
    name = html.escape(item.name, quote=False)
    if item.check is None:
        return f"- **{name}**: {i18n.text('text_check_failed', lang)}"
    source = f" ({i18n.text('proofread_from_png', lang)})" if item.check.source == "metadata" else ""
    read = html.escape(LINE_SEPARATOR.join(item.check.verdict.read), quote=False) or "—"
    return (f"- **{name}**: {html.escape(summary(item.check.verdict, lang), quote=False)}{source} "
            f"{i18n.text('proofread_read', lang, text=read)}")


def wire_proofread(page: Page) -> None:
    """The section's button; OCR shares the /check_text queue slot, so it never holds up a generation."""
    section = page.proofread
    section.run.click(proofread_uploads, [section.files, section.expect, page.session.lang],
                      [section.results, section.report], api_visibility="private", concurrency_id="ocr",
                      concurrency_limit=1)
