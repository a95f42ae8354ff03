"""The MCP tools as an agent sees them: the official `mcp` SDK over streamable HTTP against a launched app."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import urllib.request

import pytest
from PIL import Image

from devtools.apphost import running_app

mcp = pytest.importorskip("mcp")
from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamablehttp_client  # noqa: E402


@pytest.fixture(scope="module")
def mcp_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("mcp"), ZIMAGE_MCP="1") as url:
        yield f"{url}gradio_api/mcp/"


def call(url: str, action):
    async def session_run():
        async with streamablehttp_client(url) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await action(session)

    return asyncio.run(session_run())


def test_tool_list_reads_like_documentation(mcp_url):
    tools = call(mcp_url, lambda s: s.list_tools()).tools
    generate = next(tool for tool in tools if tool.name == "generate")
    props = generate.inputSchema["properties"]
    assert generate.inputSchema["required"] == ["prompt"]
    assert props["count"]["type"] == "integer" and props["shift"]["type"] == "number"
    assert all(prop.get("description") for prop in props.values())
    assert "Z-Image-Turbo" in generate.description


@pytest.mark.parametrize("progress", [False, True])
def test_generate_returns_images_seeds_and_settings_never_server_paths(mcp_url, progress):
    updates = []

    async def on_progress(done, total, message):
        updates.append(done)

    async def action(session):
        extra = {"progress_callback": on_progress} if progress else {}
        return await session.call_tool("generate", {"prompt": "x", "width": 256, "height": 256, "count": 2,
                                                    "steps": 2, "seed": 7}, **extra)

    result = call(mcp_url, action)
    assert not result.isError, result.content
    images = [c for c in result.content if c.type == "image"]
    texts = [c.text for c in result.content if c.type == "text"]
    assert len(images) == 2
    for content in images:
        with Image.open(io.BytesIO(base64.b64decode(content.data))) as image:
            assert image.size == (256, 256) and content.mimeType == "image/png"
    info = json.loads(texts[-1])
    assert info["seeds"] == [7, 8] and info["steps"] == 2 and info["prompt"] == "x"
    urls = [t for t in texts if t.startswith("Image URL: ")]
    assert len(urls) == 2 and all(t.startswith("Image URL: http://127.0.0.1") for t in urls)
    # The only place a file location appears is inside a URL the client can fetch.
    assert "path" not in texts[-1] and not any(t.startswith("/") for t in texts)
    fetched = urllib.request.urlopen(urls[0].removeprefix("Image URL: "), timeout=10).read()
    assert Image.open(io.BytesIO(fetched)).size == (256, 256)
    if progress:
        assert updates, "progress notifications reach a client that asks for them"


def test_bad_input_is_a_tool_error_with_the_one_line_message(mcp_url):
    result = call(mcp_url, lambda s: s.call_tool("generate", {"prompt": "x", "count": 99}))
    assert result.isError
    assert "count must be between 1 and 8, got 99." in result.content[0].text
    assert "Traceback" not in result.content[0].text


def test_check_text_proof_reads_an_image_sent_as_a_data_url(mcp_url):
    from .test_textcheck import render

    buffer = io.BytesIO()
    render(["新年快乐", "HAPY NEW YEAR"]).save(buffer, format="PNG")
    data_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

    async def action(session):
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert "check_text" in tools and "Proof-read" in tools["check_text"].description
        return await session.call_tool("check_text", {"image": data_url, "expect": "新年快乐\nHappy New Year"})

    result = call(mcp_url, action)
    text = result.content[0].text
    assert not result.isError, text
    # The endpoint's JSON comes back as text; found, missing, and what was read instead.
    assert "新年快乐" in text and "Happy New Year" in text and "HAPY" in text and "missing" in text
