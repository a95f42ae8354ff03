"""MCP results that agents can use: images as MCP image content with their URL, and the info as JSON.

Gradio's MCP server turns a top-level file output into image content, but renders a gallery (a list of
images) and a dict with `str()`: a Python repr holding server file paths. This subclass unpacks galleries
into their images and writes dicts as JSON before handing them to Gradio's own conversion.
"""

from __future__ import annotations

import json
from typing import Any

import gradio.mcp


def _is_gallery(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) and "image" in item
                                                           for item in value)


def flatten_outputs(data: list[Any]) -> list[Any]:
    # Without a progress token Gradio hands over [(out1, out2)] for a multi-output endpoint; unpack it.
    if len(data) == 1 and isinstance(data[0], tuple):
        data = list(data[0])
    flat: list[Any] = []
    for output in data:
        if _is_gallery(output):
            flat.extend(item["image"] for item in output)
        elif isinstance(output, (dict, list)):
            flat.append(json.dumps(output, ensure_ascii=False))
        else:
            flat.append(output)
    return flat


class ZImageMCPServer(gradio.mcp.GradioMCPServer):
    def postprocess_output_data(self, data: Any, root_url: str) -> list:
        contents = super().postprocess_output_data(flatten_outputs(list(data)), root_url)
        # Gradio names an image by URL, or by its server path when it has none; agents only need the URL.
        return [c for c in contents if not (getattr(c, "type", "") == "text" and c.text.startswith("Image URL: /"))]


def install() -> None:
    """Make the MCP server Gradio creates at launch this subclass (routes.py looks the class up at launch)."""
    gradio.mcp.GradioMCPServer = ZImageMCPServer
