"""Proof-reading for the app, the API and the CLI: which text to expect, checking a batch, saying the result.

The rule itself lives in zimage/textcheck.py and the OCR in zimage/ocr.py. This module turns them into what a
surface needs: expected text from a prompt or from a PNG's own metadata, one verdict per image (a failed OCR
gives None and a log line, never a failed generation), and a one-line summary in English or Chinese.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from PIL import Image

from . import i18n
from .errors import ValidationError, ZImageError, unreadable_image
from .ocr import OcrReader, shared_reader
from .metadata import record_text_check
from .outputs import SavedImage, wait_written
from .textcheck import LINE_SEPARATOR, SpanStatus, TextVerdict, best_index, expected_spans, ranking

log = logging.getLogger(__name__)
QUOTE = "“{}”"
MAX_UPLOADS = 30  # images the page checks at once: a designer's batch of twenty posters, with room to spare


def open_image(path: str | Path) -> Image.Image:
    """The image at path, fully decoded; an unreadable or oversized file is a ValidationError."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()  # keeps image.info, where the PNG text chunks are
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise unreadable_image(path) from error


def expected_from_metadata(image: Image.Image) -> tuple[str, ...]:
    """The quoted spans of the prompt stored in a PNG made by zimage (or A1111); () when there is none."""
    from .metadata import read_request

    try:
        return expected_spans(read_request(image).prompt)
    except ZImageError:
        return ()


@dataclass(frozen=True)
class FileCheck:
    """One image file checked by `python -m zimage check`, and where its expected text came from."""

    path: str
    expected: tuple[str, ...]
    source: str  # "expect" (given on the command line), "metadata" (the PNG's prompt) or "none"
    verdict: TextVerdict


@dataclass(frozen=True)
class CheckReport:
    files: tuple[FileCheck, ...]

    @property
    def any_missing(self) -> bool:
        return any(item.verdict.missing for item in self.files)

    @property
    def best(self) -> str | None:
        index = best_index([item.verdict for item in self.files])
        return None if index is None else self.files[index].path

    def to_dict(self) -> dict[str, Any]:
        return {"images": [{"image": item.path, "expected": list(item.expected), "expected_from": item.source,
                            **item.verdict.to_dict()} for item in self.files],
                "best": self.best, "any_missing": self.any_missing}


def check_files(paths: Sequence[str | Path], expect: Sequence[str], reader: OcrReader | None = None) -> CheckReport:
    """Proof-read image files against `expect`, or else against the quoted text of each PNG's stored prompt.

    Every file is read (the text read is reported even with nothing to expect); an unreadable file or a failing
    OCR is a ZImageError, shown as one line.
    """
    reader = reader or shared_reader()
    given = tuple(dict.fromkeys(text.strip() for text in expect if text.strip()))
    files = []
    for path in paths:
        image = open_image(path)
        expected = given or expected_from_metadata(image)
        source = "expect" if given else ("metadata" if expected else "none")
        try:
            verdict = reader.check(image, expected)
        except Exception as error:  # noqa: BLE001 - onnxruntime's errors become one clear line
            log.exception("OCR failed on %s", path)
            raise ZImageError(f"The OCR failed on {path} ({type(error).__name__}).", code="ocr_failed",
                              path=str(path), reason=type(error).__name__) from error
        files.append(FileCheck(str(path), expected, source, verdict))
    return CheckReport(tuple(files))


@dataclass(frozen=True)
class UploadCheck:
    """One image uploaded to the page's proof-reading section: its check, or None when it could not be read."""

    name: str
    path: str
    check: FileCheck | None

    @property
    def verdict(self) -> TextVerdict | None:
        return self.check.verdict if self.check else None


def check_uploads(paths: Sequence[str | Path], expect: Sequence[str],
                  reader: OcrReader | None = None) -> list[UploadCheck]:
    """Check a batch of uploads like `check_files`, best-reading first. A file that cannot be read or OCRed gets
    a None check (and a log line) instead of failing the other images."""
    if not paths:
        raise ValidationError("Upload the images to check.", code="images_missing")
    if len(paths) > MAX_UPLOADS:
        raise ValidationError(f"Check at most {MAX_UPLOADS} images at a time (got {len(paths)}).",
                              code="too_many_images", limit=MAX_UPLOADS, count=len(paths))
    checks = []
    for path in paths:
        try:
            check: FileCheck | None = check_files([path], expect, reader).files[0]
        except ZImageError:
            log.warning("Proof-reading skipped an unreadable upload %s", Path(path).name, exc_info=True)
            check = None
        checks.append(UploadCheck(Path(path).name, str(path), check))
    return [checks[index] for index in ranking([item.verdict for item in checks])]


def report_lines(report: CheckReport, lang: str = i18n.DEFAULT_LANGUAGE) -> list[str]:
    """What `python -m zimage check` prints: per file its verdict and the text read, then the best file."""
    lines = []
    for item in report.files:
        lines.append(f"{item.path}: {summary(item.verdict, lang)}")
        lines.append(f"  read: {LINE_SEPARATOR.join(item.verdict.read) or '(nothing)'}")
    if len(report.files) > 1 and report.best:
        lines.append(f"Best: {report.best}")
    return lines


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


def check_saved(saved: Sequence[SavedImage], reader: OcrReader | None = None) -> list[SavedImage]:
    """Proof-read saved images against the quoted spans of each one's own prompt, record each verdict in its PNG,
    and return the items best-reading first (ties keep their order). Images whose prompt quotes nothing are
    returned unchanged, with no OCR run."""
    checked = []
    for item in saved:
        expected = expected_spans(item.request.prompt)
        if expected:
            wait_written(item.path)  # the page's PNGs are written behind their previews
            image = open_image(item.path)
            verdict = check_images([image], expected, reader)[0]
            if verdict is not None:
                record_text_check(Path(item.path), image, verdict)
                item = replace(item, text_check=verdict)
        checked.append(item)
    return [checked[index] for index in ranking([item.text_check for item in checked])]


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
