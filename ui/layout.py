"""The page's layout: which components exist and where. No event logic lives here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from zimage import presets, sizes
from zimage.assets import load_json
from zimage.request import (DEFAULT_MASK_BLUR, DEFAULT_SEED, DEFAULT_SHIFT, DEFAULT_SIDE, DEFAULT_STEPS,
                            DEFAULT_STRENGTH, MAX_COUNT, MAX_MASK_BLUR, MAX_PROMPT_CHARS, MAX_SHIFT, MAX_STEPS,
                            MAX_STRENGTH, MIN_COUNT, MIN_MASK_BLUR, MIN_SHIFT, MIN_STEPS, SIDE_MULTIPLE, TURBO_STEPS)

from .choices import LANGUAGE_CHOICES, preset_choices, size_choices, size_value
from .translate import T, Translator


@dataclass(frozen=True)
class Header:
    tagline: Any
    language: Any
    tiny_banner: Any
    status: Any
    notice: Any


@dataclass(frozen=True)
class EnhanceControls:
    """The prompt enhancer: a button, an editable box it streams into, accept and revert, and the option to write
    one prompt per image of a batch."""

    button: Any
    box: Any
    accept: Any
    revert: Any
    variations: Any


@dataclass(frozen=True)
class Inputs:
    prompt: Any
    generate: Any
    stop: Any
    preset: Any
    preset_info: Any
    text_title: Any
    text_subtitle: Any
    compose: Any
    tier: Any
    size: Any
    seed: Any
    random_seed: Any
    count: Any
    width: Any
    height: Any
    steps: Any
    shift: Any
    png: Any
    enhance: EnhanceControls | None = None
    loras: Any = None
    edit: "EditInputs | None" = None

    @property
    def request_fields(self) -> list[Any]:
        """The request's fields, in the order of the /generate API's positional parameters."""
        return [self.prompt, self.width, self.height, self.seed, self.count, self.steps, self.shift]


@dataclass(frozen=True)
class EditInputs:
    """The "Edit an image" section, and the hidden file inputs of the public /edit endpoint."""

    section: Any
    editor: Any
    mask_upload: Any
    keep_size: Any
    strength: Any
    mask_blur: Any
    run: Any
    api_image: Any
    api_mask: Any
    api_trigger: Any


@dataclass(frozen=True)
class Outputs:
    results: Any
    info: Any
    parameters: Any
    use_seed: Any
    use_result: Any
    download: Any
    copy_link: Any
    share_query: Any
    share_url: Any
    history: Any
    text_check: Any  # the selected image's proof-reading verdict, in words


@dataclass(frozen=True)
class ProofreadControls:
    """The "Proof-read images" section: any images (made here or elsewhere) checked against expected text."""

    files: Any
    expect: Any
    run: Any
    results: Any
    report: Any


@dataclass(frozen=True)
class Session:
    """Per-tab state."""

    lang: Any
    browser_lang: Any
    history: Any
    last_run: Any
    selected: Any
    autorun: Any
    idea: Any = None  # the prompt as it was before Enhance, for Revert
    enhanced: Any = None  # the enhancer's final result (idea, backend, seed), recorded in the PNGs it makes


@dataclass(frozen=True)
class Page:
    header: Header
    inputs: Inputs
    outputs: Outputs
    session: Session
    translator: Translator
    timer: Any
    proofread: ProofreadControls | None = None


def build_page(tr: Translator, lora_names: list[str] | None = None) -> Page:
    """Create every component inside the current gr.Blocks."""
    session = Session(
        lang=gr.State("en"),
        # A State cannot receive values from frontend js, so the browser's language arrives through this.
        browser_lang=gr.Textbox(visible=False),
        history=gr.State([]), last_run=gr.State([]), selected=gr.State(None), autorun=gr.State(False),
        idea=gr.State(""), enhanced=gr.State(None),
    )
    header = _header(tr)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            inputs = _inputs(tr, lora_names or [])
        with gr.Column(scale=6, min_width=320):
            outputs = _outputs(tr)
            proofread = _proofread(tr)
    gr.Examples(load_json("examples.json")["examples"], [inputs.prompt, inputs.width, inputs.height],
                label=T("examples").render("en"))
    tr(gr.Markdown, value=T("footer"))
    return Page(header, inputs, outputs, session, tr, timer=gr.Timer(2.0), proofread=proofread)


def _proofread(tr: Translator) -> ProofreadControls:
    with tr(gr.Accordion, label=T("proofread_section"), open=False, elem_id="zimage-proofread-section"):
        files = tr(gr.File, label=T("proofread_files"), file_count="multiple", file_types=["image"],
                   type="filepath", elem_id="zimage-proofread-files")
        expect = tr(gr.Textbox, label=T("proofread_expect"), info=T("proofread_expect_info"), lines=2,
                    max_lines=8, max_length=MAX_PROMPT_CHARS, elem_id="zimage-proofread-expect")
        run = tr(gr.Button, value=T("proofread_run"), elem_id="zimage-proofread-run")
        results = tr(gr.Gallery, label=T("proofread_results"), columns=4, height=260, object_fit="contain",
                     elem_id="zimage-proofread-results", interactive=False)
        report = gr.Markdown("", elem_id="zimage-proofread-report")
    return ProofreadControls(files, expect, run, results, report)


def _header(tr: Translator) -> Header:
    with gr.Row(equal_height=True):
        with gr.Column(scale=4):
            gr.Markdown("# Z-Image-Turbo")
            tagline = tr(gr.Markdown, value=T("tagline", (("steps", TURBO_STEPS),)))
        language = tr(gr.Radio, LANGUAGE_CHOICES, value="en", label=T("language"), scale=1, min_width=160,
                      elem_id="zimage-language")
    tiny_banner = gr.Markdown(visible=False, elem_id="zimage-tiny-banner", elem_classes=["zimage-banner-tiny"])
    status = gr.Markdown(elem_id="zimage-status")
    notice = tr(gr.Textbox, label=T("notice"), visible=False, interactive=False, elem_id="zimage-notice")
    return Header(tagline, language, tiny_banner, status, notice)


def _inputs(tr: Translator, lora_names: list[str]) -> Inputs:
    prompt = tr(gr.Textbox, label=T("prompt"), placeholder=T("prompt_placeholder"), lines=4, max_lines=12,
                max_length=MAX_PROMPT_CHARS, elem_id="zimage-prompt")
    with gr.Row():
        generate = tr(gr.Button, value=T("generate"), variant="primary", scale=3, elem_id="zimage-generate")
        stop = tr(gr.Button, value=T("stop"), variant="stop", scale=1, elem_id="zimage-stop")
    enhance = _enhance_controls(tr)
    with tr(gr.Accordion, label=T("presets"), open=False):
        tr(gr.Markdown, value=T("presets_info"))
        first = presets.list_presets()[0]
        preset = tr(gr.Dropdown, preset_choices("en"), value=first.id, label=T("preset"), elem_id="zimage-preset")
        preset_info = gr.Markdown(first.description["en"], elem_id="zimage-preset-info")
        with gr.Row():
            text_title = tr(gr.Textbox, label=T("text_title"), max_length=presets.MAX_TITLE_CHARS,
                            elem_id="zimage-text-title")
            text_subtitle = tr(gr.Textbox, label=T("text_subtitle"), max_length=presets.MAX_SUBTITLE_CHARS,
                               elem_id="zimage-text-subtitle")
        compose = tr(gr.Button, value=T("compose"), size="sm", elem_id="zimage-compose")
    with gr.Row():
        tier = tr(gr.Radio, [str(t) for t in sizes.tiers()], value=str(sizes.DEFAULT_TIER), label=T("tier"),
                  min_width=220, elem_id="zimage-tier")
        default = sizes.find(DEFAULT_SIDE, DEFAULT_SIDE)
        size = tr(gr.Dropdown, size_choices(sizes.DEFAULT_TIER), value=size_value(default), label=T("size"),
                  min_width=220, elem_id="zimage-size")
    with gr.Row():
        seed = tr(gr.Number, DEFAULT_SEED, label=T("seed"), precision=0, elem_id="zimage-seed")
        random_seed = tr(gr.Checkbox, True, label=T("random_seed"), elem_id="zimage-random")
    count = tr(gr.Slider, MIN_COUNT, MAX_COUNT, 1, step=1, label=T("count"), info=T("count_info"),
               elem_id="zimage-count")
    installed = ", ".join(lora_names) or "-"
    loras = tr(gr.Textbox, "", label=T("loras"), placeholder="name:0.8, other:0.5",
               info=T("loras_info", (("installed", installed),)), max_length=1000, elem_id="zimage-loras")
    edit = _edit_inputs(tr)
    with tr(gr.Accordion, label=T("advanced"), open=False):
        with gr.Row():
            # No minimum/maximum here: the server's own check names the field and speaks the user's language.
            width = tr(gr.Number, DEFAULT_SIDE, label=T("width"), precision=0, step=SIDE_MULTIPLE,
                       elem_id="zimage-width")
            height = tr(gr.Number, DEFAULT_SIDE, label=T("height"), precision=0, step=SIDE_MULTIPLE,
                        elem_id="zimage-height")
        steps = tr(gr.Slider, MIN_STEPS, MAX_STEPS, DEFAULT_STEPS, step=1, label=T("steps"),
                   info=T("steps_info", (("steps", TURBO_STEPS),)), elem_id="zimage-steps")
        shift = tr(gr.Slider, MIN_SHIFT, MAX_SHIFT, DEFAULT_SHIFT, step=0.1, label=T("shift"), elem_id="zimage-shift")
    png = tr(gr.File, label=T("load_png"), file_types=[".png"], type="filepath", height=130,
             elem_id="zimage-load-png")
    return Inputs(prompt, generate, stop, preset, preset_info, text_title, text_subtitle, compose, tier, size, seed,
                  random_seed, count, width, height, steps, shift, png, enhance, loras, edit)


def _edit_inputs(tr: Translator) -> EditInputs:
    with tr(gr.Accordion, label=T("edit_section"), open=False, elem_id="zimage-edit-section") as section:
        tr(gr.Markdown, value=T("edit_info"))
        # PNG, not Gradio's default WebP: the source must reach the model (and its SHA-256) without loss.
        editor = tr(gr.ImageEditor, label=T("edit_image"), type="filepath", format="png", height=460,
                    brush=gr.Brush(default_size=40, colors=[("#ff3d7f", 0.6)], color_mode="fixed"),
                    eraser=gr.Eraser(default_size=40), layers=False, transforms=(), elem_id="zimage-editor")
        with gr.Row():
            strength = tr(gr.Slider, 0.05, MAX_STRENGTH, DEFAULT_STRENGTH, step=0.05, label=T("strength"),
                          info=T("strength_info"), elem_id="zimage-strength")
            mask_blur = tr(gr.Slider, MIN_MASK_BLUR, MAX_MASK_BLUR, DEFAULT_MASK_BLUR, step=1, label=T("mask_blur"),
                           info=T("mask_blur_info"), elem_id="zimage-mask-blur")
        keep_size = tr(gr.Checkbox, True, label=T("keep_size"), elem_id="zimage-keep-size")
        mask_upload = tr(gr.File, label=T("mask_upload"), file_types=["image"], type="filepath", height=100,
                         elem_id="zimage-mask-upload")
        run = tr(gr.Button, value=T("edit_run"), variant="primary", elem_id="zimage-edit-run")
    # The public /edit endpoint takes plain files: a File keeps the uploaded bytes exactly (their SHA-256 too).
    api_image, api_mask = gr.File(visible=False, type="filepath"), gr.File(visible=False, type="filepath")
    api_trigger = gr.Button(visible=False)
    return EditInputs(section, editor, mask_upload, keep_size, strength, mask_blur, run, api_image, api_mask,
                      api_trigger)


def _enhance_controls(tr: Translator) -> EnhanceControls:
    button = tr(gr.Button, value=T("enhance"), size="sm", elem_id="zimage-enhance")
    box = tr(gr.Textbox, label=T("enhance_box"), info=T("enhance_info"), lines=4, max_lines=12, visible=False,
             max_length=MAX_PROMPT_CHARS, elem_id="zimage-enhanced")
    with gr.Row():
        accept = tr(gr.Button, value=T("enhance_accept"), size="sm", elem_id="zimage-enhance-accept")
        revert = tr(gr.Button, value=T("enhance_revert"), size="sm", elem_id="zimage-enhance-revert")
    variations = tr(gr.Checkbox, False, label=T("enhance_variations"), info=T("enhance_variations_info"),
                    elem_id="zimage-variations")
    return EnhanceControls(button, box, accept, revert, variations)


def _outputs(tr: Translator) -> Outputs:
    results = tr(gr.Gallery, label=T("gallery"), format="png", columns=2, height=520, object_fit="contain",
                 elem_id="zimage-gallery", interactive=False)
    info = gr.JSON(visible=False)
    with tr(gr.Accordion, label=T("details"), open=True):
        parameters = tr(gr.Textbox, label=T("parameters"), placeholder=T("details_empty"), lines=5,
                        interactive=False, elem_id="zimage-parameters")
        text_check = gr.Markdown("", elem_id="zimage-text-check")
        with gr.Row():
            use_seed = tr(gr.Button, value=T("use_seed"), size="sm", elem_id="zimage-use-seed")
            use_result = tr(gr.Button, value=T("use_result"), size="sm", elem_id="zimage-use-result")
            download = tr(gr.DownloadButton, label=T("download"), size="sm", elem_id="zimage-download")
            copy_link = tr(gr.Button, value=T("copy_link"), size="sm", elem_id="zimage-copy-link")
        share_query = gr.Textbox(visible=False)
        share_url = tr(gr.Textbox, label=T("share_link"), interactive=False, elem_id="zimage-share-url")
    with tr(gr.Accordion, label=T("history"), open=True):
        history = gr.Gallery(show_label=False, format="png", columns=6, height=220, fit_columns=False,
                             object_fit="cover", elem_id="zimage-history", interactive=False)
    return Outputs(results, info, parameters, use_seed, use_result, download, copy_link, share_query, share_url, history,
                   text_check)
