"""Event wiring: which handler runs on which event, with which inputs and outputs."""

from __future__ import annotations

from typing import Any

import gradio as gr

from . import api
from .choices import preset_description
from .editing import EDIT_DOC, Editing
from .enhancement import Enhancement
from .form import Form
from .generation import Generation
from .language import Language
from .layout import Page
from .selection import Selection
from .updates import merge_updates, unique

SHARE_URL_JS = "(q) => q ? window.location.origin + window.location.pathname + '?' + q : ''"
COPY_JS = "(url) => { if (url && navigator.clipboard) { navigator.clipboard.writeText(url).catch(() => {}); } return url; }"
BROWSER_LANGUAGE_JS = "(lang, preset) => [navigator.language || 'en', preset]"
# Cheap UI events skip the queue: a queue full of generations must not block a language switch.
UI_EVENT = dict(api_visibility="private", queue=False)


def wire(page: Page, generation: Generation, form: Form, language: Language, selection: Selection,
         demo: gr.Blocks, concurrency: int, enhancement: Enhancement, editing: Editing) -> None:
    enhanced = _wire_enhancer(page, enhancement, concurrency)
    runs = _wire_generation(page, generation, form, language, demo, concurrency, enhanced)
    runs += _wire_editing(page, editing, generation, concurrency)
    page.inputs.stop.click(generation.stop, [page.session.lang], [page.header.notice], cancels=runs, **UI_EVENT)
    _wire_form(page, form, language)
    _wire_selection(page, selection)
    page.timer.tick(language.refresh_status, [page.session.lang],
                    [page.header.status, page.header.tiny_banner, page.timer], **UI_EVENT)


def _gpu_slot(concurrency: int) -> dict[str, Any]:
    """The queue every GPU event shares: generations, edits and the enhancer take turns on one model."""
    return dict(concurrency_id="gpu", concurrency_limit=concurrency)


def _pick_seed_on(button: Any, page: Page, generation: Generation) -> Any:
    """A run button's first step: settle the seed (a new one when "Random seed" is ticked) and clear the notice."""
    i = page.inputs
    return button.click(generation.pick_seed, [i.seed, i.random_seed], [i.seed, page.header.notice],
                        api_visibility="private")


def _wire_enhancer(page: Page, enhancement: Enhancement, concurrency: int) -> Any:
    """Enhance streams into the editable box; Accept copies it into the prompt, Revert brings the idea back.
    It shares the generations' GPU queue: one bounded call at a time, never a whole batch."""
    i, s, e = page.inputs, page.session, page.inputs.enhance
    event = e.button.click(enhancement.show_box, None, [e.box], **UI_EVENT)
    gpu = _gpu_slot(concurrency)
    event = event.then(enhancement.enhance, [i.prompt, i.seed, s.lang], [e.box, s.idea, s.enhanced],
                       api_name="enhance_in_page", api_visibility="private", **gpu)
    api.register("enhance", enhancement.api(), api.ENHANCE_PARAMS, [gr.Textbox(visible=False, label="prompt")],
                 api.ENHANCE_SUMMARY, **gpu)
    e.accept.click(enhancement.accept, [e.box], [i.prompt, e.box], **UI_EVENT)
    e.revert.click(enhancement.revert, [s.idea], [i.prompt, e.box, s.enhanced], **UI_EVENT)
    return event


def _wire_generation(page: Page, generation: Generation, form: Form, language: Language, demo: gr.Blocks,
                     concurrency: int, enhanced: Any) -> list:
    i, o, s = page.inputs, page.outputs, page.session
    gpu = _gpu_slot(concurrency)
    results = [o.results, o.info, s.last_run]
    run = _pick_seed_on(i.generate, page, generation)
    # The button's event is private (it keeps history in State); its name leaves "generate" to the public API.
    run = run.then(generation.generate, [*i.request_fields, s.lang, s.enhanced, i.loras, i.enhance.variations],
                   results,
                   api_name="generate_in_page", api_visibility="private", **gpu)
    _after_run(run, page, generation, concurrency)
    # A page load applies the browser's language, then a share link in the URL fills the form and runs.
    load_outputs = unique([*language.outputs, *form.fill_outputs, page.header.notice, s.autorun])

    def on_load(browser_lang: str, preset: str, request: gr.Request) -> dict:
        switched = language.switch(browser_lang, preset)
        return merge_updates(switched, form.from_link(request, switched[s.lang]))

    linked = demo.load(on_load, [s.browser_lang, i.preset], load_outputs, api_visibility="private",
                       js=BROWSER_LANGUAGE_JS)
    linked = linked.then(generation.autorun_generate, [s.autorun, *i.request_fields, s.lang, s.enhanced, i.loras],
                         results,
                         api_visibility="private", **gpu)
    _after_run(linked, page, generation, concurrency)
    api.register("generate", generation.api(), api.GENERATE_PARAMS, api.outputs(), api.GENERATE_SUMMARY, **gpu)
    return [run, linked, enhanced]


