"""The page's "Proof-read images" section in the browser: upload posters made anywhere, best-reading first and
starred, each with its verdict and the text read; a PNG made here brings its own expected text; a broken file
costs only its own line; too many files is one clear message."""

from __future__ import annotations

import re

from playwright.sync_api import expect, sync_playwright

from devtools.apphost import running_app
from zimage.metadata import save_png
from zimage.model_info import ModelInfo
from zimage.proofread import MAX_UPLOADS
from zimage.request import GenerationRequest

from . import browser as ui
from .browser import CHROMIUM, CHROMIUM_ARGS
from .conftest import SHARED_CACHE
from .test_textcheck import render

FILES = "#zimage-proofread-files input[type=file]"
REPORT = "#zimage-proofread-report"


def check(page, paths, expected: str = "") -> None:
    page.set_input_files(FILES, [str(path) for path in paths])
    page.fill("#zimage-proofread-expect textarea", expected)
    page.click("#zimage-proofread-run")


def test_uploaded_posters_are_ranked_and_explained(tmp_path):
    typo, right, broken = tmp_path / "typo.png", tmp_path / "right.png", tmp_path / "broken.png"
    render(["HAPY NEW YEAR"]).save(typo)
    render(["HAPPY NEW YEAR"]).save(right)
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    made_here = save_png(render(["新年快乐"]), GenerationRequest("A poster titled 「新年快乐」"),
                         ModelInfo("test", "main"), tmp_path / "made-here.png")
    with running_app(tmp_path, ZIMAGE_CACHE_DIR=str(SHARED_CACHE)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = ui.new_page(browser, url)
        page.click("#zimage-proofread-section button")  # open the accordion
        check(page, [typo, broken, right], "Happy New Year")
        expect(page.locator(REPORT)).to_contain_text("right.png", timeout=ui.TIMEOUT_MS)
        captions = [caption for _, caption in ui.gallery_items(page, "zimage-proofread-results")]
        assert captions == ["★ right.png ✓", "typo.png ✗ 0/1"], captions  # the broken file has no image to show
        report = page.locator(REPORT).inner_text()
        assert re.search(r"right\.png: All quoted text found: “Happy New Year”\. read: “HAPPY NEW YEAR”", report), report
        assert "typo.png: Missing: “Happy New Year” (read “HAPY NEW YEAR”)" in report, report
        assert "broken.png: The text check failed for this image." in report, report

        # A multiple-file input adds new uploads to those it holds: a fresh page starts empty.
        ui.goto(page, url)
        page.click("#zimage-proofread-section button")
        check(page, [made_here])  # no expected text typed: the PNG's own prompt supplies it
        expect(page.locator(REPORT)).to_contain_text("made-here.png: All quoted text found: “新年快乐”. "
                                                     "(expected text from the PNG's prompt)")

        check(page, [right] * MAX_UPLOADS, "x")  # with made-here.png, one too many
        expect(page.locator(".toast-body")).to_contain_text(f"Check at most {MAX_UPLOADS} images at a time (got "
                                                            f"{MAX_UPLOADS + 1}).")
        browser.close()
