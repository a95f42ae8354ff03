"""The CLI end to end, in a subprocess as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PIL import Image

from zimage.metadata import read_request
from zimage.request import GenerationRequest

from .conftest import ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "zimage", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def test_generate_writes_pngs_named_by_seed_whose_metadata_parses_back(tmp_path):
    prompt = '招牌上写着"咖啡 Coffee"'
    result = run_cli("generate", prompt, "--seed", "42", "--count", "2", "--size", "320x256", "--steps", "3",
                     "--shift", "4", "--out", str(tmp_path), "--model", "tiny")
    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert [os.path.basename(p) for p in paths] == ["zimage-42.png", "zimage-43.png"]
    assert "tiny random-weights demo model" in result.stderr
    assert "3/3" in result.stderr, "a progress bar over the steps"
    for seed, path in zip((42, 43), paths):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (320, 256)
        assert read_request(path) == GenerationRequest(prompt, width=320, height=256, seed=seed, steps=3, shift=4.0)


@pytest.mark.parametrize("args,message", [
    (["--size", "1000x1000"], "Error: width must be a multiple of 16, got 1000."),
    (["--count", "9"], "Error: count must be between 1 and 8, got 9."),
    (["--seed", "-5"], "Error: seed must be between 0 and 4294967295, got -5."),
    (["--model", "no/such-model-here"], "Error: The model could not be loaded"),
    (["--seed", "abc"], "Error: seed must be a number, got 'abc'."),
    (["--steps", "2.5"], "Error: steps must be a whole number, got 2.5."),
    (["--shift", "x"], "Error: shift must be a number, got 'x'."),
    (["--device", "tpu"], "Error: Unknown device 'tpu'. Choose one of: auto, cuda, mps, cpu."),
    (["--memory", "lots"], "Error: Unknown memory 'lots'. Choose one of: auto, full, stream, offload, sequential."),
    (["--no-such-flag"], "Error: Unrecognized arguments: --no-such-flag."),
])
def test_bad_input_is_one_line_and_exit_1(args, message, tmp_path):
    result = run_cli("generate", "a cat", "--out", str(tmp_path), *args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and error_lines[0].startswith(message)


def test_info_prints_the_settings_of_a_png(tmp_path):
    made = run_cli("generate", "lighthouse", "--seed", "3", "--size", "256x256", "--steps", "2",
                   "--out", str(tmp_path), "--model", "tiny")
    assert made.returncode == 0, made.stderr
    shown = run_cli("info", made.stdout.strip())
    assert shown.returncode == 0 and "seed: 3" in shown.stdout and "prompt: lighthouse" in shown.stdout


def test_usage_mistakes_are_one_line_too():
    result = run_cli("generate")
    assert result.returncode == 1 and result.stderr.startswith("Error: The following arguments are required: prompt")
    assert "usage:" not in result.stderr


def test_a_load_failure_does_not_promise_a_retry_and_library_noise_stays_out(tmp_path):
    result = run_cli("generate", "a cat", "--model", str(tmp_path), "--out", str(tmp_path))
    assert result.returncode == 1
    assert "no model_index.json" in result.stderr and "retried" not in result.stderr
    made = run_cli("generate", "quiet", "--size", "256x256", "--steps", "2", "--out", str(tmp_path), "--model", "tiny")
    assert made.returncode == 0, made.stderr
    assert "experimental" not in made.stderr and "Warning" not in made.stderr
    assert "2/2" in made.stderr  # the progress bar stays
    noisy = run_cli("--verbose", "generate", "loud", "--size", "256x256", "--steps", "2", "--out", str(tmp_path),
                    "--model", "tiny")
    assert noisy.returncode == 0 and "INFO" in noisy.stderr