def _after_run(run: Any, page: Page, generation: Generation, concurrency: int) -> None:
    """What follows every run on the page (Generate, a share link, an edit): the text check, then the history.
    The check runs on the CPU beside the GPU queue, and quietly: the images are already on screen."""
    o, s = page.outputs, page.session
    run = run.success(generation.proofread, [s.last_run], [o.results, o.info, s.last_run], api_visibility="private",
                      concurrency_id="proofread", concurrency_limit=concurrency, show_progress="hidden")
    run.success(generation.add_history, [s.last_run, s.history], [s.history, o.history], api_visibility="private")


def _wire_editing(page: Page, editing: Editing, generation: Generation, concurrency: int) -> list:
    i, o, s, e = page.inputs, page.outputs, page.session, page.inputs.edit
    gpu = _gpu_slot(concurrency)
    results = [o.results, o.info, s.last_run]
    fields = [i.prompt, e.strength, i.width, i.height, i.seed, i.count, i.steps, i.shift, i.loras, e.mask_blur]
    run = _pick_seed_on(e.run, page, generation)
    run = run.then(editing.edit_in_page, [e.editor, e.mask_upload, e.keep_size, *fields, s.lang], results,
                   api_visibility="private", **gpu)
    _after_run(run, page, generation, concurrency)
    # The public /edit endpoint (and MCP tool "edit") takes files: hidden File inputs keep their bytes exactly.
    api_run = e.api_trigger.click(editing.edit, [e.api_image, e.api_mask, *fields], api.outputs(), api_name="edit",
                                  api_description=EDIT_DOC, **gpu)
    o.use_result.click(editing.use_result, [s.selected, s.lang], [e.editor, e.section, page.header.notice],
                       **UI_EVENT)
    return [run, api_run]


def _wire_form(page: Page, form: Form, language: Language) -> None:
    i, s = page.inputs, page.session
    i.tier.input(form.pick_tier, [i.tier], [i.size, i.width, i.height], **UI_EVENT)
    i.size.input(form.pick_size, [i.size], [i.width, i.height], **UI_EVENT)
    for side in (i.width, i.height):
        side.input(form.match_size, [i.width, i.height], [i.tier, i.size], **UI_EVENT)
    i.compose.click(form.compose_prompt, [i.preset, i.text_title, i.text_subtitle, s.lang],
                    [i.prompt, page.header.notice], **UI_EVENT)
    i.preset.change(preset_description, [i.preset, s.lang], [i.preset_info], **UI_EVENT)
    i.png.upload(form.load_png, [i.png, s.lang], unique([*form.fill_outputs, page.header.notice, i.png]),
                 **UI_EVENT)
    page.header.language.input(language.switch, [page.header.language, i.preset], language.outputs, **UI_EVENT)


def _wire_selection(page: Page, selection: Selection) -> None:
    o, s = page.outputs, page.session
    for gallery, entries in ((o.results, s.last_run), (o.history, s.history)):
        gallery.select(selection.select, [entries, s.lang], selection.outputs, **UI_EVENT).then(
            None, [o.share_query], [o.share_url], js=SHARE_URL_JS, api_visibility="private")
    o.use_seed.click(selection.reuse_seed, [s.selected], [page.inputs.seed, page.inputs.random_seed], **UI_EVENT)
    o.copy_link.click(None, [o.share_url], [o.share_url], js=COPY_JS, api_visibility="private")
