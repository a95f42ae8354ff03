"""Playwright helpers for driving the real app in Debian's Chromium (see tests/test_browser.py).

Without Chromium, importing this module skips the test module that imports it: every browser test needs it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium)",
                allow_module_level=True)
from playwright.sync_api import Browser, Page, expect  # noqa: E402
# No sandbox (containers, CI), no GPU, and nothing that phones home or updates itself during a test.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]
TIMEOUT_MS = 60_000

# Gradio shows a status tracker on each output while its event runs; a test cannot poll it reliably
# (a 256 px run is over in well under a second), so this records every busy -> idle transition as it
# happens. Idle means hidden, or showing Gradio's error state. The results gallery ends once per run,
# however it ends; the history gallery ends once per *successful* chain (its update runs on success),
# and the page-load chain ends with it too, so history >= 1 means the load event and autorun are done. The
# enhancer's box ends twice per Enhance click (shown, then filled).
TRACKER_JS = """
(() => {
  const ends = {gallery: 0, history: 0, enhanced: 0};
  const busy = {};
  window.__zimage = {ends};
  const isBusy = (el) => !!el && !el.classList.contains('hide') && !el.querySelector('.error');
  new MutationObserver(() => {
    for (const name of Object.keys(ends)) {
      const now = isBusy(document.querySelector(`#zimage-${name} > [data-testid=status-tracker]`));
      if (busy[name] && !now) ends[name] += 1;
      busy[name] = now;
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
})();
"""


def new_page(browser: Browser, url: str | None, *, locale: str = "en-US", width: int = 1400, height: int = 900,
             **context_options) -> Page:
    """A page in a fresh context (own session, own language); with a url, loaded and its load event finished."""
    context = browser.new_context(locale=locale, viewport={"width": width, "height": height}, **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.add_init_script(TRACKER_JS)
    if url is not None:
        goto(page, url)
    return page


def goto(page: Page, url: str) -> None:
    page.goto(url)
    wait_loaded(page)


def wait_loaded(page: Page) -> None:
    page.wait_for_function("window.__zimage && window.__zimage.ends.history >= 1", timeout=TIMEOUT_MS)


def counters(page: Page) -> dict:
    return page.evaluate("({...window.__zimage.ends})")


def click_generate(page: Page) -> dict:
    """Click Generate and return the counters from before, for `wait_run_end`."""
    before = counters(page)
    page.click("#zimage-generate")
    return before


def wait_run_end(page: Page, before: dict, timeout: float = TIMEOUT_MS) -> None:
    page.wait_for_function("b => window.__zimage.ends.gallery > b.gallery", arg=before, timeout=timeout)


def run_error(page: Page) -> list[str] | None:
    """The error Gradio shows for the last run (its toast text), or None when the gallery is not in error."""
    if not page.locator("#zimage-gallery > [data-testid=status-tracker] .error").count():
        return None
    return page.locator(".toast-body").all_inner_texts() or ["(error without a toast)"]


def generate(page: Page) -> list[tuple[str, str]]:
    """Click Generate, wait for the run and the history update, and return the results gallery items."""
    before = click_generate(page)
    wait_run_end(page, before)
    assert run_error(page) is None, run_error(page)
    page.wait_for_function("b => window.__zimage.ends.history > b.history", arg=before)
    return gallery_items(page)


def wait_idle(page: Page) -> None:
    """Wait until no component shows a running event (so a screenshot has no progress overlays)."""
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=status-tracker]')]"
        ".every(el => el.classList.contains('hide') || el.querySelector('.error'))")


def screenshot(page: Page, path: Path) -> None:
    """A full-page screenshot from the top, once every event has settled."""
    wait_idle(page)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)


def denoising_step(page: Page) -> int:
    """The step the results gallery's progress shows ("3/50 steps"), or 0 before denoising starts."""
    text = page.locator("#zimage-gallery > [data-testid=status-tracker]").inner_text()
    match = re.search(r"(\d+)/\d+ steps", text)
    return int(match.group(1)) if match else 0


def wait_denoising(page: Page, at_least: int = 1, before: dict | None = None) -> None:
    """Wait until the run reports at least this many denoising steps (or, given `before`, ends sooner)."""
    page.wait_for_function(
        """([n, before]) => {
            if (before && window.__zimage.ends.gallery > before.gallery) return true;
            const tracker = document.querySelector('#zimage-gallery > [data-testid=status-tracker]');
            const m = (tracker?.innerText || '').match(/(\\d+)\\/\\d+ steps/);
            return !!m && Number(m[1]) >= n;
        }""", arg=[at_least, before])


def gallery_items(page: Page, elem_id: str = "zimage-gallery") -> list[tuple[str, str]]:
    """(image URL, caption) for each image in a gallery's grid, in order."""
    items = page.locator(f"#{elem_id} .grid-container .thumbnail-item")
    return [(item.locator("img").get_attribute("src"), item.locator(".caption-label").inner_text().strip())
            for item in items.all()]


def select_image(page: Page, index: int) -> None:
    """Click a result, then wait until the share link (filled last, in the browser) reflects it."""
    page.locator("#zimage-gallery .grid-container .thumbnail-item").nth(index).click()
    expect(page.locator("#zimage-share-url textarea")).to_have_value(re.compile(r"^http.*seed="))


def open_advanced(page: Page) -> None:
    if not page.locator("#zimage-width").count():
        page.get_by_role("button", name=re.compile(r"^(Advanced|高级设置)")).click()
    page.wait_for_selector("#zimage-width input")


def text_value(page: Page, elem_id: str) -> str:
    return page.locator(f"#{elem_id}").locator("textarea, input").first.input_value()


def number_value(page: Page, elem_id: str) -> float:
    """A Number's value, or a Slider's (its number box)."""
    return float(page.locator(f"#{elem_id} input[type=number]").first.input_value())


def set_number(page: Page, elem_id: str, value: float) -> None:
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.fill(str(value))
    box.press("Enter")


def is_checked(page: Page, elem_id: str) -> bool:
    return page.locator(f"#{elem_id} input[type=checkbox]").is_checked()


def radio_value(page: Page, elem_id: str) -> str | None:
    return page.locator(f"#{elem_id} input[aria-checked=true]").get_attribute("value")


def fill_request(page: Page, prompt: str, *, width: int = 256, height: int = 256, steps: int = 2,
                 count: int = 1, seed: int | None = None) -> None:
    """Type a request into the form; seed None keeps "Random seed" ticked."""
    page.fill("#zimage-prompt textarea", prompt)
    if seed is not None:
        set_number(page, "zimage-seed", seed)
        page.locator("#zimage-random input[type=checkbox]").set_checked(False)
    set_number(page, "zimage-count", count)
    open_advanced(page)
    set_number(page, "zimage-width", width)
    set_number(page, "zimage-height", height)
    set_number(page, "zimage-steps", steps)


def pixels(page: Page, src: str) -> np.ndarray:
    """Download an image the page shows and decode it."""
    response = page.request.get(src)
    assert response.ok, f"{src}: HTTP {response.status}"
    with Image.open(io.BytesIO(response.body())) as image:
        return np.asarray(image.convert("RGB"))


def drop_file(page: Page, selector: str, path: Path, mime: str = "image/png") -> None:
    """Drag a file from "the desktop" onto an element: dragenter, dragover and drop with a real DataTransfer."""
    data = list(path.read_bytes())
    transfer = page.evaluate_handle(
        """([bytes, name, mime]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type: mime}));
            return transfer;
        }""",
        [data, path.name, mime],
    )
    target = page.locator(selector)
    for event in ("dragenter", "dragover", "drop"):
        target.dispatch_event(event, {"dataTransfer": transfer})


def scroll_width(page: Page) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth")
