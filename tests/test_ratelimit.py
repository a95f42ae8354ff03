from __future__ import annotations

import pytest

from zimage.errors import BusyError, ValidationError
from zimage.ratelimit import RateLimiter


def test_limit_per_client_and_window():
    limiter = RateLimiter.parse("2/10")
    limiter.check("a", now=0)
    limiter.check("a", now=1)
    with pytest.raises(BusyError, match="Try again in 9 s") as caught:
        limiter.check("a", now=1)
    assert caught.value.code == "rate_limited"
    limiter.check("b", now=1)  # other clients are not affected
    limiter.check("a", now=10.5)  # the window slid past the first run


def test_off_by_default():
    limiter = RateLimiter.parse("")
    assert not limiter.enabled
    for _ in range(100):
        limiter.check("a")


@pytest.mark.parametrize("spec", ["abc", "5/0", "-1/10", "5/x"])
def test_bad_spec_is_a_clear_error(spec):
    with pytest.raises(ValidationError):
        RateLimiter.parse(spec)
