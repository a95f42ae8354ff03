"""Property tests: hostile input gives a valid result or a ValidationError, never a crash."""

import math
from urllib.parse import parse_qs

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from zimage import presets, sharelink
from zimage.errors import ValidationError
from zimage.request import (
    FIELD_NAMES,
    MAX_COUNT,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_SHIFT,
    MAX_SIDE,
    MAX_STEPS,
    MIN_COUNT,
    MIN_SHIFT,
    MIN_SIDE,
    MIN_STEPS,
    SIDE_MULTIPLE,
    GenerationRequest,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SCALARS = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(10**400), max_value=10**400),  # far past float range: must still be a clean error
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
NUMBER_TEXT = st.one_of(
    st.integers(min_value=-(10**120), max_value=10**120).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " 9 ", "+16", "1e3", "0x10", "1_024", "１０２４", "²", "-0", "nan", "-inf", "3.0"]),
)
SIDES = st.integers(MIN_SIDE // 16, MAX_SIDE // 16).map(lambda n: n * 16)
GOOD = {
    "width": SIDES,
    "height": SIDES,
    "seed": st.integers(0, MAX_SEED),
    "count": st.integers(MIN_COUNT, MAX_COUNT),
    "steps": st.integers(MIN_STEPS, MAX_STEPS),
    "shift": st.floats(MIN_SHIFT, MAX_SHIFT),
}
# Each field good, good-as-text or hostile; GOOD_PARAMS below keeps the valid outcome common too.
PLAUSIBLE = st.fixed_dictionaries(
    {"prompt": st.one_of(st.just("a cat"), st.text(max_size=50))},
    optional={name: st.one_of(good, good.map(str), NUMBER_TEXT, SCALARS) for name, good in GOOD.items()},
)
GOOD_PARAMS = st.fixed_dictionaries(
    {"prompt": st.one_of(st.just(" a cat\r\n"), st.text(max_size=50))},
    optional={name: st.one_of(good, good.map(str)) for name, good in GOOD.items()},
)
ARBITRARY = st.dictionaries(st.one_of(st.sampled_from(sorted(FIELD_NAMES)), st.text(max_size=10)), VALUES, max_size=8)


def assert_within_bounds(request):
    """Every bound a GenerationRequest promises to the pipeline."""
    assert isinstance(request, GenerationRequest)
    prompt = request.prompt
    assert isinstance(prompt, str) and prompt == prompt.strip() and 0 < len(prompt) <= MAX_PROMPT_CHARS
    assert not any((ord(ch) < 32 and ch not in "\n\t") or ord(ch) == 127 for ch in prompt)
    for side in (request.width, request.height):
        assert type(side) is int and MIN_SIDE <= side <= MAX_SIDE and side % SIDE_MULTIPLE == 0
    assert type(request.seed) is int and type(request.count) is int and type(request.steps) is int
    assert MIN_COUNT <= request.count <= MAX_COUNT
    assert 0 <= request.seed and request.seed + request.count - 1 <= MAX_SEED
    assert MIN_STEPS <= request.steps <= MAX_STEPS
    assert type(request.shift) is float and math.isfinite(request.shift) and MIN_SHIFT <= request.shift <= MAX_SHIFT


# (a) GenerationRequest.from_params


@FUZZ
@given(st.one_of(ARBITRARY, PLAUSIBLE, GOOD_PARAMS))
def test_from_params_is_valid_or_validation_error(params):
    try:
        request = GenerationRequest.from_params(params)
    except ValidationError as error:
        assert error.code and str(error)
        event(error.code)
        return
    event("valid")
    assert_within_bounds(request)


# (b) sharelink.parse_query and the round trip

LINK_KEY_NAMES = st.one_of(
    st.sampled_from(list(sharelink.LINK_KEYS) + ["__theme", "view", "count", "utm_source"]), st.text(max_size=8)
)
LINK_TEXT = st.one_of(st.text(max_size=40), NUMBER_TEXT)
QUERIES = st.dictionaries(LINK_KEY_NAMES, st.one_of(LINK_TEXT, st.lists(LINK_TEXT, max_size=3)), max_size=8)
GOOD_QUERIES = st.fixed_dictionaries(
    {"prompt": st.one_of(st.text(max_size=40), st.lists(st.text(max_size=40), min_size=1, max_size=2))},
    optional={
        **{name: good.map(str) for name, good in GOOD.items() if name != "count"},
        "__theme": st.sampled_from(["dark", "light"]),
        "view": st.just("api"),
        "shift": st.one_of(GOOD["shift"].map(str), NUMBER_TEXT),
    },
)


@FUZZ
@given(st.one_of(QUERIES, GOOD_QUERIES))
def test_parse_query_is_none_valid_or_validation_error(params):
    try:
        request = sharelink.parse_query(params)
    except ValidationError as error:
        assert error.code and str(error)
        event(error.code)
        return
    event("none" if request is None else "request")
    if request is None:
        assert not any(key in params and params[key] != [] for key in sharelink.LINK_KEYS)
    else:
        assert_within_bounds(request)
        assert request.count == 1


PROMPT_CHARS = st.one_of(
    st.characters(blacklist_categories=("Cs", "Cc")), st.sampled_from(list("\n\t&#+%=?;/\\\"'<>「」 "))
)


@st.composite
def valid_requests(draw):
    count = draw(st.integers(MIN_COUNT, MAX_COUNT))
    return GenerationRequest(
        prompt=draw(st.text(PROMPT_CHARS, min_size=1, max_size=300).filter(str.strip)),
        width=draw(SIDES),
        height=draw(SIDES),
        seed=draw(st.integers(0, MAX_SEED - count + 1)),
        count=count,
        steps=draw(GOOD["steps"]),
        shift=draw(GOOD["shift"]),
    )


@FUZZ
@given(valid_requests())
def test_share_link_round_trip(request):
    expected = request.single(0)
    assert sharelink.parse_query(parse_qs(sharelink.build_query(expected))) == expected
    assert sharelink.parse_query(parse_qs(sharelink.build_query(request))) == expected


# (c) presets.compose_prompt

TEXT = st.one_of(
    st.text(max_size=100),
    st.text(st.sampled_from(list('"「」“”『』{}\\\n\r\t ab中🎉')), max_size=30),
)


@FUZZ
@given(st.sampled_from([p.id for p in presets.list_presets()]), TEXT, TEXT, st.sampled_from(["en", "zh"]))
def test_compose_prompt_contains_text_or_raises(preset_id, title, subtitle, lang):
    try:
        prompt = presets.compose_prompt(preset_id, title, subtitle, lang)
    except ValidationError as error:
        assert error.code in {"title_missing", "text_long", "text_control", "text_quotes"}
        event(error.code)
        return
    event("composed")
    for text in (title, subtitle):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) == 1:
            # A single line appears exactly, between a pair of quotation marks.
            assert any(f"{o}{lines[0]}{c}" in prompt for o, c in presets.QUOTE_PAIRS)
        for line in lines:
            assert line in prompt
    assert len(prompt) <= MAX_PROMPT_CHARS


# Inputs that once crashed request validation with something other than ValidationError.


@pytest.mark.parametrize("shift", [10**400, "1" * 400])
def test_huge_shift_is_a_validation_error(shift):
    with pytest.raises(ValidationError):
        GenerationRequest.from_params({"prompt": "cat", "shift": shift})


def test_huge_seed_is_a_validation_error():
    with pytest.raises(ValidationError):
        GenerationRequest.from_params({"prompt": "cat", "seed": 10**5000})


def test_non_text_key_is_a_validation_error():
    with pytest.raises(ValidationError):
        GenerationRequest.from_params({"prompt": "cat", 1: "x"})


def test_lone_surrogate_prompt_is_a_validation_error():
    with pytest.raises(ValidationError):
        GenerationRequest.from_params({"prompt": "cat \ud800"})
