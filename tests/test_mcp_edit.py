"""The MCP server offers an `edit` tool beside `generate`, built from the public endpoints."""

from __future__ import annotations

import json
import urllib.request

import pytest

from devtools.apphost import running_app

pytest.importorskip("mcp")


def test_the_mcp_schema_lists_generate_and_edit_tools(tmp_path):
    with running_app(tmp_path, ZIMAGE_MCP="1") as url:
        with urllib.request.urlopen(url + "gradio_api/mcp/schema", timeout=30) as response:
            tools = {tool["name"]: tool for tool in json.load(response)}
    assert {"generate", "edit"} <= set(tools)
    properties = tools["edit"]["inputSchema"]["properties"]
    assert {"image", "mask", "prompt", "strength", "loras"} <= set(properties)
