"""The size picker offers exactly the official demo's 33 sizes, and a request's size maps back to them."""

from fractions import Fraction

import pytest

from zimage import sizes
from zimage.errors import ValidationError
from zimage.request import MAX_SIDE, MIN_SIDE, SIDE_MULTIPLE, check_side

RATIOS = ["1:1", "9:7", "7:9", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9", "9:21"]
OFFICIAL = {
    1024: "1024x1024 1152x896 896x1152 1152x864 864x1152 1248x832 832x1248 1280x720 720x1280 1344x576 576x1344",
    1280: "1280x1280 1440x1120 1120x1440 1472x1104 1104x1472 1536x1024 1024x1536 1536x864 864x1536 1680x720 720x1680",
    1536: "1536x1536 1728x1344 1344x1728 1728x1296 1296x1728 1872x1248 1248x1872 2048x1152 1152x2048 2016x864 864x2016",
}


def all_options():
    return [option for tier in sizes.tiers() for option in sizes.sizes(tier)]


def test_tiers_are_the_demo_categories():
    assert sizes.tiers() == [1024, 1280, 1536]
    assert sizes.DEFAULT_TIER in sizes.tiers()


@pytest.mark.parametrize("tier", sorted(OFFICIAL))
def test_each_tier_lists_the_official_sizes_in_order(tier):
    listed = [f"{o.width}x{o.height}" for o in sizes.sizes(tier)]
    assert listed == OFFICIAL[tier].split()
    assert [o.ratio for o in sizes.sizes(tier)] == RATIOS
    assert {o.tier for o in sizes.sizes(tier)} == {tier}


def test_thirty_three_distinct_sizes():
    pairs = [(o.width, o.height) for o in all_options()]
    assert len(pairs) == 33
    assert len(set(pairs)) == 33  # so find() is unambiguous


@pytest.mark.parametrize("option", all_options(), ids=lambda o: o.label)
def test_every_size_is_one_the_model_accepts(option):
    for side in (option.width, option.height):
        assert MIN_SIDE <= side <= MAX_SIDE
        assert side % SIDE_MULTIPLE == 0
        assert check_side("width", side) == side


@pytest.mark.parametrize("option", all_options(), ids=lambda o: o.label)
def test_ratio_label_is_exact(option):
    w, h = option.ratio.split(":")
    assert Fraction(option.width, option.height) == Fraction(int(w), int(h))


def test_labels():
    assert sizes.sizes(1024)[0].label == "1024×1024 (1:1)"
    assert sizes.sizes(1536)[7].label == "2048×1152 (16:9)"
    assert sizes.sizes(1280)[10].label == "720×1680 (9:21)"


def test_tier_as_text_from_a_radio_button():
    assert sizes.sizes("1280") == sizes.sizes(1280)


@pytest.mark.parametrize("bad", [512, 2048, 0, -1024, True, "abc", "", None, 1024.5, "1024x1024"])
def test_unknown_tier_lists_valid_tiers(bad):
    with pytest.raises(ValidationError) as info:
        sizes.sizes(bad)
    assert info.value.code == "unknown_tier"
    assert "1024, 1280, 1536" in str(info.value)
    assert info.value.params["allowed"] == "1024, 1280, 1536"


def test_find_restores_tier_and_ratio():
    found = sizes.find(864, 1536)
    assert found is not None
    assert (found.tier, found.ratio, found.label) == (1280, "9:16", "864×1536 (9:16)")
    assert sizes.find(2048, 1152).tier == 1536
    assert sizes.find(1024, 1024).tier == 1024


def test_find_every_listed_size():
    for option in all_options():
        assert sizes.find(option.width, option.height) == option


@pytest.mark.parametrize("width,height", [(1024, 1008), (2048, 2048), (1152, 1152), (256, 256)])
def test_find_custom_size_is_none(width, height):
    assert sizes.find(width, height) is None


def test_sizes_returns_a_copy():
    first = sizes.sizes(1024)
    first.clear()
    assert len(sizes.sizes(1024)) == 11
