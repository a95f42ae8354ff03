"""Combining component updates that several concerns (language, fields, notices) return for one event."""

from __future__ import annotations

from typing import Any

import gradio as gr


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
