"""Event wiring: which handler runs on which event, with which inputs and outputs."""

from __future__ import annotations

import gradio as gr

from zimage.request import limits_text

from .choices import preset_description
from .editing import EDIT_DOC, Editing
from .form import Form
from .generation import Generation
from .language import Language
from .layout import Page
from .selection import Selection
from .updates import merge_updates, unique

GENERATE_DOC = ("Generate images with Z-Image-Turbo. " + limits_text() +
                " Returns the PNG images (each captioned with its seed) and a JSON object with the seeds and the model.")
SHARE_URL_JS = "(q) => q ? window.location.origin + window.location.pathname + '?' + q : ''"
COPY_JS = "(url) => { if (url && navigator.clipboard) { navigator.clipboard.writeText(url).catch(() => {}); } return url; }"
BROWSER_LANGUAGE_JS = "(lang, preset) => [navigator.language || 'en', preset]"
# Cheap UI events skip the queue: a queue full of generations must not block a language switch.
UI_EVENT = dict(api_visibility="private", queue=False)


def wire(page: Page, generation: Generation, editing: Editing, form: Form, language: Language, selection: Selection,
         demo: gr.Blocks, concurrency: int) -> None:
    runs = _wire_generation(page, generation, form, language, demo, concurrency)
    runs += _wire_editing(page, editing, generation, concurrency)
    page.inputs.stop.click(generation.stop, [page.session.lang], [page.header.notice], cancels=runs, **UI_EVENT)
    _wire_form(page, form, language)
    _wire_selection(page, selection)
    page.timer.tick(language.refresh_status, [page.session.lang],
                    [page.header.status, page.header.tiny_banner, page.timer], **UI_EVENT)


def _history(page: Page, generation: Generation) -> dict:
    s = page.session
    return dict(fn=generation.add_history, inputs=[s.last_run, s.history], outputs=[s.history, page.outputs.history],
                api_visibility="private")


def _wire_generation(page: Page, generation: Generation, form: Form, language: Language, demo: gr.Blocks,
                     concurrency: int) -> list:
    i, o, s = page.inputs, page.outputs, page.session
    gpu = dict(concurrency_id="gpu", concurrency_limit=concurrency)
    results = [o.results, o.info, s.last_run]
    history = _history(page, generation)
    run = i.generate.click(generation.pick_seed, [i.seed, i.random_seed], [i.seed, page.header.notice],
                           api_visibility="private")
    # LoRAs come last: /generate keeps its positional parameters, new ones are optional and trailing.
    run = run.then(generation.generate, [*i.request_fields, s.lang, i.loras], results, api_name="generate",
                   api_description=GENERATE_DOC, **gpu)
    run.success(**history)
    # A page load applies the browser's language, then a share link in the URL fills the form and runs.
    load_outputs = unique([*language.outputs, *form.fill_outputs, page.header.notice, s.autorun])

    def on_load(browser_lang: str, preset: str, request: gr.Request) -> dict:
        switched = language.switch(browser_lang, preset)
        return merge_updates(switched, form.from_link(request, switched[s.lang]))

    linked = demo.load(on_load, [s.browser_lang, i.preset], load_outputs, api_visibility="private",
                       js=BROWSER_LANGUAGE_JS)
    linked = linked.then(generation.autorun_generate, [s.autorun, *i.request_fields, s.lang, i.loras], results,
                         api_visibility="private", **gpu)
    linked.success(**history)
    return [run, linked]


def _wire_editing(page: Page, editing: Editing, generation: Generation, concurrency: int) -> list:
    i, o, s, e = page.inputs, page.outputs, page.session, page.inputs.edit
    gpu = dict(concurrency_id="gpu", concurrency_limit=concurrency)
    results = [o.results, o.info, s.last_run]
    fields = [i.prompt, e.strength, i.width, i.height, i.seed, i.count, i.steps, i.shift, i.loras, e.mask_blur]
    run = e.run.click(generation.pick_seed, [i.seed, i.random_seed], [i.seed, page.header.notice],
                      api_visibility="private")
    run = run.then(editing.edit_ui, [e.editor, e.mask_upload, e.keep_size, *fields, s.lang], results,
                   api_visibility="private", **gpu)
    run.success(**_history(page, generation))
    api = e.api_trigger.click(editing.edit, [e.api_image, e.api_mask, *fields, s.lang], results, api_name="edit",
                              api_description=EDIT_DOC, **gpu)
    o.use_result.click(editing.use_result, [s.selected, s.lang], [e.editor, e.section, page.header.notice],
                       **UI_EVENT)
    return [run, api]


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
