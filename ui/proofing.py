"""The /check_text endpoint (an MCP tool too, with --mcp): proof-read any image against expected text."""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from zimage.errors import ZImageError
from zimage.proofread import check_files

from . import notices

log = logging.getLogger("zimage.app")

CHECK_DOC = ("Proof-read an image with OCR (PP-OCRv4, Chinese and English): is the expected text in it? "
             "`expect` holds the expected texts, one per line; left empty, the quoted text of the prompt stored in a "
             "PNG made by this app is used. Comparison ignores spacing, case, full/half-width forms and punctuation, "
             "and is strict on the characters. Returns found and missing texts, what was read instead, texts in "
             "scripts the OCR cannot read (not judged), all text read, and the OCR version.")


def check_text(image: str | None, expect: str = "") -> dict[str, Any]:
    """The verdict for one uploaded image (a file path, as gr.File gives it: the PNG arrives byte for byte)."""
    try:
        if not image:
            raise ZImageError("Upload an image to check.", code="image_missing")
        result = check_files([image], (expect or "").splitlines()).to_dict()["images"][0]
        # The upload's server path means nothing to the caller (and gradio_client would take a "path" for a file).
        result.pop("image")
        return result
    except ZImageError as error:
        raise notices.user_error(error, "en") from None
    except Exception as error:  # noqa: BLE001 - never show a stack trace to users
        log.exception("Unexpected failure in check_text")
        raise notices.user_error(ZImageError(f"Unexpected error ({type(error).__name__}).", code="error"),
                                 "en") from None


def wire_check_api() -> None:
    """Hidden components and the public event behind /check_text; call inside the app's gr.Blocks."""
    with gr.Group(visible=False):
        image = gr.File(file_types=["image"], type="filepath", label="image")
        expect = gr.Textbox(label="expect")
        verdict = gr.JSON(label="verdict")
        run = gr.Button()
    # OCR runs on the CPU: its own queue slot, so checks never wait behind (or hold up) a generation.
    run.click(check_text, [image, expect], [verdict], api_name="check_text", api_description=CHECK_DOC,
              concurrency_id="ocr", concurrency_limit=1)
