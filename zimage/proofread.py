"""Proof-reading for the app, the API and the CLI: which text to expect, checking a batch, saying the result.

The rule itself lives in zimage/textcheck.py and the OCR in zimage/ocr.py. This module turns them into what a
surface needs: expected text from a prompt or from a PNG's own metadata, one verdict per image (a failed OCR
gives None and a log line, never a failed generation), and a one-line summary in English or Chinese.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Sequence

from PIL import Image

from . import i18n
from .errors import ValidationError, ZImageError
from .ocr import OcrReader, shared_reader
from .textcheck import SpanStatus, TextVerdict, expected_spans

log = logging.getLogger(__name__)
QUOTE = "“{}”"


def open_image(path: str | Path) -> Image.Image:
    """The image at path, fully decoded; an unreadable or oversized file is a ValidationError."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()  # keeps image.info, where the PNG text chunks are
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ValidationError("This file is not a readable image.", code="bad_image") from error


def expected_from_metadata(image: Image.Image) -> tuple[str, ...]:
    """The quoted spans of the prompt stored in a PNG made by zimage (or A1111); () when there is none."""
    from .metadata import read_request

    try:
        return expected_spans(read_request(image).prompt)
    except ZImageError:
        return ()


def check_images(images: Sequence[Image.Image], expected: Sequence[str],
                 reader: OcrReader | None = None) -> list[TextVerdict | None]:
    """One verdict per image, or None for an image the OCR failed on (logged). No expected text: no OCR run."""
    if not expected:
        return [None] * len(images)
    reader = reader or shared_reader()
    verdicts: list[TextVerdict | None] = []
    for image in images:
        try:
            verdicts.append(reader.check(image, expected))
        except Exception:  # noqa: BLE001 - the images are made; a broken check must not lose them
            log.exception("Text check failed")
            verdicts.append(None)
    return verdicts


def summary(verdict: TextVerdict | None, lang: str = i18n.DEFAULT_LANGUAGE) -> str:
    """One line for a person: all found, or what is missing and what was read instead; unsupported spans noted."""
    if verdict is None:
        return i18n.text("text_check_failed", lang)
    if not verdict.spans:
        return i18n.text("text_check_none", lang)
    parts = []
    if verdict.all_found:
        parts.append(i18n.text("text_check_found", lang, spans=_quoted(verdict.found)))
    elif verdict.missing:
        parts.append(i18n.text("text_check_missing", lang, spans=", ".join(
            i18n.text("text_check_read_instead", lang, span=QUOTE.format(span.text),
                      instead=QUOTE.format(span.read_instead)) if span.read_instead else QUOTE.format(span.text)
            for span in verdict.spans if span.status is SpanStatus.MISSING)))
    unsupported = [span for span in verdict.spans if span.status is SpanStatus.UNSUPPORTED]
    if unsupported:
        chars = "".join(dict.fromkeys("".join(span.unreadable for span in unsupported)))
        parts.append(i18n.text("text_check_unsupported", lang, spans=_quoted(s.text for s in unsupported),
                               chars=chars[:20]))
    return " ".join(parts)


def _quoted(texts: Iterable[str]) -> str:
    return ", ".join(QUOTE.format(text) for text in texts)
