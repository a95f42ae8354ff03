"""The CLI's edit and LoRA flags end to end, in a subprocess as a user runs them."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from zimage.masks import band, prepare_mask
from zimage.metadata import read_request
from zimage.tiny import save_tiny_lora

from .test_cli import run_cli


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-edit")
    source = Image.fromarray(np.random.default_rng(3).integers(0, 256, (250, 300, 3), dtype=np.uint8))
    source.save(folder / "in.png")
    mask = Image.new("L", (300, 250), 0)
    mask.paste(255, (100, 80, 180, 160))
    mask.save(folder / "mask.png")
    Image.new("L", (300, 250), 0).save(folder / "empty.png")
    save_tiny_lora(folder / "loras" / "ink.safetensors")
    return folder


def test_fix_a_region_with_a_lora_keeps_the_outside_and_records_everything(files, tmp_path):
    result = run_cli("generate", "a blue door", "--image", str(files / "in.png"), "--mask", str(files / "mask.png"),
                     "--lora", "ink:0.6", "--lora-dir", str(files / "loras"), "--seed", "9", "--steps", "3",
                     "--out", str(tmp_path), "--model", "tiny")
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip()
    with Image.open(path) as image:
        assert image.size == (300, 250)  # the source's own size, though the model worked at 304x256
        out = np.asarray(image.convert("RGB"), dtype=int)
    mask = prepare_mask(Image.open(files / "mask.png"), (300, 250), 4)
    original = np.asarray(Image.open(files / "in.png"), dtype=int)
    assert np.abs(out - original).max(axis=-1)[~band(mask)].max() == 0
    request = read_request(path)
    assert (request.width, request.height, request.strength) == (304, 256, 1.0)
    assert request.source_sha256 == hashlib.sha256((files / "in.png").read_bytes()).hexdigest()
    assert request.loras[0].name == "ink" and request.loras[0].weight == 0.6 and len(request.loras[0].sha12) == 12


def test_loras_lists_name_hash_and_file(files):
    result = run_cli("loras", "--lora-dir", str(files / "loras"))
    sha = hashlib.sha256((files / "loras" / "ink.safetensors").read_bytes()).hexdigest()[:12]
    assert result.returncode == 0 and result.stdout.split("\t")[:2] == ["ink", sha]


@pytest.mark.parametrize("args,message", [
    (["--lora", "nope"], "Error: Unknown LoRA 'nope'. Installed: ink."),
    (["--strength", "1.5"], "Error: strength must be between 0.0 and 1.0, got 1.5."),
    (["--mask", "empty.png"], "Error: The mask is empty."),
])
def test_bad_edit_input_is_one_line_and_exit_1(files, tmp_path, args, message):
    args = [str(files / arg) if arg.endswith(".png") else arg for arg in args]
    result = run_cli("generate", "a cat", "--image", str(files / "in.png"), "--lora-dir", str(files / "loras"),
                     "--out", str(tmp_path), "--model", "tiny", *args)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(message), result.stderr
