"""The Gradio app: builds the UI and wires its events to the zimage package. Run `python app.py --help`."""

import os
import tempfile

# Gradio serves its cache folder over HTTP and reads this at import: keep it private to this app, not /tmp/gradio.
os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(tempfile.gettempdir(), "zimage-gradio"))

import spaces  # noqa: E402,F401 - must come before torch: ZeroGPU patches CUDA initialisation

import argparse
import html
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from zimage import i18n, presets, sharelink, sizes
from zimage.assets import load_json
from zimage.config import MEMORY_MODES, AppSettings, on_zero_gpu
from zimage.engine import default_engine
from zimage.errors import CancelledError, ValidationError, ZImageError
from zimage.metadata import read_request
from zimage.outputs import prune
from zimage.ratelimit import RateLimiter
from zimage.request import DEFAULT_SHIFT, DEFAULT_STEPS, MAX_COUNT, MAX_SEED, GenerationRequest, parse_size
from zimage.results import SavedImage, estimate_gpu_seconds, save_results

log = logging.getLogger("zimage.app")

LANGUAGE_CHOICES = [("English", "en"), ("中文", "zh")]
# Run-scoped cancel flags, keyed by the browser session, so Stop reaches only that user's work.
CANCELS: dict[str, threading.Event] = {}
CSS = """
.zimage-banner-tiny { border: 2px solid #d97706; border-radius: 8px; padding: 4px 12px; background: #fffbeb; }
.zimage-banner-tiny * { color: #92400e !important; }
#zimage-generate { min-height: 48px; }
"""


# --- the GPU function -------------------------------------------------------------------------------


def _gpu_duration(request: GenerationRequest, session: str = "", progress: Any = None) -> int:
    return estimate_gpu_seconds(request)


@spaces.GPU(duration=_gpu_duration)
def gpu_generate(request: GenerationRequest, session: str = "", progress: Any = gr.Progress()) -> list:
    """The only code that needs the GPU. On ZeroGPU it runs in a worker, so it takes plain values."""

    def report(step: int, total: int) -> None:
        progress((step, total), desc="Denoising", unit="steps")

    return default_engine().generate(request, progress=report, cancel=CANCELS.get(session))


# --- handlers: plain functions of values; the layout lives in UI.build ----------------------------------


@dataclass
class Services:
    """What the handlers share: serving limits, the rate limiter and the output folder."""

    app: AppSettings
    limiter: RateLimiter
    output_dir: Path


def client_id(request: gr.Request | None) -> str:
    """Rate limits apply per Hugging Face user where known, else per IP address."""
    if request is None:
        return "local"
    user = getattr(request, "username", None)
    return f"user:{user}" if user else f"ip:{getattr(request.client, 'host', 'unknown')}"


