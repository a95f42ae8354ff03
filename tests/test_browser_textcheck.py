"""Proof-reading in the browser: images show first, verdicts fill in after, best first and starred."""

from __future__ import annotations

import re

from playwright.sync_api import expect, sync_playwright

from devtools.apphost import running_app

from . import browser as ui
from .browser import CHROMIUM, CHROMIUM_ARGS
from .conftest import SHARED_CACHE

# When the first thumbnail appears, and when the results gallery's run ends (see tests/browser.py).
FIRST_IMAGE_JS = """
(() => {
  window.__firstImageAt = null;
  new MutationObserver(() => {
    if (window.__firstImageAt === null && document.querySelector('#zimage-gallery .thumbnail-item img')) {
      window.__firstImageAt = window.__zimage.ends.gallery;
    }
  }).observe(document, {subtree: true, childList: true});
})();
"""


def test_images_come_first_then_verdicts_best_first(tmp_path):
    with running_app(tmp_path, ZIMAGE_CACHE_DIR=str(SHARED_CACHE)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = ui.new_page(browser, url)
        page.evaluate(FIRST_IMAGE_JS)
        ui.fill_request(page, 'A neon sign that reads "OPEN 24H"', count=3, seed=7)
        items = ui.generate(page)
        # The first image was on screen while the run (its text check) was still going: ends.gallery unchanged.
        assert page.evaluate("window.__firstImageAt") == page.evaluate("window.__zimage.ends.gallery") - 1
        captions = [caption for _, caption in items]
        # Noise from random weights has no text, so each image misses the sign; the closest is first and starred.
        assert re.fullmatch(r"★ seed \d+ ✗ 0/1", captions[0]), captions
        assert all(re.fullmatch(r"seed \d+ ✗ 0/1", caption) for caption in captions[1:]), captions
        assert sorted(int(re.search(r"seed (\d+)", c).group(1)) for c in captions) == [7, 8, 9]
        ui.select_image(page, 0)
        expect(page.locator("#zimage-text-check")).to_contain_text("Text check: Missing: “OPEN 24H”")
        page.screenshot(path=str(tmp_path / "textcheck.png"), full_page=True)
        browser.close()
