"""`python -m zimage check` and `generate --check-text`, run as a user runs them: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zimage.metadata import read_request, read_text_check, save_png
from zimage.model_info import ModelInfo
from zimage.request import GenerationRequest

from .test_textcheck import render

ROOT = Path(__file__).resolve().parent.parent


def zimage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zimage", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def posters(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("posters")
    paths = {"right": folder / "right.png", "typo": folder / "typo.png"}
    render(["新年快乐", "HAPPY NEW YEAR"]).save(paths["right"])
    render(["新年快乐", "HAPY NEW YEAR"]).save(paths["typo"])
    return paths


def test_all_found_exits_0(posters):
    done = zimage("check", str(posters["right"]), "--expect", "新年快乐", "--expect", "Happy New Year")
    assert done.returncode == 0, done.stderr
    assert f"{posters['right']}: All quoted text found: “新年快乐”, “Happy New Year”." in done.stdout


def test_missing_text_exits_4_and_says_what_was_read(posters):
    done = zimage("check", str(posters["right"]), str(posters["typo"]), "--expect", "Happy New Year")
    assert done.returncode == 4, done.stderr
    typo_line = next(line for line in done.stdout.splitlines() if line.startswith(str(posters["typo"])))
    assert typo_line.startswith(f"{posters['typo']}: Missing: “Happy New Year” (read “HAPY")
    assert f"Best: {posters['right']}" in done.stdout


def test_json_output(posters):
    done = zimage("check", str(posters["typo"]), "--expect", "新年快乐", "--expect", "HAPPY NEW YEAR", "--json")
    assert done.returncode == 4
    report = json.loads(done.stdout)
    (image,) = report["images"]
    assert image["found"] == ["新年快乐"] and image["missing"][0]["text"] == "HAPPY NEW YEAR"
    assert image["expected_from"] == "expect" and image["ocr"].startswith("rapidocr-onnxruntime 1.4.4")
    assert report["any_missing"] is True


def test_expected_text_comes_from_the_png_metadata(posters, tmp_path):
    request = GenerationRequest('A red poster with the title 「新年快乐」 and "Happy New Year"', width=1024, height=1024)
    path = save_png(render(["新年快乐", "HAPPY NEW YEAR"]), request, ModelInfo("test", "main"), tmp_path / "meta.png")
    done = zimage("check", str(path), "--json")
    assert done.returncode == 0, done.stderr
    image = json.loads(done.stdout)["images"][0]
    assert image["expected_from"] == "metadata" and image["found"] == ["新年快乐", "Happy New Year"]


def test_nothing_to_expect_prints_what_was_read_and_exits_0(posters):
    done = zimage("check", str(posters["right"]))
    assert done.returncode == 0
    assert "No quoted text to check." in done.stdout and "read: 新年快乐" in done.stdout


def test_unreadable_file_is_one_error_line_and_exit_1(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    done = zimage("check", str(bad), "--expect", "x")
    assert done.returncode == 1
    assert done.stderr.strip() == f"Error: Cannot read {bad} as an image."
    usage = zimage("check")
    assert usage.returncode == 1 and usage.stderr.startswith("Error: ") and "Traceback" not in usage.stderr


def test_generate_check_text_records_the_verdict_in_the_png(tmp_path):
    prompt = 'A shop sign that reads "OPEN 24H"'
    done = zimage("generate", prompt, "--model", "tiny", "--size", "256x256", "--seed", "3", "--count", "2",
                  "--steps", "2", "--out", str(tmp_path), "--check-text")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    paths = [Path(line.split("\t")[0]) for line in lines[:2]]
    # Random weights draw noise, so the sign's text is missing: the verdict says so.
    assert all(line.split("\t")[1].startswith("Missing: “OPEN 24H”") for line in lines[:2])
    assert lines[2].startswith("Best: ")
    for path in paths:
        verdict = read_text_check(path)
        assert verdict is not None and verdict.missing == ("OPEN 24H",)
        assert verdict.ocr.startswith("rapidocr-onnxruntime 1.4.4")
        assert read_request(path).prompt == prompt
    recheck = zimage("check", *map(str, paths))
    assert recheck.returncode == 4 and "Missing: “OPEN 24H”" in recheck.stdout


def test_generate_without_the_flag_prints_only_paths(tmp_path):
    done = zimage("generate", 'A sign "OPEN"', "--model", "tiny", "--size", "256x256", "--seed", "1", "--steps", "1",
                  "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    assert Path(line).is_file() and read_text_check(line) is None
