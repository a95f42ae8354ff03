"""What people read about a text check, and where the expected text comes from."""

from __future__ import annotations

import pytest
from PIL import Image, PngImagePlugin

from zimage import proofread
from zimage.errors import ValidationError
from zimage.textcheck import judge

READABLE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789新年快乐")


def test_summary_says_all_found():
    verdict = judge(["新年快乐", "HAPPY NEW YEAR"], ["新年快乐", "HAPPY NEW YEAR"], READABLE, "t")
    assert proofread.summary(verdict) == "All quoted text found: “新年快乐”, “HAPPY NEW YEAR”."
    assert proofread.summary(verdict, "zh") == "引号中的文字全部识别到：“新年快乐”, “HAPPY NEW YEAR”。"


def test_summary_says_what_is_missing_and_what_was_read_instead():
    verdict = judge(["HAPPY NEW YEAR", "OPEN", "新年快乐"], ["HAPY NEW YEAR", "新年快乐"], READABLE, "t")
    assert proofread.summary(verdict) == "Missing: “HAPPY NEW YEAR” (read “HAPY NEW YEAR”), “OPEN”."
    assert proofread.summary(verdict, "zh") == "未找到：“HAPPY NEW YEAR”（识别为 “HAPY NEW YEAR”）, “OPEN”。"


def test_summary_notes_unsupported_scripts_without_failing_them():
    verdict = judge(["こんにちは", "OPEN"], ["OPEN"], READABLE, "t")
    assert proofread.summary(verdict) == ("All quoted text found: “OPEN”. "
                                          "Not checked, the OCR cannot read こんにちは: “こんにちは”.")


def test_summary_without_spans_or_verdict():
    assert proofread.summary(judge([], ["x"], READABLE, "t")) == "No quoted text to check."
    assert proofread.summary(None, "zh") == "这张图片的文字检查失败。"


def test_no_expected_text_runs_no_ocr():
    class Exploding:
        def check(self, image, expected):
            raise AssertionError("the OCR must not run")

    assert proofread.check_images([Image.new("RGB", (8, 8))] * 2, [], reader=Exploding()) == [None, None]


def test_a_failing_ocr_gives_none_for_that_image_only():
    class Flaky:
        def check(self, image, expected):
            if image.size == (9, 9):
                raise RuntimeError("onnxruntime fell over")
            return judge(expected, ["OPEN"], READABLE, "t")

    images = [Image.new("RGB", (8, 8)), Image.new("RGB", (9, 9))]
    first, second = proofread.check_images(images, ["OPEN"], reader=Flaky())
    assert first is not None and first.all_found and second is None


def test_expected_text_comes_from_the_png_metadata(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", 'A poster reading 「新年快乐」 and "OPEN"\nSteps: 8, Seed: 1, Size: 256x256')
    path = tmp_path / "a1111.png"
    Image.new("RGB", (256, 256)).save(path, pnginfo=info)
    assert proofread.expected_from_metadata(proofread.open_image(path)) == ("新年快乐", "OPEN")
    plain = tmp_path / "plain.png"
    Image.new("RGB", (16, 16)).save(plain)
    assert proofread.expected_from_metadata(proofread.open_image(plain)) == ()


def test_unreadable_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(ValidationError, match="as an image"):
        proofread.open_image(bad)
    with pytest.raises(ValidationError, match="as an image"):
        proofread.open_image(tmp_path / "missing.png")
