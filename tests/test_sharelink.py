"""A share link remakes exactly one image, survives hostile text, and a plain visit is not a link."""

from urllib.parse import parse_qs

import pytest

from zimage import sharelink
from zimage.errors import ValidationError
from zimage.request import GenerationRequest

HOSTILE_PROMPTS = [
    "一只戴着墨镜的柴犬，霓虹灯背景",
    "line one\nline two\n\tindented",
    "a & b = c; d #e +f %20 %zz ? / \\",
    "quotes \" ' “ ” 「」 `back`",
    "<script>alert('x')</script>",
    "emoji 🎉👩‍👩‍👧 and ZWJ",
    "plus+plus and space  twice",
    "__theme=dark&view=api",
    "%E4%B8%AD not decoded twice",
]


def round_trip(request):
    return sharelink.parse_query(parse_qs(sharelink.build_query(request)))


@pytest.mark.parametrize("prompt", HOSTILE_PROMPTS)
def test_round_trip_keeps_prompt_exactly(prompt):
    request = GenerationRequest(prompt, width=864, height=1536, seed=123456789, steps=8, shift=4.25)
    assert round_trip(request) == request


def test_round_trip_extremes():
    request = GenerationRequest("x" * 2000, width=2048, height=256, seed=2**32 - 1, steps=50, shift=10.0)
    assert round_trip(request) == request
    assert round_trip(GenerationRequest("p", seed=0, steps=1, shift=1.0)).seed == 0


def test_query_has_exactly_the_link_keys():
    query = sharelink.build_query(GenerationRequest("cat", seed=7, shift=3.5))
    assert parse_qs(query) == {
        "prompt": ["cat"], "width": ["1024"], "height": ["1024"], "seed": ["7"], "steps": ["8"], "shift": ["3.5"]
    }


def test_batch_link_is_its_first_image_and_single_picks_another():
    batch = GenerationRequest("cat", seed=100, count=4)
    first = round_trip(batch)
    assert (first.seed, first.count) == (100, 1)
    third = round_trip(batch.single(2))
    assert (third.seed, third.count) == (102, 1)


def test_build_query_normalises_the_prompt():
    request = GenerationRequest("  cat\r\non a mat  ")
    assert round_trip(request).prompt == "cat\non a mat"


def test_build_query_rejects_invalid_request():
    with pytest.raises(ValidationError) as info:
        sharelink.build_query(GenerationRequest("cat", width=1000))
    assert info.value.code == "not_multiple"


def test_build_query_rejects_a_link_too_long_to_share():
    with pytest.raises(ValidationError) as info:
        sharelink.build_query(GenerationRequest("字" * 2000))
    assert info.value.code == "link_too_long"
    assert info.value.params["limit"] == sharelink.MAX_QUERY_CHARS
    # About 880 Chinese characters still fit.
    assert round_trip(GenerationRequest("字" * 800)).prompt == "字" * 800


@pytest.mark.parametrize("params", [{}, {"__theme": "dark"}, {"view": "api"}, {"__theme": ["dark", "light"]},
                                    {"utm_source": "twitter", "fbclid": "abc"}, {"prompt": []}])
def test_plain_visit_is_none(params):
    assert sharelink.parse_query(params) is None


def test_gradio_keys_are_ignored_in_a_link():
    request = sharelink.parse_query({"prompt": "cat", "__theme": "dark", "view": "settings"})
    assert request == GenerationRequest("cat")


def test_missing_fields_take_defaults():
    assert sharelink.parse_query({"prompt": ["cat"]}) == GenerationRequest("cat")


def test_plain_strings_and_single_item_lists_both_work():
    assert sharelink.parse_query({"prompt": "cat", "seed": "9"}) == sharelink.parse_query(
        {"prompt": ["cat"], "seed": ["9"]}
    )


def test_unknown_key_is_an_error_in_a_link():
    with pytest.raises(ValidationError) as info:
        sharelink.parse_query({"prompt": "cat", "sed": "5", "count": "4"})
    assert info.value.code == "unknown_param"
    assert info.value.params["names"] == "count, sed"
    assert "prompt, width, height, seed, steps, shift" in str(info.value)


def test_repeated_key_is_an_error():
    with pytest.raises(ValidationError) as info:
        sharelink.parse_query(parse_qs("prompt=cat&seed=1&seed=2"))
    assert info.value.code == "link_repeated"
    assert info.value.params == {"name": "seed"}


def test_over_long_number_is_an_error():
    with pytest.raises(ValidationError) as info:
        sharelink.parse_query({"prompt": "cat", "shift": "1" + "0" * 400})
    assert info.value.code == "link_value_long"
    assert info.value.params["name"] == "shift"


def test_over_long_query_is_an_error():
    with pytest.raises(ValidationError) as info:
        sharelink.parse_query({"prompt": "x" * 10_000})
    assert info.value.code == "link_too_long"
    with pytest.raises(ValidationError):
        sharelink.parse_query({"__junk": "x" * 10_000, "prompt": "cat"})
    with pytest.raises(ValidationError):
        sharelink.parse_query({"prompt": ["cat"] * 100_000})


def test_over_long_prompt_is_the_request_error():
    with pytest.raises(ValidationError) as info:
        sharelink.parse_query({"prompt": "x" * 2001})
    assert info.value.code == "prompt_long"


@pytest.mark.parametrize(
    "params,code",
    [
        ({"prompt": ""}, "prompt_missing"),
        ({"prompt": "   "}, "prompt_missing"),
        ({"seed": "5"}, "prompt_missing"),
        ({"prompt": "cat", "width": "1000"}, "not_multiple"),
        ({"prompt": "cat", "width": "abc"}, "not_number"),
        ({"prompt": "cat", "width": "4096"}, "out_of_range"),
        ({"prompt": "cat", "seed": "-1"}, "out_of_range"),
        ({"prompt": "cat", "seed": "1.5"}, "not_integer"),
        ({"prompt": "cat", "steps": "nan"}, "not_integer"),
        ({"prompt": "cat", "shift": "inf"}, "out_of_range"),
        ({"prompt": "cat", "shift": "0.5"}, "out_of_range"),
        ({"prompt": "cat", "shift": ""}, "not_number"),
        ({"prompt": "bell\x07"}, "prompt_control"),
        ({"prompt": "cat", "seed": 5}, "link_value_type"),
    ],
)
def test_bad_values_are_validation_errors(params, code):
    with pytest.raises(ValidationError) as info:
        sharelink.parse_query(params)
    assert info.value.code == code


def test_tracking_keys_added_by_social_sites_do_not_break_a_link():
    from zimage.request import GenerationRequest
    from zimage.sharelink import build_query, parse_query
    from urllib.parse import parse_qs

    request = GenerationRequest("灯笼 lantern", width=864, height=1152, seed=9)
    params = parse_qs(build_query(request) + "&fbclid=abc&utm_source=x", keep_blank_values=True)
    assert parse_query(params) == request


def test_links_from_before_the_8_step_default_still_make_9_steps():
    old_link = "prompt=cat&width=1024&height=1024&seed=7&steps=9&shift=3.0"
    assert sharelink.parse_query(parse_qs(old_link)).steps == 9
    assert sharelink.parse_query(parse_qs("prompt=cat")).steps == 8