def session_id(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def user_error(error: ZImageError, lang: str) -> gr.Error:
    # gr.Error renders HTML; escaping keeps hostile text (prompts, link values) as plain text.
    return gr.Error(html.escape(i18n.error_message(error, lang)), print_exception=False)


def run_request(services: Services, request: GenerationRequest, lang: str, http: gr.Request | None,
                progress: Any) -> list[SavedImage]:
    """Validate, rate-limit, generate and save one request; every failure becomes a translated gr.Error."""
    session = session_id(http)
    cancel = CANCELS[session] = threading.Event()
    saved: list[SavedImage] = []
    try:
        checked = request.validated()
        services.limiter.check(client_id(http))
        results = gpu_generate(checked, session, progress)
        prefix = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        saved = save_results(results, services.output_dir, prefix)
    except ZImageError as error:
        raise user_error(error, lang) from None
    except Exception as error:  # noqa: BLE001 - never show a stack trace to users
        log.exception("Unexpected failure")
        raise user_error(ZImageError(f"Unexpected error ({type(error).__name__}).", code="error"), lang) from None
    finally:
        if CANCELS.get(session) is cancel:
            del CANCELS[session]  # keep the table to the runs in flight
        prune(services.output_dir, services.app.output_max_age_hours * 3600, int(services.app.output_max_mb * 2**20),
              keep=[item.path for item in saved])  # the answer's own files are served from there
    return saved


def gallery_items(entries: list[dict]) -> list[tuple[str, str]]:
    return [(entry["path"], SavedImage.from_dict(entry).caption) for entry in entries]


def model_status(lang: str) -> str:
    engine = default_engine()
    loaded = engine.loaded
    if loaded is not None:
        return i18n.text("model_ready", lang, **loaded.describe())
    if engine.last_error:
        return i18n.text("model_failed", lang, reason=html.escape(engine.last_error))
    return i18n.text("model_loading", lang)


def tiny_banner(lang: str) -> dict:
    """The prominent demo-mode notice: shown whenever the tiny model is (or will be) answering."""
    engine = default_engine()
    loaded = engine.loaded
    if loaded is not None:
        is_tiny, reason = loaded.source.is_tiny, loaded.source.fallback_reason
    else:
        is_tiny, reason = engine.settings.model == "tiny", ""
    if not is_tiny:
        return dict(value="", visible=False)
    return dict(value=i18n.text("tiny_warning", lang, reason=reason or "ZIMAGE_MODEL=tiny"), visible=True)


def start_background_load() -> None:
    """Load the model while the UI is already serving; failures are shown and retried on use."""

    def load() -> None:
        try:
            default_engine().load()
        except ZImageError as error:
            log.error("Background model load failed: %s", error)

    threading.Thread(target=load, name="zimage-load", daemon=True).start()


# --- the UI -----------------------------------------------------------------------------------------


class UI:
    """Builds the layout and wires events. Components are attributes, so handlers return dicts by name."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.translated: list[tuple[Any, dict[str, str]]] = []

    def t(self, component: Any, **keys: str) -> Any:
        """Register which properties of `component` (label, placeholder, info, value) come from ui.json."""
        self.translated.append((component, keys))
        return component

    def language_updates(self, lang: str) -> dict:
        updates = {}
        for component, keys in self.translated:
            updates[component] = gr.update(**{prop: i18n.text(key, lang) for prop, key in keys.items()})
        updates[self.preset] = gr.update(choices=preset_choices(lang))
        updates[self.status] = model_status(lang)
        updates[self.tiny_banner] = gr.update(**tiny_banner(lang))
        return updates

    # layout ------------------------------------------------------------------------------------

    def build(self) -> gr.Blocks:
        # Outputs are served from their own folder; Gradio's cache only holds uploaded PNGs, kept for an hour.
        with gr.Blocks(title="Z-Image-Turbo", delete_cache=(600, 3600)) as demo:
            self.lang = gr.State("en")
            # A State cannot receive values from frontend js, so the browser's language arrives through this.
            self.browser_lang = gr.Textbox(visible=False)
            self.history = gr.State([])
            self.last_run = gr.State([])
            self.selected = gr.State(None)
            self.autorun = gr.State(False)
            self._header()
            with gr.Row(equal_height=False):
                with gr.Column(scale=5, min_width=320):
                    self._inputs()
                with gr.Column(scale=6, min_width=320):
                    self._outputs()
            examples = load_json("examples.json")["examples"]
            gr.Examples(examples, [self.prompt, self.width, self.height], label=i18n.text("examples"))
            self.footer = self.t(gr.Markdown(i18n.text("footer")), value="footer")
            self._wire(demo)
        return demo

    def _header(self) -> None:
        with gr.Row(equal_height=True):
            with gr.Column(scale=4):
                gr.Markdown("# Z-Image-Turbo")
                self.tagline = self.t(gr.Markdown(i18n.text("tagline")), value="tagline")
            self.language = self.t(gr.Radio(LANGUAGE_CHOICES, value="en", label=i18n.text("language"),
                                            scale=1, min_width=160, elem_id="zimage-language"), label="language")
        self.tiny_banner = gr.Markdown(**tiny_banner("en"), elem_id="zimage-tiny-banner",
                                       elem_classes=["zimage-banner-tiny"])
        self.status = gr.Markdown(model_status("en"), elem_id="zimage-status")
        self.notice = self.t(gr.Textbox(label=i18n.text("notice"), visible=False, interactive=False,
                                        elem_id="zimage-notice"), label="notice")

    def _inputs(self) -> None:
        self.prompt = self.t(gr.Textbox(label=i18n.text("prompt"), placeholder=i18n.text("prompt_placeholder"),
                                        lines=4, max_lines=12, max_length=2000, elem_id="zimage-prompt"),
                             label="prompt", placeholder="prompt_placeholder")
        with gr.Row():
            self.generate_button = self.t(gr.Button(i18n.text("generate"), variant="primary", scale=3,
                                                    elem_id="zimage-generate"), value="generate")
            self.stop = self.t(gr.Button(i18n.text("stop"), variant="stop", scale=1, elem_id="zimage-stop"),
                               value="stop")
        with self.t(gr.Accordion(i18n.text("presets"), open=False), label="presets"):
            self.presets_info = self.t(gr.Markdown(i18n.text("presets_info")), value="presets_info")
            self.preset = self.t(gr.Dropdown(preset_choices("en"), value=presets.list_presets()[0].id,
                                             label=i18n.text("preset"), elem_id="zimage-preset"), label="preset")
            with gr.Row():
                self.text_title = self.t(gr.Textbox(label=i18n.text("text_title"), max_length=80,
                                                    elem_id="zimage-text-title"), label="text_title")
                self.text_subtitle = self.t(gr.Textbox(label=i18n.text("text_subtitle"), max_length=120,
                                                       elem_id="zimage-text-subtitle"), label="text_subtitle")
            self.compose = self.t(gr.Button(i18n.text("compose"), size="sm", elem_id="zimage-compose"),
                                  value="compose")
        tiers = [str(tier) for tier in sizes.tiers()]
        with gr.Row():
            self.tier = self.t(gr.Radio(tiers, value=str(sizes.DEFAULT_TIER), label=i18n.text("tier"),
                                        min_width=220, elem_id="zimage-tier"), label="tier")
            self.size = self.t(gr.Dropdown(size_choices(sizes.DEFAULT_TIER), value="1024x1024",
                                           label=i18n.text("size"), min_width=220, elem_id="zimage-size"),
                               label="size")
        with gr.Row():
            self.seed = self.t(gr.Number(42, label=i18n.text("seed"), precision=0, elem_id="zimage-seed"),
                               label="seed")
            self.random_seed = self.t(gr.Checkbox(True, label=i18n.text("random_seed"), elem_id="zimage-random"),
                                      label="random_seed")
        self.count = self.t(gr.Slider(1, MAX_COUNT, 1, step=1, label=i18n.text("count"), info=i18n.text("count_info"),
                                      elem_id="zimage-count"), label="count", info="count_info")
        with self.t(gr.Accordion(i18n.text("advanced"), open=False), label="advanced"):
            with gr.Row():
                # No minimum/maximum here: the server's own check names the field and speaks the user's language.
                self.width = self.t(gr.Number(1024, label=i18n.text("width"), precision=0, step=16,
                                              elem_id="zimage-width"), label="width")
                self.height = self.t(gr.Number(1024, label=i18n.text("height"), precision=0, step=16,
                                               elem_id="zimage-height"), label="height")
            self.steps = self.t(gr.Slider(1, 50, DEFAULT_STEPS, step=1, label=i18n.text("steps"),
                                          info=i18n.text("steps_info"), elem_id="zimage-steps"),
                                label="steps", info="steps_info")
            self.shift = self.t(gr.Slider(1.0, 10.0, DEFAULT_SHIFT, step=0.1, label=i18n.text("shift"),
                                          elem_id="zimage-shift"), label="shift")
        self.png = self.t(gr.File(label=i18n.text("load_png"), file_types=[".png"], type="filepath", height=130,
                                  elem_id="zimage-load-png"), label="load_png")

    def _outputs(self) -> None:
        self.results = self.t(gr.Gallery(label=i18n.text("gallery"), format="png", columns=2, height=520,
                                         object_fit="contain", elem_id="zimage-gallery", interactive=False),
                              label="gallery")
        self.info = gr.JSON(visible=False)
        with self.t(gr.Accordion(i18n.text("details"), open=True), label="details"):
            self.parameters = self.t(gr.Textbox(label=i18n.text("parameters"), placeholder=i18n.text("details_empty"),
                                                lines=5, interactive=False, elem_id="zimage-parameters"),
                                     label="parameters", placeholder="details_empty")
            with gr.Row():
                self.use_seed = self.t(gr.Button(i18n.text("use_seed"), size="sm", elem_id="zimage-use-seed"),
                                       value="use_seed")
                self.download = self.t(gr.DownloadButton(i18n.text("download"), size="sm", elem_id="zimage-download"),
                                       label="download")
                self.copy_link = self.t(gr.Button(i18n.text("copy_link"), size="sm", elem_id="zimage-copy-link"),
                                        value="copy_link")
            self.share_query = gr.Textbox(visible=False)
            self.share_url = self.t(gr.Textbox(label=i18n.text("share_link"), interactive=False,
                                               elem_id="zimage-share-url"), label="share_link")
        with self.t(gr.Accordion(i18n.text("history"), open=True), label="history"):
            self.history_gallery = gr.Gallery(show_label=False, format="png", columns=6, height=220, fit_columns=False,
                                              object_fit="cover", elem_id="zimage-history", interactive=False)

    # events ------------------------------------------------------------------------------------

    def _wire(self, demo: gr.Blocks) -> None:
        gpu = dict(concurrency_id="gpu", concurrency_limit=self.services.app.concurrency)
        fields = [self.prompt, self.width, self.height, self.seed, self.count, self.steps, self.shift]
        run = self.generate_button.click(self.pick_seed, [self.seed, self.random_seed], [self.seed, self.notice],
                                         api_visibility="private")
        run = run.then(self.generate, [*fields, self.lang], [self.results, self.info, self.last_run],
                       api_name="generate", api_description=GENERATE_DOC, **gpu)
        run.success(self.add_history, [self.last_run, self.history], [self.history, self.history_gallery],
                    api_visibility="private")

        language_outputs = self.language_outputs()
        load_outputs = unique([*language_outputs, *self.fill_outputs(), self.notice, self.autorun])
        linked = demo.load(self.on_load, [self.browser_lang], load_outputs, api_visibility="private",
                           js="(lang) => navigator.language || 'en'")
        linked = linked.then(self.autorun_generate, [self.autorun, *fields, self.lang],
                             [self.results, self.info, self.last_run], api_visibility="private", **gpu)
        linked.success(self.add_history, [self.last_run, self.history], [self.history, self.history_gallery],
                       api_visibility="private")
        self.stop.click(self.stop_run, [self.lang], [self.notice], cancels=[run, linked], api_visibility="private",
                        queue=False)
        # Cheap UI events skip the queue: a queue full of generations must not block a language switch.
        ui = dict(api_visibility="private", queue=False)
        self.language.input(self.switch_language, [self.language], language_outputs, **ui)
        self.tier.input(self.pick_tier, [self.tier], [self.size, self.width, self.height], **ui)
        self.size.input(self.pick_size, [self.size], [self.width, self.height], **ui)
        for side in (self.width, self.height):
            side.input(self.match_size, [self.width, self.height], [self.tier, self.size], **ui)
        self.compose.click(self.compose_prompt, [self.preset, self.text_title, self.text_subtitle, self.lang],
                           [self.prompt, self.notice], **ui)
        self.png.upload(self.load_png, [self.png, self.lang], unique([*self.fill_outputs(), self.notice, self.png]),
                        **ui)
        selection = [self.selected, self.parameters, self.download, self.share_query]
        for gallery, entries in ((self.results, self.last_run), (self.history_gallery, self.history)):
            gallery.select(self.select_image, [entries, self.lang], selection, **ui).then(
                None, [self.share_query], [self.share_url], js=SHARE_URL_JS, api_visibility="private")
        self.use_seed.click(self.reuse_seed, [self.selected], [self.seed, self.random_seed], **ui)
        self.copy_link.click(None, [self.share_url], [self.share_url], js=COPY_JS, api_visibility="private")
        timer = gr.Timer(2.0)
        timer.tick(self.refresh_status, [self.lang], [self.status, self.tiny_banner, timer], **ui)

    def language_outputs(self) -> list:
        return unique([self.lang, self.language, *(c for c, _ in self.translated), self.preset, self.status,
                       self.tiny_banner])

    def fill_outputs(self) -> list:
        return [self.prompt, self.width, self.height, self.seed, self.random_seed, self.count, self.steps,
                self.shift, self.tier, self.size]

    # handlers ----------------------------------------------------------------------------------

    def pick_seed(self, seed: float | None, randomize: bool) -> tuple:
        if randomize or seed is None:
            seed = random.randint(0, MAX_SEED - MAX_COUNT)
        return int(seed), gr.update(value="", visible=False)

    def generate(self, prompt: str, width: float, height: float, seed: float, count: float, steps: float,
                 shift: float, lang: str = "en", request: gr.Request = None,
                 progress: gr.Progress = gr.Progress()) -> tuple:
        try:
            req = GenerationRequest(prompt=prompt, width=width, height=height, seed=seed, count=count, steps=steps,
                                    shift=shift)
        except TypeError as error:  # wrong argument shapes from an API call
            raise user_error(ValidationError(str(error), code="invalid"), lang) from None
        saved = run_request(self.services, req, lang, request, progress)
        entries = [item.to_dict() for item in saved]
        info = {"seeds": [item.request.seed for item in saved], "width": req.width, "height": req.height,
                "model": saved[0].model if saved else {}}
        return gallery_items(entries), info, entries

    def autorun_generate(self, autorun: bool, *values: Any, request: gr.Request = None,
                         progress: gr.Progress = gr.Progress()) -> tuple:
        if not autorun:
            return gr.skip(), gr.skip(), []
        return self.generate(*values, request=request, progress=progress)

    def add_history(self, last_run: list[dict], history: list[dict]) -> tuple:
        if not last_run:
            return gr.skip(), gr.skip()
        history = (list(last_run) + list(history))[: self.services.app.history_limit]
        return history, gallery_items(history)

    def stop_run(self, lang: str, request: gr.Request) -> dict:
        event = CANCELS.get(session_id(request))
        if event is not None:
            event.set()
        return gr.update(value=i18n.error_message(CancelledError("Stopped."), lang), visible=True)

    def on_load(self, browser_lang: str, request: gr.Request) -> dict:
        log.info("page load: browser language %r", browser_lang)
        lang = i18n.normalize_language(browser_lang)
        updates = self.switch_language(lang)
        try:
            linked = sharelink.parse_query(_query_lists(request))
        except ValidationError as error:
            message = i18n.text("link_invalid", lang, message=i18n.error_message(error, lang))
            notice = gr.update(value=message, visible=True)
            return merge_updates(updates, {self.notice: notice, self.autorun: False})
        if linked is None:
            return merge_updates(updates, {self.autorun: False})
        notice = gr.update(value=i18n.text("loaded_from_link", lang), visible=True)
        return merge_updates(updates, self.fill_fields(linked), {self.notice: notice, self.autorun: True})

    def fill_fields(self, req: GenerationRequest) -> dict:
        """Updates that put a request back into every field (share links, PNG drops)."""
        option = sizes.find(req.width, req.height)
        updates = {self.prompt: req.prompt, self.width: req.width, self.height: req.height, self.seed: req.seed,
                   self.random_seed: False, self.count: req.count, self.steps: req.steps, self.shift: req.shift}
        if option is not None:
            updates[self.tier] = str(option.tier)
            updates[self.size] = gr.update(choices=size_choices(option.tier), value=size_value(option))
        else:
            updates[self.size] = gr.update(value=None)
        return updates

    def switch_language(self, lang: str) -> dict:
        lang = i18n.normalize_language(lang)
        return merge_updates(self.language_updates(lang), {self.lang: lang, self.language: lang})

    def pick_tier(self, tier: str) -> tuple:
        first = sizes.sizes(int(tier))[0]
        return gr.update(choices=size_choices(int(tier)), value=size_value(first)), first.width, first.height

    def pick_size(self, value: str) -> tuple:
        try:
            return parse_size(value)
        except ValidationError:
            return gr.skip(), gr.skip()

    def match_size(self, width: float | None, height: float | None) -> tuple:
        """Keep the size picker honest when sides are typed: the listed size, or blank for a custom one."""
        option = sizes.find(int(width or 0), int(height or 0))
        if option is None:
            return gr.skip(), gr.update(value=None)
        return str(option.tier), gr.update(choices=size_choices(option.tier), value=size_value(option))

    def compose_prompt(self, preset_id: str, title: str, subtitle: str, lang: str) -> tuple:
        try:
            return presets.compose_prompt(preset_id, title, subtitle, lang), gr.update(value="", visible=False)
        except ValidationError as error:
            return gr.skip(), gr.update(value=i18n.error_message(error, lang), visible=True)

    def load_png(self, path: str | None, lang: str) -> dict:
        if not path:
            return {}
        try:
            req = read_request(path)
        except ValidationError as error:
            return {self.notice: gr.update(value=i18n.error_message(error, lang), visible=True)}
        notice = gr.update(value=i18n.text("loaded_from_png", lang), visible=True)
        return merge_updates(self.fill_fields(req), {self.notice: notice, self.png: None})

    def select_image(self, entries: list[dict], lang: str, evt: gr.SelectData) -> dict:
        if not entries or not 0 <= evt.index < len(entries):
            return {}
        item = SavedImage.from_dict(entries[evt.index])
        return {self.selected: item.to_dict(), self.parameters: item.parameters_text(),
                self.download: gr.update(value=item.path), self.share_query: sharelink.build_query(item.request)}

    def reuse_seed(self, selected: dict | None) -> tuple:
        if not selected:
            return gr.skip(), gr.skip()
        return selected["request"]["seed"], False

    def refresh_status(self, lang: str) -> tuple:
        engine = default_engine()
        done = engine.loaded is not None or bool(engine.last_error)
        return model_status(lang), gr.update(**tiny_banner(lang)), gr.Timer(active=not done)


GENERATE_DOC = (
    "Generate images with Z-Image-Turbo. Parameters: prompt (text, required, at most 2000 characters); "
    "width and height (multiples of 16 in [256, 2048]); seed (0 to 4294967295; image i uses seed+i); "
    "count (1 to 8); steps (1 to 50, Turbo default 9); shift (1.0 to 10.0, default 3.0). "
    "Returns the PNG images (each captioned with its seed) and a JSON object with the seeds and the model."
)
SHARE_URL_JS = "(q) => q ? window.location.origin + window.location.pathname + '?' + q : ''"
COPY_JS = "(url) => { if (url && navigator.clipboard) { navigator.clipboard.writeText(url).catch(() => {}); } return url; }"


def as_update(value: Any) -> dict:
    return value if isinstance(value, dict) and value.get("__type__") == "update" else gr.update(value=value)


def merge_updates(*groups: dict) -> dict:
    """Combine {component: update} dicts; a component named twice gets both its label and its value."""
    merged: dict = {}
    for group in groups:
        for component, value in group.items():
            if component in merged and not isinstance(component, gr.State):
                merged[component] = {**as_update(merged[component]), **as_update(value)}
            else:
                merged[component] = value
    return merged


def unique(components: list) -> list:
    """Drop repeats (a component may be both translated and filled) while keeping the order."""
    return list(dict.fromkeys(components))


def _query_lists(request: gr.Request) -> dict[str, list[str]]:
    """Query parameters with repeated keys kept, so the share-link parser can reject them."""
    lists: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        lists.setdefault(key, []).append(value)
    return lists


def preset_choices(lang: str) -> list[tuple[str, str]]:
    lang = i18n.normalize_language(lang)
    return [(preset.name[lang], preset.id) for preset in presets.list_presets()]


def size_value(option: sizes.SizeOption) -> str:
    return f"{option.width}x{option.height}"


def size_choices(tier: int) -> list[tuple[str, str]]:
    return [(option.label, size_value(option)) for option in sizes.sizes(tier)]


# --- entry point ------------------------------------------------------------------------------------


def create_demo(app_settings: AppSettings | None = None) -> gr.Blocks:
    app_settings = app_settings or AppSettings.from_env()
    engine = default_engine()
    services = Services(app_settings, RateLimiter.parse(app_settings.rate_limit), engine.settings.output_dir)
    services.output_dir.mkdir(parents=True, exist_ok=True)
    # Serve images straight from the output folder: otherwise Gradio copies each one into its cache, which only
    # ages out, so ZIMAGE_OUTPUT_MAX_MB would not bound the disk.
    gr.set_static_paths([str(services.output_dir)])
    demo = UI(services).build()
    demo.queue(max_size=app_settings.queue_size, default_concurrency_limit=app_settings.concurrency)
    return demo


def launch_kwargs(mcp: bool) -> dict[str, Any]:
    return dict(
        css=CSS, theme=gr.themes.Soft(), mcp_server=mcp, show_error=True,
        # Only the app's own output folder is served beside Gradio's cache: nothing else on disk is reachable.
        allowed_paths=[str(default_engine().settings.output_dir)],
        # The only upload is a PNG to read settings from (a 2048x2048 PNG is ~12 MB); unbounded uploads fill the disk.
        max_file_size="20mb",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Z-Image-Turbo web app")
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1, or GRADIO_SERVER_NAME)")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860, or GRADIO_SERVER_PORT)")
    parser.add_argument("--mcp", action="store_true", help="also serve the API as an MCP server")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    parser.add_argument("--model", help="auto, tiny, a hub id or a local diffusers folder (ZIMAGE_MODEL)")
    parser.add_argument("--memory", choices=MEMORY_MODES, help="full, offload (16 GB cards), sequential (ZIMAGE_MEMORY)")
    parser.add_argument("--attention", help="attention backend: auto, native, flash, _flash_3, ... (ZIMAGE_ATTENTION)")
    parser.add_argument("--compile", action="store_true", help="regional torch.compile of the blocks (ZIMAGE_COMPILE)")
    parser.add_argument("--fp8", action="store_true", help="fp8 weights through torchao (ZIMAGE_FP8)")
    args = parser.parse_args(argv)
    # Flags win over the environment; the engine reads its settings from the environment in one place.
    for name, value in (("MODEL", args.model), ("MEMORY", args.memory), ("ATTENTION", args.attention),
                        ("COMPILE", "1" if args.compile else None), ("FP8", "1" if args.fp8 else None)):
        if value:
            os.environ[f"ZIMAGE_{name}"] = value
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app_settings = AppSettings.from_env()
    if on_zero_gpu():
        default_engine().load()  # ZeroGPU workers fork from this process, so the weights must be here first
    demo = create_demo(app_settings)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, prevent_thread_lock=True,
                **launch_kwargs(args.mcp or app_settings.mcp))
    # The page is already being served; torch, diffusers and the weights load behind it.
    start_background_load()
    demo.block_thread()


if __name__ == "__main__":
    main()
