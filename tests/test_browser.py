"""End to end in a real browser: Debian's Chromium, driven by Playwright, against `python app.py` on the tiny model.

Runs are 256x256 with 2 steps unless a test needs otherwise. Set ZIMAGE_UPDATE_SCREENSHOTS=1 to
rewrite docs/screenshots/desktop.png and phone.png; otherwise the screenshots go to a temp folder.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from devtools.apphost import ROOT, running_app
from zimage import sharelink
from zimage.metadata import save_png
from zimage.model_info import ModelInfo
from zimage.request import GenerationRequest

from . import browser as ui
from .browser import CHROMIUM, CHROMIUM_ARGS
from .conftest import SHARED_CACHE

SEED_CAPTION = re.compile(r"^seed (\d+)$")
NOTICE = "#zimage-notice textarea"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("browser"), ZIMAGE_CACHE_DIR=str(SHARED_CACHE)) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium):
    """The module's browser; every context a test opens is closed after it."""
    yield chromium
    for context in chromium.contexts:
        context.close()


@pytest.fixture
def page(browser, app_url):
    return ui.new_page(browser, app_url)


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    if os.environ.get("ZIMAGE_UPDATE_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path


def seeds_of(items: list[tuple[str, str]]) -> list[int]:
    seeds = []
    for _, caption in items:
        match = SEED_CAPTION.match(caption)
        assert match, f"caption {caption!r} is not 'seed N'"
        seeds.append(int(match.group(1)))
    return seeds


def make_png(path: Path, request: GenerationRequest) -> Path:
    return save_png(Image.new("RGB", (64, 64), "gray"), request, ModelInfo("test", "none"), path)


# --- 1. generate ---------------------------------------------------------------------------------------


def test_generate_shows_captioned_images_under_the_tiny_model_banner(page):
    expect(page.locator("#zimage-tiny-banner")).to_be_visible()
    expect(page.locator("#zimage-tiny-banner")).to_contain_text("tiny random-weights model")
    ui.fill_request(page, "a red lighthouse at dusk", count=2)
    items = ui.generate(page)
    seeds = seeds_of(items)
    # Random seed is ticked: the box shows the seed picked for this run, and image i uses seed + i.
    first = int(ui.number_value(page, "zimage-seed"))
    assert seeds == [first, first + 1]
    assert all(src.startswith("http") for src, _ in items)
    assert len(ui.gallery_items(page, "zimage-history")) == 2


# --- 2. select an image -----------------------------------------------------------------------------------


def test_selected_image_shows_its_settings_link_and_seed(page, app_url, screenshot_dir):
    prompt = "海边的灯塔 lighthouse by the sea"
    ui.fill_request(page, prompt, count=2)
    seeds = seeds_of(ui.generate(page))
    assert ui.is_checked(page, "zimage-random")
    ui.select_image(page, 1)
    parameters = ui.text_value(page, "zimage-parameters")
    assert parameters.splitlines()[0] == prompt
    assert f"Seed: {seeds[1]}," in parameters and "Size: 256x256" in parameters and "Steps: 2," in parameters
    link = ui.text_value(page, "zimage-share-url")
    assert link.startswith(app_url)
    query = parse_qs(urlsplit(link).query)
    assert query["seed"] == [str(seeds[1])] and query["prompt"] == [prompt]
    page.click("#zimage-use-seed")
    expect(page.locator("#zimage-seed input")).to_have_value(str(seeds[1]))
    expect(page.locator("#zimage-random input[type=checkbox]")).not_to_be_checked()
    ui.screenshot(page, screenshot_dir / "desktop.png")
    with Image.open(screenshot_dir / "desktop.png") as shot:
        assert shot.width == 1400


# --- 3. share links ---------------------------------------------------------------------------------------


def test_share_link_fills_every_field_and_remakes_the_same_pixels(page, browser, app_url):
    ui.fill_request(page, "share me: 分享", width=320, height=256, steps=3)
    [(original_src, caption)] = ui.generate(page)
    ui.select_image(page, 0)
    link = ui.text_value(page, "zimage-share-url")
    seed = seeds_of([(original_src, caption)])[0]

    shared = ui.new_page(browser, link)
    expect(shared.locator(NOTICE)).to_have_value("Settings loaded from the link.")
    assert ui.text_value(shared, "zimage-prompt") == "share me: 分享"
    assert ui.number_value(shared, "zimage-seed") == seed
    assert not ui.is_checked(shared, "zimage-random")
    ui.open_advanced(shared)
    assert (ui.number_value(shared, "zimage-width"), ui.number_value(shared, "zimage-height")) == (320, 256)
    assert ui.number_value(shared, "zimage-steps") == 3
    # Opening the link generated by itself: same seed, same pixels.
    [(remade_src, remade_caption)] = ui.gallery_items(shared)
    assert remade_caption == caption and remade_src != original_src
    original, remade = ui.pixels(page, original_src), ui.pixels(shared, remade_src)
    assert original.shape == (256, 320, 3)
    assert np.array_equal(original, remade)


# --- 4. language ------------------------------------------------------------------------------------------


def test_language_switch_relabels_the_page_and_keeps_the_prompt(page):
    page.fill("#zimage-prompt textarea", "keep me")
    page.locator("#zimage-language label", has_text="中文").click()
    expect(page.locator("#zimage-generate")).to_have_text("生成")
    expect(page.locator("#zimage-prompt [data-testid=block-info]")).to_have_text("提示词")
    expect(page.locator("#zimage-tiny-banner")).to_contain_text("演示模式")
    assert ui.text_value(page, "zimage-prompt") == "keep me"
    page.locator("#zimage-language label", has_text="English").click()
    expect(page.locator("#zimage-generate")).to_have_text("Generate")
    expect(page.locator("#zimage-prompt [data-testid=block-info]")).to_have_text("Prompt")
    assert ui.text_value(page, "zimage-prompt") == "keep me"


def test_a_chinese_browser_gets_the_chinese_page(browser, app_url):
    page = ui.new_page(browser, app_url, locale="zh-CN")
    expect(page.locator("#zimage-generate")).to_have_text("生成")
    assert ui.radio_value(page, "zimage-language") == "zh"
    expect(page.locator("#zimage-tiny-banner")).to_contain_text("演示模式")


# --- 5. load a PNG ----------------------------------------------------------------------------------------


def assert_form_shows(page, request: GenerationRequest, tier: str, size: str) -> None:
    assert ui.text_value(page, "zimage-prompt") == request.prompt
    assert ui.number_value(page, "zimage-seed") == request.seed
    assert not ui.is_checked(page, "zimage-random")
    assert ui.number_value(page, "zimage-count") == request.count
    assert ui.radio_value(page, "zimage-tier") == tier
    assert ui.text_value(page, "zimage-size") == size
    ui.open_advanced(page)
    assert ui.number_value(page, "zimage-width") == request.width
    assert ui.number_value(page, "zimage-height") == request.height
    assert ui.number_value(page, "zimage-steps") == request.steps
    assert ui.number_value(page, "zimage-shift") == request.shift


def test_png_upload_and_drop_restore_every_field(page, tmp_path):
    chosen = GenerationRequest("灯塔 lighthouse", width=864, height=1152, seed=777, steps=7, shift=4.5)
    dropped = GenerationRequest("拖放 dropped", width=1104, height=1472, seed=4242, steps=5, shift=2.5)
    # Move the form away from both requests first, so every restored value is visibly a change.
    page.locator("#zimage-tier label", has_text="1536").click()
    expect(page.locator("#zimage-size input")).to_have_value(re.compile("^1536×1536"))

    page.set_input_files("#zimage-load-png input[type=file]", str(make_png(tmp_path / "chosen.png", chosen)))
    expect(page.locator(NOTICE)).to_have_value("Settings loaded from the PNG.")
    expect(page.locator("#zimage-prompt textarea")).to_have_value(chosen.prompt)
    assert_form_shows(page, chosen, "1024", "864×1152 (3:4)")

    ui.drop_file(page, "#zimage-load-png button.upload-container", make_png(tmp_path / "dropped.png", dropped))
    expect(page.locator("#zimage-prompt textarea")).to_have_value(dropped.prompt)
    assert_form_shows(page, dropped, "1280", "1104×1472 (3:4)")


# --- 6. phone ---------------------------------------------------------------------------------------------


def test_phone_layout_has_no_sideways_scroll_and_generates(browser, app_url, screenshot_dir):
    page = ui.new_page(browser, app_url, width=390, height=844, is_mobile=True, has_touch=True)
    assert ui.scroll_width(page) <= 392
    ui.fill_request(page, "phone test 手机")
    [(src, caption)] = ui.generate(page)
    assert SEED_CAPTION.match(caption)
    assert ui.scroll_width(page) <= 392
    ui.screenshot(page, screenshot_dir / "phone.png")
    with Image.open(screenshot_dir / "phone.png") as shot:
        assert shot.width == 390


# --- 7. hostile and tricky links ----------------------------------------------------------------------------


def test_hostile_link_is_reported_as_text_and_fills_nothing(browser, app_url):
    page = ui.new_page(browser, None)
    dialogs, requests = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    payload = "<img src=x onerror=alert(1)>"
    for query, shown in ((f"?prompt={payload}&width=1000", "width must be a multiple of 16, got 1000"),
                         (f"?prompt=hi&width={payload}", payload)):
        ui.goto(page, app_url + query)
        expect(page.locator(NOTICE)).to_have_value(re.compile("^This link could not be used: .*" + re.escape(shown)))
        assert ui.text_value(page, "zimage-prompt") == ""
        assert ui.number_value(page, "zimage-seed") == 42 and ui.is_checked(page, "zimage-random")
        ui.open_advanced(page)
        assert ui.number_value(page, "zimage-width") == 1024
        assert ui.gallery_items(page) == []
    assert page.locator("img[src='x']").count() == 0
    assert not [url for url in requests if urlsplit(url).path.endswith("/x")]
    assert dialogs == []


def test_link_with_chinese_and_url_syntax_in_the_prompt_round_trips(browser, app_url):
    prompt = '招牌写着"老王 & 小李" #1 + 50% \'单引号\' a+b=c?d 「旗」'
    request = GenerationRequest(prompt, width=256, height=256, seed=31, steps=2)
    page = ui.new_page(browser, app_url + "?" + sharelink.build_query(request))
    expect(page.locator(NOTICE)).to_have_value("Settings loaded from the link.")
    assert ui.text_value(page, "zimage-prompt") == prompt
    [(_, caption)] = ui.gallery_items(page)
    assert caption == "★ seed 31 ✗ 0/2"  # proof-read: the prompt quotes two texts, and noise carries neither
    ui.select_image(page, 0)
    assert parse_qs(urlsplit(ui.text_value(page, "zimage-share-url")).query)["prompt"] == [prompt]


# --- 8. stop ----------------------------------------------------------------------------------------------


def test_stop_ends_the_run_without_images_and_frees_the_model_for_the_next(page):
    # 1024x1024 with 50 steps takes about 15 s on the tiny model with 2 CPU cores.
    ui.fill_request(page, "a slow one", width=1024, height=1024, steps=50)
    before = ui.click_generate(page)
    ui.wait_denoising(page, 2, before)
    started, first = time.monotonic(), ui.denoising_step(page)
    ui.wait_denoising(page, first + 2, before)
    step = ui.denoising_step(page)
    remaining = (50 - step) * (time.monotonic() - started) / (step - first)
    stopped_at = time.monotonic()
    page.click("#zimage-stop")
    ui.wait_run_end(page, before, timeout=10_000)
    assert ui.gallery_items(page) == [] and ui.gallery_items(page, "zimage-history") == []
    ui.fill_request(page, "a quick one")
    [(_, caption)] = ui.generate(page)
    assert SEED_CAPTION.match(caption)
    # The stopped run let go of the model at its next step: the new run did not wait out the old one.
    assert time.monotonic() - stopped_at < remaining / 2, f"stopped run kept going (~{remaining:.0f} s left)"


def test_stop_on_one_page_leaves_another_pages_run_alone(page, browser, app_url):
    other = ui.new_page(browser, app_url)
    ui.fill_request(other, "the other user's run", width=1024, height=1024, steps=50)
    before = ui.click_generate(other)
    ui.wait_denoising(other)
    with page.expect_response(lambda response: response.url.endswith("/run/predict")):
        page.click("#zimage-stop")
    # The cancel flag is checked after every step: a run that Stop reached would end at the next one.
    ui.wait_denoising(other, ui.denoising_step(other) + 3, before)
    assert ui.counters(other)["gallery"] == before["gallery"], "Stop on one page ended another page's run"
    other.click("#zimage-stop")
    ui.wait_run_end(other, before, timeout=10_000)
    assert ui.gallery_items(other) == []
