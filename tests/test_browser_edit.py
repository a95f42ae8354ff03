"""Editing in a real browser (Chromium via Playwright) on desktop and phone widths: make an image, "Edit this
image", paint a mask with the brush, run, and download; the pixels away from the paint come back unchanged.

The browser upload into the editor is left to the API tests (tests/test_api_edit.py): under load, Gradio's editor
sometimes never drew a file set on its input, which would make this test flaky."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from devtools.apphost import ROOT
from zimage.metadata import read_request

from . import browser as ui
# One app and one browser per module, as tests/test_browser.py sets them up.
from .test_browser import app_url, chromium  # noqa: F401 - pytest fixtures

SIZE = (320, 256)


def screenshot_path(tmp_path: Path, name: str) -> Path:
    if os.environ.get("ZIMAGE_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots" / name
    return tmp_path / name


LOADED = "() => !document.querySelector('#zimage-editor').innerText.includes('Upload an image')"


def generate_and_use(page) -> np.ndarray:
    """Make a 320x256 image, then "Edit this image": the editor gets it from the server. Returns its pixels."""
    # Two images: with one, the gallery shows it as a preview and its thumbnail cannot be clicked.
    ui.fill_request(page, "a quiet street", width=SIZE[0], height=SIZE[1], steps=2, count=2)
    source = ui.pixels(page, ui.generate(page)[0][0])
    ui.select_image(page, 0)
    page.click("#zimage-use-result")
    page.locator("#zimage-editor").scroll_into_view_if_needed()
    # The editor draws the image and sizes its canvas to it; a stroke before that lands on its default canvas.
    page.wait_for_function(LOADED)
    return source


def paint_and_edit(page) -> None:
    """Paint one stroke across the editor's middle with the brush, and press Edit."""
    canvas = page.locator("#zimage-editor canvas").first
    page.locator("#zimage-editor button[aria-label=Brush]").click()
    canvas.scroll_into_view_if_needed()  # on a phone the editor starts below the fold; strokes need it on screen
    box = canvas.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.4, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(box["x"] + box["width"] * (0.4 + 0.02 * step), y)
    page.mouse.up()
    page.fill("#zimage-prompt textarea", "a red door")
    before = ui.counters(page)
    page.click("#zimage-edit-run")
    ui.wait_run_end(page, before)
    assert ui.run_error(page) is None, ui.run_error(page)
    page.wait_for_function("b => window.__zimage.ends.history > b.history", arg=before)


@pytest.mark.parametrize("width,height,shot", [(1400, 900, "edit-desktop.png"), (390, 844, "edit-phone.png")],
                         ids=["desktop", "phone"])
def test_paint_a_mask_run_and_download_keeps_the_rest(chromium, app_url, tmp_path, width, height, shot):
    page = ui.new_page(chromium, app_url, width=width, height=height)
    try:
        original = generate_and_use(page)
        paint_and_edit(page)
        items = ui.gallery_items(page)
        assert len(items) == 2  # the form's count applies to edits too
        result = ui.pixels(page, items[1][0])
        assert result.shape == original.shape
        changed = np.abs(result.astype(int) - original.astype(int)).max(axis=-1) > 0
        assert changed.any()  # the painted stroke was repainted
        rows = np.where(changed.any(axis=1))[0]
        assert rows.min() > 40 and rows.max() < SIZE[1] - 40  # ...and only around it: top and bottom untouched
        # Select the edit (the gallery is in preview mode since the first selection) and download its PNG.
        page.locator('#zimage-gallery button[aria-label="Thumbnail 2 of 2"]').first.click()
        expect(page.locator("#zimage-parameters textarea")).to_have_value(re.compile("Denoising strength"))
        with page.expect_download() as download:
            page.click("#zimage-download")
        saved = tmp_path / "download.png"
        download.value.save_as(saved)
        request = read_request(saved)
        # An edit's share link brings the settings, not the image, and the page says so.
        expect(page.locator("#zimage-notice textarea")).to_have_value(re.compile("cannot carry the source image"))
        assert request.strength == 0.6 and len(request.mask_sha256) == 64 and len(request.source_sha256) == 64
        ui.screenshot(page, screenshot_path(tmp_path, shot))
    finally:
        page.context.close()


def test_dropping_an_edit_png_restores_its_settings_and_asks_for_the_source(chromium, app_url, tmp_path):
    from PIL import Image

    from zimage.metadata import save_png
    from zimage.model_info import ModelInfo
    from zimage.request import GenerationRequest

    request = GenerationRequest("a blue door", width=320, height=256, seed=5, strength=0.45, mask_blur=9,
                                source_sha256="ab" * 32, mask_sha256="cd" * 32)
    png = save_png(Image.new("RGB", SIZE), request, ModelInfo("test", "r1"), tmp_path / "edit.png")
    page = ui.new_page(chromium, app_url)
    try:
        page.set_input_files("#zimage-load-png input[type=file]", str(png))
        expect(page.locator("#zimage-notice textarea")).to_have_value(re.compile("Upload its source image.*abab"))
        assert ui.text_value(page, "zimage-prompt") == "a blue door"
        assert ui.number_value(page, "zimage-strength") == 0.45 and ui.number_value(page, "zimage-mask-blur") == 9
    finally:
        page.context.close()
