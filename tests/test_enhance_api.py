"""The public /enhance endpoint through gradio_client against a launched app, and `full` safety's refusal."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from devtools.apphost import ROOT, running_app

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    env = {"ZIMAGE_ENHANCER": "local", "ZIMAGE_ENHANCER_MAX_TOKENS": "20", "ZIMAGE_ENHANCER_API_BASE": ""}
    with running_app(tmp_path_factory.mktemp("enhance-api"), **env) as url:
        yield gradio_client.Client(url, verbose=False)


def test_enhance_returns_a_prompt_that_keeps_quoted_text_and_repeats_for_the_same_seed(client):
    first = client.predict('招牌写着"老王面馆"', 7, api_name="/enhance")
    assert '"老王面馆"' in first
    assert client.predict('招牌写着"老王面馆"', 7, api_name="/enhance") == first


def test_a_bad_idea_gets_one_clear_message_and_the_app_keeps_serving(client):
    with pytest.raises(Exception, match="A prompt is required"):
        client.predict("   ", 0, api_name="/enhance")
    gallery, info = client.predict("a cat", 256, 256, 1, 1, 2, 3.0, api_name="/generate")
    assert info["seeds"] == [1]


def test_variations_give_each_image_of_a_batch_its_own_recorded_prompt(client):
    gallery, info = client.predict(prompt='a fox in snow, sign reads "OPEN"', width=256, height=256, seed=5, count=2,
                                   steps=2, variations=True, api_name="/generate")
    assert info["seeds"] == [5, 6] and len(gallery) == 2
    chunks = [json.loads(Image.open(item["image"]).info["zimage"]) for item in gallery]
    prompts = [chunk["request"]["prompt"] for chunk in chunks]
    assert prompts[0] != prompts[1] and all('"OPEN"' in prompt for prompt in prompts)
    assert [chunk["enhanced"]["idea"] for chunk in chunks] == ['a fox in snow, sign reads "OPEN"'] * 2
    # Each image's prompt is what the enhancer writes for the idea with that image's own seed.
    assert prompts == [client.predict('a fox in snow, sign reads "OPEN"', seed, api_name="/enhance") for seed in (5, 6)]


def test_variations_must_be_a_boolean(client):
    with pytest.raises(gradio_client.exceptions.AppError) as caught:
        client.predict(prompt="a fox", width=256, height=256, steps=2, variations="yes", api_name="/generate")
    assert str(caught.value) == "variations must be true or false, got 'yes'."


def test_the_app_refuses_to_start_with_full_safety_and_no_checker(tmp_path):
    env = {"ZIMAGE_MODEL": "tiny", "ZIMAGE_SAFETY": "full", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
           "ZIMAGE_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "app.py", "--port", "0"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    assert "Error: ZIMAGE_SAFETY=full needs the image safety checker" in done.stderr
    assert "Traceback" not in done.stderr
