"""The /check_text endpoint (an MCP tool too, with --mcp): proof-read any image against expected text."""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from zimage.errors import ZImageError
from zimage.proofread import check_files

from . import api, notices

log = logging.getLogger("zimage.app")

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
    lang = api.request_language(request)
    try:
        if not image:
            raise ZImageError("Upload an image to check.", code="image_missing")
        result = check_files([image], (expect or "").splitlines()).to_dict()["images"][0]
        # The upload's server path means nothing to the caller (and gradio_client would take a "path" for a file).
        result.pop("image")
        return result
    except ZImageError as error:
        raise notices.user_error(error, lang) from None
    except Exception as error:  # noqa: BLE001 - never show a stack trace to users
        log.exception("Unexpected failure in check_text")
        raise notices.user_error(ZImageError(f"Unexpected error ({type(error).__name__}).", code="error"),
                                 lang) from None


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
