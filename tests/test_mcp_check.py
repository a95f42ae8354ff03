"""The proof-reading MCP tool, through a real MCP client, against the app launched with ZIMAGE_MCP=1."""

from __future__ import annotations

import asyncio
import base64

import pytest

from .apphost import running_app
from .test_textcheck import render

mcp = pytest.importorskip("mcp")
from mcp.client.streamable_http import streamablehttp_client  # noqa: E402


async def call_check(url: str, image_png: bytes, expect: str) -> tuple[list[str], dict]:
    async with streamablehttp_client(url + "gradio_api/mcp/") as (read, write, _):
        async with mcp.ClientSession(read, write) as session:
            await session.initialize()
            names = [tool.name for tool in (await session.list_tools()).tools]
            data_url = "data:image/png;base64," + base64.b64encode(image_png).decode()
            result = await session.call_tool("check_text", {"image": data_url, "expect": expect})
            return names, result


def test_check_text_is_an_mcp_tool(tmp_path):
    path = tmp_path / "poster.png"
    render(["新年快乐", "HAPY NEW YEAR"]).save(path)
    with running_app(tmp_path, ZIMAGE_MCP="1") as url:
        names, result = asyncio.run(call_check(url, path.read_bytes(), "新年快乐\nHappy New Year"))
    assert {"generate", "check_text"} <= set(names)
    text = result.content[0].text
    assert not result.isError, text
    # Gradio's MCP server hands back the endpoint's JSON as Python-literal text.
    assert "'found': ['新年快乐']" in text and "'text': 'Happy New Year'" in text and "HAPY" in text
