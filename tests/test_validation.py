"""Every validation error: a typed error with a message that names the field and the bound."""

from __future__ import annotations

import pytest

from zimage.errors import ValidationError
from zimage.request import GenerationRequest, parse_size

CASES = [
    (dict(prompt=""), "prompt_missing", "A prompt is required"),
    (dict(prompt="   \n "), "prompt_missing", "A prompt is required"),
    (dict(prompt="x" * 2001), "prompt_long", "limit is 2000"),
    (dict(prompt=123), "prompt_type", "must be text"),
    (dict(prompt="bad\x00byte"), "prompt_control", "control characters"),
    (dict(prompt="x", width=1000), "not_multiple", "width must be a multiple of 16"),
    (dict(prompt="x", height=240), "out_of_range", "height must be between 256 and 2048"),
    (dict(prompt="x", width=2064), "out_of_range", "width must be between 256 and 2048"),
    (dict(prompt="x", seed=-1), "out_of_range", "seed must be between 0 and 4294967295"),
    (dict(prompt="x", seed=2**32), "out_of_range", "seed must be between"),
    (dict(prompt="x", seed=2**32 - 2, count=4), "out_of_range", "seed must be between 0 and 4294967292"),
    (dict(prompt="x", seed=1.5), "not_integer", "seed must be a whole number"),
    (dict(prompt="x", count=0), "out_of_range", "count must be between 1 and 8"),
    (dict(prompt="x", count=9), "out_of_range", "count must be between 1 and 8"),
    (dict(prompt="x", steps=0), "out_of_range", "steps must be between 1 and 50"),
    (dict(prompt="x", steps=51), "out_of_range", "steps must be between 1 and 50"),
    (dict(prompt="x", shift=0.5), "out_of_range", "shift must be between 1.0 and 10.0"),
    (dict(prompt="x", shift=float("inf")), "out_of_range", "shift must be between"),
    (dict(prompt="x", shift="abc"), "not_number", "shift must be a number"),
    (dict(prompt="x", count=True), "not_number", "count must be a number"),
    (dict(prompt="x", width=None), "not_number", "width must be a number"),
    (dict(prompt="x", colour="red"), "unknown_param", "Unknown parameter(s): colour"),
    (dict(width=512), "prompt_missing", "A prompt is required"),
]


@pytest.mark.parametrize("params,code,message", CASES)
def test_each_bad_input_names_the_problem(params, code, message):
    with pytest.raises(ValidationError) as caught:
        GenerationRequest.from_params(params)
    assert caught.value.code == code
    assert message in str(caught.value)


def test_valid_strings_are_coerced():
    request = GenerationRequest.from_params({"prompt": " hi ", "width": "512", "height": "768.0", "seed": "0",
                                             "count": "8", "steps": "9", "shift": "3.5"})
    assert request == GenerationRequest("hi", width=512, height=768, seed=0, count=8, steps=9, shift=3.5)


@pytest.mark.parametrize("text,expected", [("1024x768", (1024, 768)), ("1280×720", (1280, 720)), ("256*2048", (256, 2048))])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["1024", "axb", "1024x1000", "1x2x3", ""])
def test_parse_size_rejects(text):
    with pytest.raises(ValidationError):
        parse_size(text)
