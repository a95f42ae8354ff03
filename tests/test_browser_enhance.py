"""The prompt enhancer in the browser: Enhance streams a prompt into its box, Accept makes it the prompt (edits
included), Revert brings the idea back, and the PNG of a run with the enhancer's text records the idea."""

from __future__ import annotations

import json

from PIL import Image
from playwright.sync_api import expect, sync_playwright

from devtools.apphost import running_app
from zimage.metadata import JSON_KEY

from . import browser as ui
from .browser import CHROMIUM, CHROMIUM_ARGS
from .conftest import SHARED_CACHE

IDEA = 'A shop sign that reads "SALE"'
PROMPT = "#zimage-prompt textarea"
BOX = "#zimage-enhanced"


def enhance(page) -> str:
    """Click Enhance, wait for its stream to end, and return the box's text."""
    before = ui.counters(page)
    page.click("#zimage-enhance")
    # The box's tracker ends twice per click: once shown, once filled.
    page.wait_for_function("b => window.__zimage.ends.enhanced >= b.enhanced + 2", arg=before,
                           timeout=ui.TIMEOUT_MS)
    return page.locator(f"{BOX} textarea").input_value()


def test_enhance_accept_revert_and_the_png_records_the_idea(tmp_path):
    with running_app(tmp_path, ZIMAGE_CACHE_DIR=str(SHARED_CACHE), ZIMAGE_ENHANCER="local") as url, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = ui.new_page(browser, url)
        ui.fill_request(page, IDEA, seed=3)
        expect(page.locator(BOX)).to_be_hidden()

        enhanced = enhance(page)
        # The tiny model writes noise, but the quoted text is kept verbatim (repaired if it was dropped).
        assert '"SALE"' in enhanced and enhanced != IDEA, enhanced
        assert page.locator(PROMPT).input_value() == IDEA  # nothing replaced until Accept
        assert enhance(page) == enhanced  # same idea, same seed: same prompt

        page.click("#zimage-enhance-accept")
        expect(page.locator(PROMPT)).to_have_value(enhanced)
        expect(page.locator(BOX)).to_be_hidden()
        assert len(ui.generate(page)) == 1
        ui.select_image(page, 0)
        with page.expect_download() as download:
            page.click("#zimage-download")
        saved = tmp_path / "download.png"
        download.value.save_as(saved)
        with Image.open(saved) as png:
            recorded = json.loads(png.info[JSON_KEY])
        assert recorded["request"]["prompt"] == enhanced and recorded["enhanced"]["idea"] == IDEA, recorded

        enhance(page)  # from the accepted prompt; edits in the box are what Accept takes
        edited = page.locator(f"{BOX} textarea").input_value() + " Bold red letters."
        page.fill(f"{BOX} textarea", edited)
        page.click("#zimage-enhance-accept")
        expect(page.locator(PROMPT)).to_have_value(edited)

        enhance(page)  # Revert puts back the prompt it started from, not the first idea
        page.click("#zimage-enhance-revert")
        expect(page.locator(PROMPT)).to_have_value(edited)
        expect(page.locator(BOX)).to_be_hidden()
        browser.close()
